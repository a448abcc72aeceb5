//! Sequential command round trips on one persistent connection to an in-process simulated
//! device, per protocol version: `set` sent → acknowledged (with the STATUS that follows),
//! p50 / p99 / max over N commands.
//!
//! ```text
//! cargo run --release -p tuya-local --example roundtrip -- 2000 [--json] [--devices F]
//! ```
//! With `--devices F` (a devices.json, e.g. of a `tuyactl sim` in another process, as the
//! peers are measured): its devices instead of the in-process ones.
//! With `--json`: one line per figure, `{"figure": "rtt_p50_3.3", "tool": "tuyactl", …}`, as
//! `bench/compare` collects them.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use tuya_local::{Device, DeviceConfig};
use tuya_proto::{DpId, DpValue, LocalKey, Version};
use tuya_sim::{DeviceSpec, SimOptions, Simulator};

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1000);
    let versions = [Version::V33, Version::V34, Version::V35];
    let specs: Vec<DeviceSpec> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut s = DeviceSpec::new(
                &format!("bfroundtrip{i:09}"),
                "0123456789abcdef",
                *v,
                Ipv4Addr::new(127, 61, 0, 1 + i as u8),
            );
            s.dps = [(DpId(1), DpValue::Bool(false))].into_iter().collect();
            s
        })
        .collect();
    let external = args
        .iter()
        .position(|a| a == "--devices")
        .and_then(|i| args.get(i + 1));
    let (specs, sim) = match external {
        Some(path) => {
            let file = tuya_local::DevicesFile::load(path.as_ref()).expect("devices.json");
            let specs = file
                .entries
                .iter()
                .filter_map(|e| {
                    let ip = match e.ip()? {
                        std::net::IpAddr::V4(ip) => ip,
                        std::net::IpAddr::V6(_) => return None,
                    };
                    Some(DeviceSpec::new(&e.id, e.key.as_deref()?, e.version()?, ip))
                })
                .collect();
            (specs, None)
        }
        None => {
            let sim = Simulator::start(specs.clone(), SimOptions::default())
                .await
                .expect("simulator");
            (specs, Some(sim))
        }
    };
    if !json {
        println!("{n} sequential set → ack round trips per version (ms)");
        println!("| version | p50 | p99 | max |\n|---|---|---|---|");
    }
    for s in &specs {
        let mut c = DeviceConfig::new(
            s.id.clone(),
            LocalKey::new(&s.key).unwrap(),
            (s.ip, s.port).into(),
        );
        c.version = Some(s.version);
        let d = Device::connect(c).await.expect("connect");
        let mut times = Vec::with_capacity(n);
        for i in 0..n {
            let t = Instant::now();
            d.set_dp(DpId(1), i % 2 == 0).await.expect("set");
            times.push(t.elapsed());
        }
        times.sort();
        if json {
            for (p, q) in [("p50", 0.5), ("p99", 0.99)] {
                println!(
                    "{}",
                    serde_json::json!({"figure": format!("rtt_{p}_{}", s.version), "tool": "tuyactl",
                        "value": pct(&times, q), "unit": "ms", "n": n})
                );
            }
            continue;
        }
        println!(
            "| {} | {:.3} | {:.3} | {:.3} |",
            s.version,
            pct(&times, 0.5),
            pct(&times, 0.99),
            pct(&times, 1.0)
        );
    }
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
}
