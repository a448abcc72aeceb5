//! The client against the simulator, every protocol version: get, set, multi-DP set, pushes,
//! refresh, auto-detection, sub-devices, device22.

mod common;

use common::*;
use tuya_local::{Device, Event};
use tuya_proto::{DpId, DpValue, Version};

#[tokio::test]
async fn get_set_push_refresh_on_every_version() {
    bounded(async {
        let specs: Vec<_> = VERSIONS
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let mut s = plug(&format!("dev-v{i}"), *v, ip(1, i as u8 + 1));
                s.dps.insert(DpId(18), DpValue::Integer(0));
                s.quirks.push_only_dps = vec![DpId(18)];
                s
            })
            .collect();
        let sim = start(specs.clone()).await;
        for (spec, v) in specs.iter().zip(VERSIONS) {
            let d = Device::connect(config(spec, Some(v))).await.unwrap();
            let mut ev = d.subscribe();
            assert_eq!(d.version(), Some(v));
            // get
            let st = d.status().await.unwrap();
            assert_eq!(st[&DpId(1)], DpValue::Bool(false), "{v}");
            assert_eq!(st[&DpId(3)], DpValue::String("white".into()), "{v}");
            if v != Version::V32 {
                // (device22 queries name the DPs; the simulator answers them all)
                assert!(!st.contains_key(&DpId(18)), "{v}: DP 18 is push-only");
            }
            // set one DP
            let st = d.set_dp(DpId(1), true).await.unwrap();
            assert_eq!(st[&DpId(1)], DpValue::Bool(true), "{v}");
            let simdev = sim.device(&spec.id).unwrap();
            assert_eq!(simdev.dps()[&DpId(1)], DpValue::Bool(true), "{v}");
            // set several
            let st = d
                .set(dps(&[(2, DpValue::Integer(55)), (3, DpValue::String("colour".into()))]))
                .await
                .unwrap();
            assert_eq!(st[&DpId(2)], DpValue::Integer(55), "{v}");
            assert_eq!(simdev.dps()[&DpId(3)], DpValue::String("colour".into()));
            assert!(!d.is_single_dp(), "{v}: a device accepting multi-DP sets keeps them");
            // a physical change arrives as a push
            simdev.set_dp(DpId(2), DpValue::Integer(77));
            let e = wait_for(&mut ev, |e| matches!(e, Event::Update { pushed: true, changed, .. } if changed.get(&DpId(2)) == Some(&DpValue::Integer(77)))).await;
            assert!(matches!(e, Event::Update { cid: None, .. }));
            assert_eq!(d.state()[&DpId(2)], DpValue::Integer(77));
            // refresh brings the push-only DP
            d.refresh(&[DpId(18)]).await.unwrap();
            until(|| d.state().get(&DpId(18)) == Some(&DpValue::Integer(0))).await;
            // a later status without DP 18 keeps its last known value
            let st = d.status().await.unwrap();
            assert_eq!(st[&DpId(18)], DpValue::Integer(0), "{v}");
            assert_eq!(d.is_device22(), v == Version::V32, "{v}");
        }
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn detects_every_version() {
    bounded(async {
        let specs: Vec<_> = VERSIONS
            .iter()
            .enumerate()
            .map(|(i, v)| plug(&format!("det-v{i}"), *v, ip(2, i as u8 + 1)))
            .collect();
        let sim = start(specs.clone()).await;
        for (spec, v) in specs.iter().zip(VERSIONS) {
            let d = Device::connect(config(spec, None)).await.unwrap();
            let found = d.version().unwrap();
            // 3.2 frames are 3.3 frames; it is found as 3.3 and then queried the device22 way.
            let expect = if v == Version::V32 { Version::V33 } else { v };
            assert_eq!(found, expect);
            assert_eq!(
                d.status().await.unwrap()[&DpId(2)],
                DpValue::Integer(10),
                "{v}"
            );
            d.set_dp(DpId(1), true).await.unwrap();
            assert_eq!(
                sim.device(&spec.id).unwrap().dps()[&DpId(1)],
                DpValue::Bool(true)
            );
        }
        // a hint is tried first
        let mut c = config(&specs[2], None);
        c.version_hint = Some(Version::V33);
        let d = Device::connect(c).await.unwrap();
        assert_eq!(d.version(), Some(Version::V33));
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn gateway_children_over_one_connection() {
    bounded(async {
        let vs = [Version::V33, Version::V34, Version::V35];
        let specs: Vec<_> = vs
            .iter()
            .enumerate()
            .map(|(i, v)| gateway(&format!("gw-{i}"), *v, ip(3, i as u8 + 1)))
            .collect();
        let sim = start(specs.clone()).await;
        for (spec, v) in specs.iter().zip(vs) {
            let gw = Device::connect(config(spec, Some(v))).await.unwrap();
            let a = gw.child("cid-a");
            let b = gw.child("cid-b");
            let mut a_ev = a.subscribe();
            let mut b_ev = b.subscribe();
            assert_eq!(
                a.status().await.unwrap()[&DpId(1)],
                DpValue::Integer(215),
                "{v}"
            );
            assert_eq!(
                b.status().await.unwrap()[&DpId(1)],
                DpValue::Bool(true),
                "{v}"
            );
            let st = b.set(dps(&[(1, DpValue::Bool(false))])).await.unwrap();
            assert_eq!(st[&DpId(1)], DpValue::Bool(false), "{v}");
            let simgw = sim.device(&spec.id).unwrap();
            assert_eq!(
                simgw.child_dps("cid-b").unwrap()[&DpId(1)],
                DpValue::Bool(false)
            );
            assert_eq!(
                simgw.child_dps("cid-a").unwrap()[&DpId(1)],
                DpValue::Integer(215)
            );
            // a physical change on A reaches A's stream, and B's stream does not see it
            simgw.set_child_dp("cid-a", DpId(1), DpValue::Integer(230));
            let e = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                loop {
                    if let Some(e @ Event::Update { pushed: true, .. }) = a_ev.recv().await {
                        return e;
                    }
                }
            })
            .await
            .unwrap();
            match e {
                Event::Update { cid, changed, .. } => {
                    assert_eq!(cid.as_deref(), Some("cid-a"));
                    assert_eq!(changed[&DpId(1)], DpValue::Integer(230));
                }
                _ => unreachable!(),
            }
            assert_eq!(a.state()[&DpId(1)], DpValue::Integer(230));
            // B saw only its own update (from the set), never A's
            while let Ok(Some(e)) =
                tokio::time::timeout(std::time::Duration::from_millis(50), b_ev.recv()).await
            {
                if let Event::Update { cid, .. } = e {
                    assert_eq!(cid.as_deref(), Some("cid-b"));
                }
            }
            // an unknown child is an error naming the device's answer
            let err = gw.child("nope").status().await.unwrap_err();
            assert!(err.to_string().contains("devid not found"), "{err}");
            assert_eq!(
                simgw.connections_accepted(),
                1,
                "{v}: one connection for all"
            );
        }
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn device22_detected_and_queried_with_control_new() {
    bounded(async {
        let mut spec = plug("d22", Version::V33, ip(4, 1));
        spec.device22 = true;
        let sim = start(vec![spec.clone()]).await;
        let d = Device::open(config(&spec, Some(Version::V33)));
        let mut ev = d.subscribe();
        let n = wait_for(&mut ev, |e| matches!(e, Event::Notice(_))).await;
        assert!(format!("{n:?}").contains("device22"), "{n:?}");
        let st = d.status().await.unwrap();
        assert!(d.is_device22());
        assert_eq!(st[&DpId(2)], DpValue::Integer(10));
        assert_eq!(st[&DpId(3)], DpValue::String("white".into()));
        d.set_dp(DpId(2), 20).await.unwrap();
        assert_eq!(
            sim.device("d22").unwrap().dps()[&DpId(2)],
            DpValue::Integer(20)
        );
        assert_eq!(d.status().await.unwrap()[&DpId(2)], DpValue::Integer(20));
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn raw_commands_get_their_reply() {
    bounded(async {
        let spec = gateway("raw-gw", Version::V35, ip(5, 1));
        let sim = start(vec![spec.clone()]).await;
        let d = Device::connect(config(&spec, Some(Version::V35)))
            .await
            .unwrap();
        let (cmd, body) = tuya_proto::payload::subdev_online_query();
        let r = d.send_raw(cmd, body).await.unwrap();
        assert_eq!(r.cmd, tuya_proto::Command::LanExtStream);
        let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        let online = v["data"]["online"].as_array().unwrap();
        assert!(
            online.iter().any(|c| c == "cid-a") && online.iter().any(|c| c == "cid-b"),
            "{v}"
        );
        sim.shutdown().await;
    })
    .await
}
