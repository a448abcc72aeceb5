//! `mqtts://`: the bridge over TLS (rustls) to a Mosquitto with a certificate of its own,
//! trusted through `ca_file`; and refused when the certificate is not trusted.

mod common;

use std::time::Duration;

use common::*;
use tuya_sim::SimOptions;

#[tokio::test]
async fn the_bridge_speaks_tls_to_a_broker_it_trusts() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
        let cert_path = dir.path().join("broker.pem");
        let key_path = dir.path().join("broker.key");
        std::fs::write(&cert_path, &cert_pem).unwrap();
        std::fs::write(&key_path, &key_pem).unwrap();
        // A plain listener for the observer, a TLS one for the bridge.
        let tls = free_port();
        let broker = Broker::start_with(
            mosquitto_bin(),
            &format!(
                "listener {tls} 127.0.0.1\ncertfile {}\nkeyfile {}\n",
                cert_path.display(),
                key_path.display()
            ),
        )
        .await
        .expect("mosquitto starts");
        wait_listening(tls).await;
        let plain = broker.port;

        let specs = home(95);
        let sim = start_sim(specs.clone(), SimOptions::default()).await;
        let (_d, devices) = devices_file(&specs);
        let obs = observe(plain, "observer-tls").await;

        // Not trusted: no connection (the system roots do not know this certificate).
        let untrusted = start_bridge(bridge_config(
            &format!("mqtts://127.0.0.1:{tls}"),
            &devices,
            "untrusted",
            None,
        ));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(obs.seen.get("tuya/bridge/untrusted/status"), None);
        untrusted.stop().await;

        let mut cfg = bridge_config(&format!("mqtts://127.0.0.1:{tls}"), &devices, "tls", None);
        cfg.ca_file = Some(cert_path.clone());
        let bridge = start_bridge(cfg);
        obs.seen.wait_for("tuya/bridge/tls/status", "online").await;
        obs.seen.wait_for("tuya/plug_1/status", "online").await;
        obs.publish("tuya/plug_1/dps/1/command", "true").await;
        obs.seen.wait_for("tuya/plug_1/dps/1/state", "true").await;
        bridge.stop().await;
        sim.shutdown().await;
        drop(broker);
    })
    .await
    .expect("test exceeded its time bound");
}
