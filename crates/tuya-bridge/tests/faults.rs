//! The bridge through faults: the broker killed and restarted (its retained state lost), a
//! device going offline and coming back, one unreachable from the start, commands for an
//! unreachable device, and two shards sharing one broker.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::Value;
use tuya_proto::{DpId, DpValue, Version};
use tuya_sim::{Direction, SimOptions, TrafficSink};

#[tokio::test]
async fn a_broker_restart_loses_no_state_and_applies_commands_once() {
    bounded(async {
        let mut broker = broker().await;
        let specs = home(92);
        let plug = specs[0].id.clone();
        let controls = Arc::new(AtomicUsize::new(0));
        let (c2, p2) = (controls.clone(), plug.clone());
        let sink: TrafficSink = Arc::new(move |ev| {
            if ev.device == p2 && ev.dir == Direction::Rx && ev.cmd.starts_with("CONTROL") {
                c2.fetch_add(1, Ordering::Relaxed);
            }
        });
        let sim = start_sim(
            specs.clone(),
            SimOptions {
                traffic: Some(sink),
                ..SimOptions::default()
            },
        )
        .await;
        let (_dir, devices) = devices_file(&specs);
        let obs = observe(broker.port, "observer-restart").await;
        let bridge = start_bridge(bridge_config(&broker.url(), &devices, "restart", None));
        obs.seen.wait_for("tuya/plug_1/status", "online").await;
        obs.seen
            .wait_for("tuya/hall_sensor/dps/1/state", "215")
            .await;

        // The broker dies (with every retained message); meanwhile a device changes.
        broker.kill();
        sim.device(&plug)
            .unwrap()
            .set_dp(DpId(19), DpValue::Integer(777));
        tokio::time::sleep(Duration::from_millis(300)).await;
        broker.restart().await.unwrap();

        // Everything is back on the new broker: availability, info, state, and the change.
        obs.seen
            .wait_for("tuya/bridge/restart/status", "online")
            .await;
        let fresh = observe(broker.port, "observer-after").await;
        for s in HOME_SLUGS {
            fresh
                .seen
                .wait_for(&format!("tuya/{s}/status"), "online")
                .await;
            fresh
                .seen
                .wait_until(&format!("tuya/{s}/info"), |_| true)
                .await;
        }
        fresh.seen.wait_for("tuya/plug_1/dps/19/state", "777").await;
        fresh
            .seen
            .wait_for("tuya/hall_sensor/dps/1/state", "215")
            .await;

        // Subscriptions were restored: a command works, and is applied exactly once.
        let before = controls.load(Ordering::Relaxed);
        fresh.publish("tuya/plug_1/dps/1/command", "true").await;
        fresh
            .seen
            .wait_until("tuya/plug_1/result", |p| p.contains("\"ok\":true"))
            .await;
        assert_eq!(
            sim.device(&plug).unwrap().dps()[&DpId(1)],
            DpValue::Bool(true)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(controls.load(Ordering::Relaxed) - before, 1, "applied once");
        assert_eq!(fresh.seen.count("tuya/plug_1/result"), 1);
        bridge.stop().await;
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_device_going_offline_is_marked_so_and_comes_back_with_its_state() {
    bounded(async {
        let broker = broker().await;
        let specs = home(93);
        let sim = start_sim(specs.clone(), SimOptions::default()).await;
        let (_dir, devices) = devices_file(&specs);
        let obs = observe(broker.port, "observer-offline").await;
        let mut cfg = bridge_config(&broker.url(), &devices, "offline", None);
        cfg.command_timeout = Duration::from_secs(2);
        let bridge = start_bridge(cfg);
        let seen = &obs.seen;
        seen.wait_for("tuya/bulb_2/status", "online").await;
        seen.wait_for("tuya/plug_1/status", "online").await;
        let bulb = sim.device(&specs[1].id).unwrap();
        let plug_statuses = seen.count("tuya/plug_1/status");

        bulb.set_online(false);
        seen.wait_for("tuya/bulb_2/status", "offline").await;
        // A command for an unreachable device waits, then fails on result with the cause.
        obs.publish("tuya/bulb_2/dps/20/command", "false").await;
        let r = seen
            .wait_until("tuya/bulb_2/result", |p| p.contains("\"ok\":false"))
            .await;
        let r: Value = serde_json::from_str(&r).unwrap();
        assert!(
            ["offline", "busy", "timeout"].contains(&r["kind"].as_str().unwrap()),
            "{r}"
        );
        // Changed while away: the full state is published when it is back.
        bulb.set_dp(DpId(22), DpValue::Integer(123));
        bulb.set_online(true);
        seen.wait_for("tuya/bulb_2/status", "online").await;
        seen.wait_for("tuya/bulb_2/dps/22/state", "123").await;
        // Other devices were never affected.
        assert_eq!(seen.get("tuya/plug_1/status").as_deref(), Some("online"));
        assert_eq!(seen.count("tuya/plug_1/status"), plug_statuses);
        bridge.stop().await;
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_device_unreachable_at_start_gets_its_info_and_discovery_from_its_first_attempt() {
    bounded(async {
        let broker = broker().await;
        let specs = home(90);
        let sim = start_sim(specs.clone(), SimOptions::default()).await;
        let bulb = sim.device(&specs[1].id).unwrap();
        bulb.set_online(false);
        let (_dir, devices) = devices_file(&specs);
        let obs = observe(broker.port, "observer-unreachable").await;
        let bridge = start_bridge(bridge_config(&broker.url(), &devices, "late", None));
        let seen = &obs.seen;
        seen.wait_for("tuya/plug_1/status", "online").await;
        // The first attempt failed: offline, said so on info, and known to Home Assistant.
        seen.wait_for("tuya/bulb_2/status", "offline").await;
        let info = seen
            .wait_until("tuya/bulb_2/info", |p| p.contains("\"online\":false"))
            .await;
        let info: Value = serde_json::from_str(&info).unwrap();
        assert_eq!(info["bridge"], "late");
        let config = |s: &tuya_sim::DeviceSpec| format!("homeassistant/device/{}/config", s.id);
        seen.wait_until(&config(&specs[1]), |p| p.contains("\"cmps\""))
            .await;
        // Once it answers, its info follows it online.
        bulb.set_online(true);
        seen.wait_for("tuya/bulb_2/status", "online").await;
        let info = seen.get("tuya/bulb_2/info").unwrap();
        assert!(info.contains("\"online\":true"), "{info}");
        bridge.stop().await;
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn two_shards_serve_disjoint_sets_that_cover_every_device() {
    bounded(async {
        let broker = broker().await;
        let specs = tuya_sim::generate_fleet(
            12,
            "127.0.94.1".parse().unwrap(),
            &[Version::V33, Version::V34, Version::V35],
        );
        let sim = start_sim(specs.clone(), SimOptions::default()).await;
        let (_dir, devices) = devices_file(&specs);
        let obs = observe(broker.port, "observer-shards").await;
        let a = start_bridge(bridge_config(
            &broker.url(),
            &devices,
            "shard-a",
            Some("1/2"),
        ));
        let b = start_bridge(bridge_config(
            &broker.url(),
            &devices,
            "shard-b",
            Some("2/2"),
        ));
        let seen = &obs.seen;
        seen.wait_for("tuya/bridge/shard-a/status", "online").await;
        seen.wait_for("tuya/bridge/shard-b/status", "online").await;
        let slug = |s: &tuya_sim::DeviceSpec| tuya_bridge::topics::slug(Some(&s.name), &s.id);
        for s in &specs {
            seen.wait_for(&format!("tuya/{}/status", slug(s)), "online")
                .await;
        }
        // Each device's info names one bridge, and only ever one.
        let mut owner: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (t, p) in seen.log.lock().unwrap().iter() {
            if let Some(dev) = t
                .strip_prefix("tuya/")
                .and_then(|r| r.strip_suffix("/info"))
            {
                let v: Value = serde_json::from_str(p).unwrap();
                owner
                    .entry(dev.to_string())
                    .or_default()
                    .insert(v["bridge"].as_str().unwrap().to_string());
            }
        }
        assert_eq!(owner.len(), specs.len());
        assert!(owner.values().all(|b| b.len() == 1), "{owner:?}");
        let per: BTreeSet<&String> = owner.values().flatten().collect();
        assert_eq!(per.len(), 2, "both shards own devices: {owner:?}");
        // A command reaches the device through whichever shard owns it.
        let target = &specs[4];
        obs.publish(&format!("tuya/{}/dps/20/command", slug(target)), "false")
            .await;
        seen.wait_until(&format!("tuya/{}/result", slug(target)), |p| {
            p.contains("\"ok\":true")
        })
        .await;
        assert_eq!(seen.count(&format!("tuya/{}/result", slug(target))), 1);
        a.stop().await;
        b.stop().await;
        sim.shutdown().await;
    })
    .await;
}
