//! A fleet at scale against a simulator in another process: the time until every device of a
//! devices.json is connected, the client's memory per connected device (the slope between one
//! device and all of them), its CPU while the fleet idles (heartbeats only), and commands per
//! second with one command in flight per device.
//!
//! ```text
//! ulimit -n 20000
//! target/release/tuyactl sim --fleet 5000 --base-ip 127.53.0.1 --write-devices /tmp/a.json --quiet --announce 0 &
//! target/release/tuyactl sim --fleet 5000 --base-ip 127.54.0.1 --write-devices /tmp/b.json --quiet --announce 0 &
//! cargo run --release -p tuya-local --example fleet_scale -- /tmp/a.json /tmp/b.json --idle 30 --cmds 10 [--json]
//! ```
//! Several devices.json files are one fleet (a simulator process holds two descriptors per
//! device, a listener and a connection: with a 20,000 limit, 10,000 devices take two).
//! Linux only (reads /proc/self).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tuya_local::{DevicesFile, Event, Fleet, FleetOptions, Resolve};
use tuya_proto::DpId;

/// User + system CPU seconds of this process.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

async fn until_connected(fleet: &mut Fleet, mut left: usize, limit: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + limit;
    while left > 0 {
        match tokio::time::timeout_at(deadline, fleet.next_event()).await {
            Ok(Some(e)) => {
                if let Event::Connected { .. } = e.event {
                    left -= 1;
                }
            }
            _ => break,
        }
    }
    left
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json_out = args.iter().any(|a| a == "--json");
    let idle: f64 = arg(&args, "--idle").unwrap_or(20.0);
    let cmd_secs: f64 = arg(&args, "--cmds").unwrap_or(10.0);
    let paths: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            !a.starts_with("--")
                && (*i == 0 || !["--idle", "--cmds"].contains(&args[i - 1].as_str()))
        })
        .map(|(_, a)| a)
        .collect();
    assert!(
        !paths.is_empty(),
        "usage: fleet_scale DEVICES_JSON... [--idle S] [--cmds S] [--json]"
    );
    let mut configs = Vec::new();
    for path in paths {
        let file = DevicesFile::load(path.as_ref()).expect("devices.json");
        configs.extend(
            file.entries
                .iter()
                .filter(|e| !e.is_sub())
                .map(|e| file.resolve(e).expect("usable entry").config),
        );
    }
    let n = configs.len();
    let emit = |figure: String, value: f64, unit: &str, detail: String| {
        if json_out {
            println!(
                "{}",
                json!({"figure": figure, "tool": "tuyactl", "value": value, "unit": unit,
                       "n": n, "detail": detail})
            );
        } else {
            println!("{figure}: {value:.3} {unit} ({detail})");
        }
    };
    let opts = FleetOptions::default();
    let rest = configs.split_off(1);
    let mut one = Fleet::open(configs, opts.clone());
    assert_eq!(
        until_connected(&mut one, 1, Duration::from_secs(30)).await,
        0
    );
    let rss_one = tuya_sim::resident_kib();
    let started = Instant::now();
    let mut fleet = Fleet::open(rest, opts);
    let missing = until_connected(&mut fleet, n - 1, Duration::from_secs(600)).await;
    let took = started.elapsed().as_secs_f64();
    let rss_all = tuya_sim::resident_kib();
    let connected = n - missing;
    emit(
        format!("connect_{n}"),
        took,
        "s",
        format!("{connected}/{n} connected"),
    );
    let slope = (rss_all.saturating_sub(rss_one)) as f64 / (connected.max(2) - 1) as f64;
    emit(
        format!("mem_per_device_{n}"),
        slope,
        "KiB",
        format!("RSS {rss_one} KiB with 1 device, {rss_all} KiB with {connected}"),
    );

    // Idle: heartbeats only. Events are drained so nothing queues.
    let cpu0 = cpu_secs();
    let t0 = Instant::now();
    let until = tokio::time::Instant::now() + Duration::from_secs_f64(idle);
    loop {
        let next = async {
            tokio::select! {
                e = fleet.next_event() => e,
                e = one.next_event() => e,
            }
        };
        if tokio::time::timeout_at(until, next).await.is_err() {
            break;
        }
    }
    let cpu = cpu_secs() - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    let pct_per_1000 = cpu / wall * 100.0 / (n as f64 / 1000.0);
    emit(
        "idle_cpu_per_1000".into(),
        pct_per_1000,
        "%",
        format!(
            "{cpu:.2} s CPU in {wall:.1} s for {n} devices, RSS {} KiB after",
            tuya_sim::resident_kib()
        ),
    );

    // Commands: one in flight per device, on the first 1,000.
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = tokio::time::Instant::now() + Duration::from_secs_f64(cmd_secs);
    let devices: Vec<_> = one
        .devices()
        .iter()
        .chain(fleet.devices())
        .take(1000)
        .cloned()
        .collect();
    let k = devices.len();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for d in devices {
        let (done, failed) = (done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut on = false;
            while tokio::time::Instant::now() < stop {
                on = !on;
                match d.set_dp(DpId(1), on).await {
                    Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    // Both streams drained: a full one would make its devices wait.
    let drain = async {
        loop {
            tokio::select! {
                _ = fleet.next_event() => {}
                _ = one.next_event() => {}
            }
        }
    };
    tokio::select! {
        _ = drain => {}
        _ = futures_join(tasks) => {}
    }
    let secs = t0.elapsed().as_secs_f64();
    let ok = done.load(Ordering::Relaxed);
    emit(
        format!("cmds_per_sec_{k}"),
        ok as f64 / secs,
        "cmd/s",
        format!(
            "{ok} acknowledged, {} failed, {k} devices, {secs:.1} s",
            failed.load(Ordering::Relaxed)
        ),
    );
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}
