//! A re-paired device (its key changed) behind a real Mosquitto: the bridge says on `info`
//! how to fetch the new key, and with `refresh_keys` fetches it from the stored cloud login
//! (the fake app API on 127.0.0.1), writes it into devices.json and brings the device online.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use tuya_bridge::KeyRefresh;
use tuya_cloud::login::CLIENT_ID;
use tuya_cloud::store::{AppLogin, CloudConfig, Method};
use tuya_cloud::Store;
use tuya_cloud_fake::account::PLUG_KEY;
use tuya_cloud_fake::app_fake::{self, USER_CODE};
use tuya_proto::{DpId, DpValue, Version};
use tuya_sim::{DeviceSpec, SimOptions};

const STALE_KEY: &str = "0ld-key-0ld-key!";

/// The fake account's plug, served with its current key; devices.json holds the old one.
fn repaired_plug(block: u8) -> (DeviceSpec, DeviceSpec) {
    let mut now = DeviceSpec::new(
        "ebplug0000000001",
        PLUG_KEY,
        Version::V34,
        std::net::Ipv4Addr::new(127, 0, block, 1),
    );
    now.name = "Desk plug".into();
    now.dps = [(DpId(1), DpValue::Bool(true))].into_iter().collect();
    let mut listed = now.clone();
    listed.key = STALE_KEY.into();
    (now, listed)
}

fn store_login(dir: &std::path::Path, endpoint: &str) {
    let session = app_fake::session_at(endpoint, tuya_cloud_fake::server::now_ms());
    Store::at(dir)
        .save(&CloudConfig {
            method: Some(Method::App),
            app: Some(AppLogin {
                client_id: CLIENT_ID.into(),
                user_code: USER_CODE.into(),
                session,
            }),
            developer: None,
        })
        .unwrap();
}

async fn problem(obs: &Observer) -> String {
    let info = obs
        .seen
        .wait_until("tuya/desk_plug/info", |p| {
            serde_json::from_str::<Value>(p).is_ok_and(|v| v["problem"].is_string())
        })
        .await;
    let v: Value = serde_json::from_str(&info).unwrap();
    v["problem"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn without_refresh_the_info_topic_names_the_command() {
    bounded(async {
        let broker = broker().await;
        let (now, listed) = repaired_plug(97);
        let sim = start_sim(vec![now], SimOptions::default()).await;
        let (dir, devices) = devices_file(&[listed]);
        store_login(&dir.path().join("cloud"), "http://127.0.0.1:9");
        let obs = observe(broker.port, "observer-rekey-hint").await;
        let mut cfg = bridge_config(&broker.url(), &devices, "rekeyhint", None);
        cfg.cloud_config_dir = Some(dir.path().join("cloud"));
        let bridge = start_bridge(cfg);
        let p = problem(&obs).await;
        assert!(p.contains("wrong local key"), "{p}");
        assert!(p.contains("a cloud login is configured"), "{p}");
        assert!(
            p.contains(&format!(
                "tuyactl cloud devices --write {}",
                devices.display()
            )),
            "{p}"
        );
        assert!(!p.contains(STALE_KEY) && !p.contains(PLUG_KEY), "{p}");
        bridge.stop().await;
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn with_refresh_the_new_key_is_fetched_written_and_used() {
    bounded(async {
        let broker = broker().await;
        let fake = app_fake::start();
        let (now, listed) = repaired_plug(98);
        let sim = start_sim(vec![now], SimOptions::default()).await;
        let (dir, devices) = devices_file(&[listed]);
        store_login(&dir.path().join("cloud"), fake.base());
        let obs = observe(broker.port, "observer-rekey").await;
        let mut cfg = bridge_config(&broker.url(), &devices, "rekey", None);
        cfg.cloud_config_dir = Some(dir.path().join("cloud"));
        cfg.refresh_keys = Some(KeyRefresh {
            min_interval: Duration::from_secs(600),
        });
        let bridge = start_bridge(cfg);
        obs.seen.wait_for("tuya/desk_plug/status", "online").await;
        obs.seen
            .wait_for("tuya/desk_plug/dps/1/state", "true")
            .await;
        let file: Value = serde_json::from_slice(&std::fs::read(&devices).unwrap()).unwrap();
        let plug = file
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == "ebplug0000000001")
            .unwrap();
        assert_eq!(plug["key"], PLUG_KEY, "the new key is written");
        assert_eq!(plug["name"], "Desk plug");
        assert_eq!(plug["ip"], "127.0.98.1", "the address is kept");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&devices).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // One fetch of the account: every home's devices, once.
        let listings = fake
            .state
            .lock()
            .unwrap()
            .params
            .iter()
            .filter(|(p, _)| p == "/v1.0/m/life/users/homes")
            .count();
        assert_eq!(listings, 1);
        bridge.stop().await;
        sim.shutdown().await;
    })
    .await
}
