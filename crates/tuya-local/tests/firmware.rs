//! The client against the rules of real firmware (Tuya's own device SDK), each switched on
//! alone and all together: several LAN clients, strictly increasing sequence numbers, session
//! keys starting with 0x00, the pre-session frame limit, the 4 KiB frame cap, closing on a frame
//! the device cannot read, and the idle close.

mod common;

use std::time::Duration;

use common::*;
use tuya_local::{Device, Event};
use tuya_proto::{DpId, DpValue, Version};
use tuya_sim::{DeviceSpec, Firmware};

fn strict_plug(id: &str, v: Version, ip: std::net::Ipv4Addr, fw: Firmware) -> DeviceSpec {
    let mut s = plug(id, v, ip);
    s.firmware = fw;
    s
}

/// Reads, sets (one and several DPs), a push and a refresh: everything a session does.
async fn exercise(d: &Device, sim: &tuya_sim::Simulator, id: &str, what: &str) {
    let simdev = sim.device(id).unwrap();
    let mut ev = d.subscribe();
    let st = d
        .status()
        .await
        .unwrap_or_else(|e| panic!("{what}: status: {e}"));
    assert_eq!(st[&DpId(3)], DpValue::String("white".into()), "{what}");
    let st = d
        .set_dp(DpId(1), true)
        .await
        .unwrap_or_else(|e| panic!("{what}: set: {e}"));
    assert_eq!(st[&DpId(1)], DpValue::Bool(true), "{what}");
    d.set(dps(&[
        (2, DpValue::Integer(42)),
        (3, DpValue::String("colour".into())),
    ]))
    .await
    .unwrap_or_else(|e| panic!("{what}: multi-DP set: {e}"));
    assert_eq!(simdev.dps()[&DpId(2)], DpValue::Integer(42), "{what}");
    simdev.set_dp(DpId(2), DpValue::Integer(7));
    wait_for(&mut ev, |e| {
        matches!(e, Event::Update { pushed: true, changed, .. } if changed.get(&DpId(2)) == Some(&DpValue::Integer(7)))
    })
    .await;
    d.refresh(&[DpId(1)])
        .await
        .unwrap_or_else(|e| panic!("{what}: refresh: {e}"));
}

