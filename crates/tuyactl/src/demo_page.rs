//! `tuyactl demo --serve`: the demo's home kept running behind the bridge's web page, with a
//! little life of its own (the kettle's power and the hallway's temperature drift) so the
//! page shows pushes arriving.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use tuya_bridge::{BridgeConfig, FileConfig};
use tuya_local::DevicesFile;
use tuya_proto::{DpId, DpValue};
use tuya_sim::{DeviceSpec, Simulator};

/// Serves the page over `sim` until Ctrl-C or SIGTERM, then stops the home.
pub async fn serve(
    sim: Simulator,
    specs: &[DeviceSpec],
    file: &DevicesFile,
    addr: SocketAddr,
) -> anyhow::Result<()> {
    // The bridge reads devices.json from a file: a private one, removed afterwards.
    let dir = std::env::temp_dir().join(format!("tuyactl-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("devices.json");
    tuya_local::merge::write_devices_file(&path, file)
        .with_context(|| format!("writing {}", path.display()))?;
    let cfg = BridgeConfig::merge(
        FileConfig::default(),
        FileConfig {
            devices: Some(path.clone()),
            http: Some(addr.to_string()),
            announcements: Some(false),
            instance: Some("demo".into()),
            ..FileConfig::default()
        },
    )?;
    println!("\nThe home keeps running with its live page: open http://{addr}/ (Ctrl-C to stop).");
    println!(
        "Switch things on the page, and watch the kettle and the hallway change by themselves."
    );
    let life = tokio::spawn(life(sim_handles(&sim, specs)));
    let result = tuya_bridge::run(cfg, crate::bridge::stop_signal()).await;
    life.abort();
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    result.map_err(|e| anyhow!("{e}"))?;
    println!("Stopped.");
    Ok(())
}

/// The plug and the gateway of the demo home, for the drift.
fn sim_handles(
    sim: &Simulator,
    specs: &[DeviceSpec],
) -> Vec<(tuya_sim::DeviceHandle, Option<String>)> {
    let mut out = Vec::new();
    if let Some(plug) = specs.get(2).and_then(|s| sim.device(&s.id)) {
        out.push((plug, None));
    }
    if let Some(gw) = specs.get(4) {
        if let (Some(h), Some(c)) = (sim.device(&gw.id), gw.children.first()) {
            out.push((h, Some(c.cid.clone())));
        }
    }
    out
}

/// Every few seconds: the kettle draws a little more or less, the hallway warms or cools.
async fn life(devices: Vec<(tuya_sim::DeviceHandle, Option<String>)>) {
    let mut tick = 0i64;
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        tick += 1;
        let wave = [0, 3, 5, 3, 0, -3, -5, -3][(tick % 8) as usize];
        for (h, cid) in &devices {
            match cid {
                None if h.dps().get(&DpId(1)) == Some(&DpValue::Bool(true)) => {
                    h.set_dp(DpId(19), DpValue::Integer(21_500 + wave * 40));
                }
                None => {}
                Some(c) => h.set_child_dp(c, DpId(1), DpValue::Integer(225 + wave)),
            }
        }
    }
}
