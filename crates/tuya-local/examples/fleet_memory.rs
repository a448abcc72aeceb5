//! Rough per-device memory of connected devices: opens every device of a devices.json as a
//! [`Fleet`], waits until all are connected, and prints the resident-memory growth per device.
//!
//! ```text
//! tuyactl sim --fleet 2000 --base-ip 127.46.0.1 --write-devices /tmp/fleet.json &
//! cargo run --release -p tuya-local --example fleet_memory -- /tmp/fleet.json
//! ```
//! Linux only (reads /proc/self/status).

use std::time::Duration;

use tuya_local::{DevicesFile, Event, Fleet, FleetOptions, Resolve};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: fleet_memory DEVICES_JSON");
    let file = DevicesFile::load(path.as_ref()).expect("devices.json");
    let configs: Vec<_> = file
        .entries
        .iter()
        .filter(|e| !e.is_sub())
        .map(|e| file.resolve(e).expect("usable entry").config)
        .collect();
    let n = configs.len();
    let before = rss_kib();
    let mut fleet = Fleet::open(configs, FleetOptions::default());
    let mut connected = 0;
    while connected < n {
        match tokio::time::timeout(Duration::from_secs(60), fleet.next_event()).await {
            Ok(Some(e)) => {
                if let Event::Connected { .. } = e.event {
                    connected += 1;
                }
            }
            _ => break,
        }
    }
    // let connect-time allocations settle into the steady state
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib();
    println!(
        "{connected}/{n} connected; RSS {before} KiB -> {after} KiB: {:.1} KiB per connected device",
        (after.saturating_sub(before)) as f64 / connected.max(1) as f64
    );
    drop(fleet);
}
