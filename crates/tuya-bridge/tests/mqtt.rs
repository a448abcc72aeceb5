//! The bridge against a real Mosquitto and a simulated home of every version with a gateway:
//! state, commands in every form, physical changes, results, discovery, shutdown.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{json, Value};
use tuya_proto::{DpId, DpValue};
use tuya_sim::SimOptions;

#[tokio::test]
async fn a_home_on_mqtt_state_commands_pushes_discovery_and_shutdown() {
    bounded(async {
        let broker = broker().await;
        let specs = home(91);
        let sim = start_sim(specs.clone(), SimOptions::default()).await;
        let (_dir, devices) = devices_file(&specs);
        let obs = observe(broker.port, "observer-home").await;
        let bridge = start_bridge(bridge_config(&broker.url(), &devices, "home", None));
        let seen = &obs.seen;

        seen.wait_for("tuya/bridge/home/status", "online").await;
        for s in HOME_SLUGS {
            seen.wait_for(&format!("tuya/{s}/status"), "online").await;
        }
        // Every state, sub-devices included, each DP on its own topic.
        seen.wait_for("tuya/plug_1/dps/1/state", "false").await;
        seen.wait_for("tuya/plug_1/dps/20/state", "2300").await;
        seen.wait_for("tuya/bulb_2/dps/21/state", "white").await;
        seen.wait_for("tuya/cover_3/dps/1/state", "stop").await;
        seen.wait_for("tuya/hall_sensor/dps/1/state", "215").await;
        seen.wait_for("tuya/hall_switch/dps/1/state", "true").await;
        let info: Value = serde_json::from_str(&seen.get("tuya/bulb_2/info").unwrap()).unwrap();
        assert_eq!(info["version"], "3.4");
        assert_eq!(info["online"], true);

        let dev = |i: usize| sim.device(&specs[i].id).unwrap();
        // Plain text on dps/<dp>/command.
        obs.publish("tuya/plug_1/dps/1/command", "true").await;
        let r = seen
            .wait_until("tuya/plug_1/result", |p| p.contains("\"ok\":true"))
            .await;
        let r: Value = serde_json::from_str(&r).unwrap();
        assert_eq!(r["dps"]["1"], true);
        assert_eq!(dev(0).dps()[&DpId(1)], DpValue::Bool(true));
        seen.wait_for("tuya/plug_1/dps/1/state", "true").await;
        // JSON on dps/command, single and multiple.
        obs.publish("tuya/bulb_2/dps/command", r#"{"dps":22,"set":800}"#)
            .await;
        seen.wait_for("tuya/bulb_2/dps/22/state", "800").await;
        assert_eq!(dev(1).dps()[&DpId(22)], DpValue::Integer(800));
        obs.publish(
            "tuya/cover_3/dps/command",
            r#"{"multiple":true,"data":{"1":"open","2":50}}"#,
        )
        .await;
        seen.wait_for("tuya/cover_3/dps/2/state", "50").await;
        assert_eq!(dev(2).dps()[&DpId(1)], DpValue::String("open".into()));
        // Addressed by id instead of name.
        obs.publish(&format!("tuya/{}/dps/1/command", specs[3].id), "true")
            .await;
        seen.wait_for("tuya/old_plug/dps/1/state", "true").await;
        assert_eq!(dev(3).dps()[&DpId(1)], DpValue::Bool(true));
        // Sub-devices: by their own topic, and through the gateway with a cid.
        obs.publish("tuya/hall_switch/dps/1/command", "false").await;
        seen.wait_for("tuya/hall_switch/dps/1/state", "false").await;
        assert_eq!(
            dev(4).child_dps("a4c1380000000002").unwrap()[&DpId(1)],
            DpValue::Bool(false)
        );
        obs.publish(
            "tuya/hub/dps/command",
            r#"{"dps":2,"set":true,"cid":"a4c1380000000001"}"#,
        )
        .await;
        seen.wait_for("tuya/hall_sensor/dps/2/state", "true").await;
        // A physical change is published at once.
        dev(0).set_dp(DpId(19), DpValue::Integer(1234));
        seen.wait_for("tuya/plug_1/dps/19/state", "1234").await;
        let changed = seen
            .wait_until("tuya/plug_1/dps/state", |p| p.contains("1234"))
            .await;
        assert_eq!(changed, r#"{"19":1234}"#, "only what changed");
        // get-states republishes the whole state.
        seen.clear_log();
        obs.publish("tuya/plug_1/command", "get-states").await;
        let all = seen
            .wait_until("tuya/plug_1/dps/state", |p| p.contains("\"20\""))
            .await;
        let all: Value = serde_json::from_str(&all).unwrap();
        assert_eq!(all.as_object().unwrap().len(), 5);
        seen.wait_until("tuya/plug_1/dps/9/state", |_| true).await;
        // Bad commands are answered on result, with the cause.
        obs.publish("tuya/plug_1/dps/command", "on").await;
        let r = seen
            .wait_until("tuya/plug_1/result", |p| p.contains("\"ok\":false"))
            .await;
        let r: Value = serde_json::from_str(&r).unwrap();
        assert_eq!(r["kind"], "bad_command");
        assert!(r["error"].as_str().unwrap().contains("JSON"), "{r}");
        // A DP id beyond u32 in the topic is refused with the reason, not truncated or dropped.
        obs.publish("tuya/plug_1/dps/4294967297/command", "true")
            .await;
        let r = seen
            .wait_until("tuya/plug_1/result", |p| p.contains("4294967297"))
            .await;
        let r: Value = serde_json::from_str(&r).unwrap();
        assert_eq!(
            (&r["ok"], &r["kind"]),
            (&json!(false), &json!("bad_command"))
        );
        assert!(r["error"].as_str().unwrap().contains("bad DP id"), "{r}");
        // A retained command is never applied (it would be again on every reconnect).
        obs.client
            .publish(
                "tuya/cover_3/dps/2/command",
                rumqttc::QoS::AtLeastOnce,
                true,
                "75",
            )
            .await
            .unwrap();
        obs.publish("tuya/plug_1/command", "reboot").await;
        seen.wait_until("tuya/plug_1/result", |p| p.contains("get-states"))
            .await;

        // Home Assistant: one retained device config per device, unique ids across the fleet.
        let configs = seen.topics_matching(|t| t.starts_with("homeassistant/device/"));
        assert_eq!(configs.len(), HOME_SLUGS.len(), "{configs:?}");
        let mut uids = HashSet::new();
        for t in &configs {
            let c: Value = serde_json::from_str(&seen.get(t).unwrap()).unwrap();
            assert!(c["dev"]["ids"].is_array(), "{t}: {c}");
            assert_eq!(c["o"]["name"], "tuyactl");
            for (_, cmp) in c["cmps"].as_object().unwrap() {
                assert!(cmp["p"].is_string(), "{t}: {cmp}");
                let uid = cmp["unique_id"].as_str().unwrap().to_string();
                assert!(uids.insert(uid.clone()), "duplicate unique_id {uid}");
            }
        }
        // Home Assistant restarting gets the configs again.
        seen.clear_log();
        obs.publish("homeassistant/status", "online").await;
        for t in &configs {
            seen.wait_until(t, |_| true).await;
        }

        // A clean shutdown marks everything offline (retained).
        bridge.stop().await;
        seen.wait_for("tuya/bridge/home/status", "offline").await;
        for s in HOME_SLUGS {
            seen.wait_for(&format!("tuya/{s}/status"), "offline").await;
        }
        let late = observe(broker.port, "observer-late").await;
        late.seen.wait_for("tuya/plug_1/status", "offline").await;
        late.seen.wait_for("tuya/plug_1/dps/1/state", "true").await;

        // A new bridge gets the retained command replayed, and does not apply it again.
        dev(2).set_dp(DpId(2), DpValue::Integer(10));
        let again = start_bridge(bridge_config(&broker.url(), &devices, "home", None));
        late.seen.wait_for("tuya/cover_3/status", "online").await;
        late.seen.wait_for("tuya/cover_3/dps/2/state", "10").await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(dev(2).dps()[&DpId(2)], DpValue::Integer(10));
        again.stop().await;
        sim.shutdown().await;
    })
    .await;
}
