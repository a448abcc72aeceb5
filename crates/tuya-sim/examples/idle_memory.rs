//! Measures the simulator's idle memory per device: starts N devices (default 10,000) on
//! consecutive loopback addresses, waits until they all listen, and reports the growth of the
//! process's resident set (VmRSS from /proc/self/status) per device, counted from the start of
//! `main`: it includes the device specs and whatever the allocator keeps after start-up.
//!
//! `cargo run --release -p tuya-sim --example idle_memory -- 10000 127.0.16.1`

use std::net::Ipv4Addr;
use std::time::Duration;

use tuya_proto::Version;
use tuya_sim::{generate_fleet, raise_fd_limit, SimOptions, Simulator};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let base: Ipv4Addr = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(Ipv4Addr::new(127, 0, 16, 1));
    let before = tuya_sim::resident_kib();
    let limit = raise_fd_limit(n as u64 + 256)?;
    if limit < n as u64 + 64 {
        return Err(format!(
            "open-files limit is {limit}; run `ulimit -n {}` first",
            n + 256
        )
        .into());
    }
    let specs = generate_fleet(n, base, &Version::ALL);
    let sim = Simulator::start(specs, SimOptions::default()).await?;
    // Let every accept task reach its first poll.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = tuya_sim::resident_kib();
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / n as f64;
    println!(
        "devices={n} rss_before={before} KiB rss_after={after} KiB idle_per_device={per:.0} bytes listening={}",
        sim.devices().len()
    );
    sim.shutdown().await;
    Ok(())
}
