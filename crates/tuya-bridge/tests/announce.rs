//! Device announcements: a device whose firmware now speaks another protocol version than
//! devices.json says is shown on its `info` topic, and the others are served as before.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use tuya_sim::SimOptions;

#[tokio::test]
async fn an_announced_version_change_is_shown_on_info() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let broker = broker().await;
        let specs = home(96);
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let sim = start_sim(
            specs.clone(),
            SimOptions {
                announce_interval: Some(Duration::from_millis(200)),
                announce_port_override: Some(port),
                ..SimOptions::default()
            },
        )
        .await;
        // devices.json still says 3.4 for the first plug, which now speaks 3.3.
        let (_d, devices) = devices_file(&specs);
        let mut list: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&devices).unwrap()).unwrap();
        list[0]["version"] = "3.4".into();
        std::fs::write(&devices, serde_json::to_vec(&list).unwrap()).unwrap();

        let obs = observe(broker.port, "observer-announce").await;
        let mut cfg = bridge_config(&broker.url(), &devices, "announce", None);
        cfg.announcements = Some(tuya_local::discovery::ListenerConfig::on(
            "127.0.0.1".parse().unwrap(),
            vec![port],
        ));
        let bridge = start_bridge(cfg);
        let info = obs
            .seen
            .wait_until("tuya/plug_1/info", |p| {
                p.contains("announced_version\":\"3.3")
            })
            .await;
        let info: Value = serde_json::from_str(&info).unwrap();
        assert_eq!(info["version_in_devices_json"], "3.4");
        assert_eq!(info["announced_ip"], specs[0].ip.to_string());
        // Everyone else is served.
        obs.seen.wait_for("tuya/bulb_2/status", "online").await;
        obs.seen.wait_for("tuya/hall_switch/status", "online").await;
        bridge.stop().await;
        sim.shutdown().await;
    })
    .await
    .expect("test exceeded its time bound");
}