#[tokio::test]
async fn every_rule_alone_and_all_together_on_every_version() {
    bounded(async {
        let rules: Vec<(&str, Firmware)> = vec![
            (
                "strict-seq",
                Firmware {
                    strict_seq: true,
                    ..Default::default()
                },
            ),
            (
                "pre-session-limit",
                Firmware {
                    pre_session_limit: Some(3),
                    ..Default::default()
                },
            ),
            (
                "max-frame",
                Firmware {
                    max_frame: Some(4096),
                    ..Default::default()
                },
            ),
            (
                "close-on-bad-frame",
                Firmware {
                    close_on_bad_frame: true,
                    ..Default::default()
                },
            ),
            (
                "zero-key-is-no-key",
                Firmware {
                    zero_key_is_no_key: true,
                    ..Default::default()
                },
            ),
            ("strict", Firmware::strict()),
        ];
        let mut specs = Vec::new();
        for (r, (_, fw)) in rules.iter().enumerate() {
            for (i, v) in VERSIONS.iter().enumerate() {
                let id = format!("fw-{r}-{i}");
                specs.push(strict_plug(
                    &id,
                    *v,
                    ip(50, (r * 8 + i + 1) as u8),
                    fw.clone(),
                ));
            }
        }
        let sim = std::sync::Arc::new(start(specs.clone()).await);
        let mut set = tokio::task::JoinSet::new();
        for s in specs {
            let (r, _) = rules[s.id[3..4].parse::<usize>().unwrap()];
            let sim = sim.clone();
            set.spawn(async move {
                let what = format!("{r} on {}", s.version);
                // Auto-detected: probing other versions first must not upset strict firmware.
                let d = Device::connect(config(&s, None))
                    .await
                    .unwrap_or_else(|e| panic!("{what}: connect: {e}"));
                // 3.2 devices answer as 3.3, queried the device22 way.
                let expect = match s.version {
                    Version::V32 => Version::V33,
                    v => v,
                };
                assert_eq!(d.version(), Some(expect), "{what}");
                exercise(&d, &sim, &s.id, &what).await;
                assert!(d.is_connected(), "{what}: still connected");
            });
        }
        while let Some(r) = set.join_next().await {
            r.expect("device task");
        }
        let sim = std::sync::Arc::into_inner(sim).expect("every task ended");
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_session_key_starting_with_zero_is_renegotiated_on_the_same_connection() {
    bounded(async {
        let fw = Firmware {
            zero_key_is_no_key: true,
            zero_key_handshakes: 1,
            pre_session_limit: Some(3),
            ..Default::default()
        };
        let specs = vec![
            strict_plug("zk-34", Version::V34, ip(51, 1), fw.clone()),
            strict_plug("zk-35", Version::V35, ip(51, 2), fw),
        ];
        let sim = start(specs.clone()).await;
        for s in &specs {
            let d = Device::open(config(s, Some(s.version)));
            let mut ev = d.subscribe();
            let notice = wait_for(
                &mut ev,
                |e| matches!(e, Event::Notice(n) if n.contains("0x00")),
            )
            .await;
            assert!(matches!(notice, Event::Notice(_)));
            wait_for(&mut ev, |e| matches!(e, Event::Connected { .. })).await;
            let st = d.status().await.unwrap();
            assert_eq!(st[&DpId(1)], DpValue::Bool(false), "{}", s.version);
            // No timeout and no reconnect: the second handshake ran on the first connection.
            assert_eq!(
                sim.device(&s.id).unwrap().connections_accepted(),
                1,
                "{}",
                s.version
            );
        }
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn three_clients_share_a_device_that_serves_three() {
    bounded(async {
        let s = strict_plug("three", Version::V34, ip(52, 1), Firmware::strict());
        let sim = start(vec![s.clone()]).await;
        let a = Device::connect(config(&s, Some(Version::V34))).await.unwrap();
        let b = Device::connect(config(&s, Some(Version::V34))).await.unwrap();
        let c = Device::connect(config(&s, Some(Version::V34))).await.unwrap();
        let simdev = sim.device("three").unwrap();
        assert_eq!(simdev.client_count(), 3);
        let (mut ea, mut eb, mut ec) = (a.subscribe(), b.subscribe(), c.subscribe());
        a.set_dp(DpId(1), true).await.unwrap();
        for (name, ev) in [("a", &mut ea), ("b", &mut eb), ("c", &mut ec)] {
            let e = wait_for(ev, |e| matches!(e, Event::Update { changed, .. } if changed.get(&DpId(1)) == Some(&DpValue::Bool(true)))).await;
            assert!(matches!(e, Event::Update { .. }), "client {name} sees the change");
        }
        // A fourth is turned away, and told why.
        let err = Device::connect(config(&s, Some(Version::V34))).await.unwrap_err();
        assert!(matches!(err, tuya_local::Error::Busy(_)), "{err}");
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn sets_too_large_for_the_device_are_split() {
    bounded(async {
        let mut s = strict_plug("bigset", Version::V33, ip(53, 1), Firmware::strict());
        for id in 101..=110 {
            s.dps.insert(DpId(id), DpValue::String(String::new()));
        }
        let sim = start(vec![s.clone()]).await;
        let d = Device::connect(config(&s, Some(Version::V33)))
            .await
            .unwrap();
        let mut ev = d.subscribe();
        let long = "x".repeat(600);
        let want = dps(&(101..=110)
            .map(|i| (i, DpValue::String(long.clone())))
            .collect::<Vec<_>>());
        let st = d.set(want.clone()).await.unwrap();
        for (k, v) in &want {
            assert_eq!(st.get(k), Some(v));
            assert_eq!(sim.device("bigset").unwrap().dps().get(k), Some(v));
        }
        wait_for(
            &mut ev,
            |e| matches!(e, Event::Notice(n) if n.contains("4096")),
        )
        .await;
        // The connection survived: the device never saw a frame over its cap.
        assert_eq!(sim.device("bigset").unwrap().connections_accepted(), 1);
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn heartbeats_keep_strict_devices_from_closing_idle_sessions() {
    bounded(async {
        let mut s = strict_plug("idle", Version::V35, ip(54, 1), Firmware::strict());
        // The device drops a session silent for 2 s; the client beats every 200 ms (10x margin).
        s.heartbeat_timeout = Duration::from_secs(2);
        let sim = start(vec![s.clone()]).await;
        let mut cfg = config(&s, Some(Version::V35));
        cfg.heartbeat_interval = Duration::from_millis(200);
        let d = Device::connect(cfg).await.unwrap();
        let mut ev = d.subscribe();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(d.is_connected());
        assert_eq!(sim.device("idle").unwrap().connections_accepted(), 1);
        while let Ok(e) = ev.try_recv() {
            assert!(!matches!(e, Event::Disconnected { .. }), "{e:?}");
        }
        sim.shutdown().await;
    })
    .await;
}
