//! Faults injected by the simulator: the client recovers or reports the right error; no panic,
//! no hang.

mod common;

use std::time::Duration;

use common::*;
use tuya_local::{Device, Error, Event};
use tuya_proto::{DpId, DpValue, Version};
use tuya_sim::Faults;

#[tokio::test]
async fn delayed_replies_are_waited_for() {
    bounded(async {
        let mut spec = plug("slow", Version::V35, ip(20, 1));
        spec.faults.delay = Some(Duration::from_millis(200));
        let sim = start(vec![spec.clone()]).await;
        let d = Device::connect(config(&spec, Some(Version::V35)))
            .await
            .unwrap();
        let st = d.set_dp(DpId(2), 33).await.unwrap();
        assert_eq!(st[&DpId(2)], DpValue::Integer(33));
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn dropped_replies_fail_requests_but_never_hang() {
    bounded(async {
        let spec = plug("lossy", Version::V33, ip(21, 1));
        let sim = start(vec![spec.clone()]).await;
        let mut c = config(&spec, Some(Version::V33));
        // Long enough that a loaded machine never turns the CRC failure into a timeout.
        c.request_timeout = Duration::from_secs(3);
        let d = Device::connect(c).await.unwrap();
        sim.device("lossy").unwrap().set_faults(Faults {
            drop_ratio: 0.4,
            ..Faults::default()
        });
        let (mut ok, mut failed) = (0, 0);
        for _ in 0..20 {
            match d.status().await {
                Ok(st) => {
                    assert_eq!(st[&DpId(2)], DpValue::Integer(10));
                    ok += 1;
                }
                Err(e) => {
                    assert!(
                        matches!(
                            e,
                            Error::Timeout(_) | Error::Offline(_) | Error::ConnectionLost(_)
                        ),
                        "{e}"
                    );
                    failed += 1;
                }
            }
        }
        assert!(ok > 0, "some requests succeed ({failed} failed)");
        sim.device("lossy").unwrap().set_faults(Faults::default());
        assert!(d.status().await.is_ok());
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn closed_connections_are_reopened_and_queued_commands_served() {
    bounded(async {
        let mut spec = plug("flaky", Version::V34, ip(22, 1));
        spec.faults.close_after_frames = Some(4);
        let sim = start(vec![spec.clone()]).await;
        let d = Device::connect(config(&spec, Some(Version::V34)))
            .await
            .unwrap();
        let mut ev = d.subscribe();
        for i in 0..6 {
            let st = d.set_dp(DpId(2), i).await.unwrap();
            assert_eq!(st[&DpId(2)], DpValue::Integer(i));
        }
        wait_for(&mut ev, |e| matches!(e, Event::Disconnected { .. })).await;
        wait_for(&mut ev, |e| matches!(e, Event::Connected { .. })).await;
        let simdev = sim.device("flaky").unwrap();
        assert!(simdev.connections_accepted() >= 2);
        assert_eq!(simdev.dps()[&DpId(2)], DpValue::Integer(5));
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn reset_mid_request_fails_the_set_with_a_reason_then_recovers() {
    bounded(async {
        let spec = plug("reset", Version::V33, ip(23, 1));
        let sim = start(vec![spec.clone()]).await;
        let d = Device::connect(config(&spec, Some(Version::V33)))
            .await
            .unwrap();
        let simdev = sim.device("reset").unwrap();
        simdev.set_faults(Faults {
            delay: Some(Duration::from_millis(400)),
            ..Faults::default()
        });
        let d2 = d.clone();
        let pending = tokio::spawn(async move { d2.set_dp(DpId(1), true).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        simdev.close_client();
        match pending.await.unwrap() {
            Ok(_) => {} // the ack raced the close: fine
            Err(e) => assert!(
                matches!(&e, Error::ConnectionLost(t) if t.contains("may or may not")),
                "{e}"
            ),
        }
        simdev.set_faults(Faults::default());
        let st = d.set_dp(DpId(2), 61).await.unwrap();
        assert_eq!(st[&DpId(2)], DpValue::Integer(61));
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn garbage_between_frames_is_skipped() {
    bounded(async {
        let specs: Vec<_> = [Version::V31, Version::V33, Version::V34, Version::V35]
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let mut s = plug(&format!("garb-{i}"), *v, ip(24, i as u8 + 1));
                s.faults.garbage = true;
                s
            })
            .collect();
        let sim = start(specs.clone()).await;
        for s in &specs {
            let d = Device::connect(config(s, Some(s.version))).await.unwrap();
            assert_eq!(
                d.set_dp(DpId(2), 5).await.unwrap()[&DpId(2)],
                DpValue::Integer(5)
            );
        }
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn bad_integrity_is_reported_not_trusted() {
    bounded(async {
        let mut a = plug("crc", Version::V33, ip(25, 1));
        a.faults.bad_integrity = true;
        let mut b = plug("hmac", Version::V34, ip(25, 2));
        b.faults.bad_integrity = true;
        let mut c = plug("gcm", Version::V35, ip(25, 3));
        c.faults.bad_integrity = true;
        let sim = start(vec![a.clone(), b.clone(), c.clone()]).await;
        let e = Device::connect(config(&a, Some(Version::V33)))
            .await
            .unwrap_err();
        assert!(matches!(&e, Error::Corrupt(t) if t.contains("CRC")), "{e}");
        for s in [&b, &c] {
            let e = Device::connect(config(s, Some(s.version)))
                .await
                .unwrap_err();
            assert!(matches!(e, Error::WrongKey(_)), "{}: {e}", s.version);
        }
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn wrong_or_changed_key_is_named() {
    bounded(async {
        let specs: Vec<_> = [Version::V31, Version::V33, Version::V34, Version::V35]
            .iter()
            .enumerate()
            .map(|(i, v)| plug(&format!("key-{i}"), *v, ip(26, i as u8 + 1)))
            .collect();
        let sim = start(specs.clone()).await;
        for s in &specs {
            let mut c = config(s, Some(s.version));
            c.key = tuya_proto::LocalKey::new("fedcba9876543210").unwrap();
            let e = if s.version == Version::V31 {
                // 3.1 reads are plaintext: the key only matters for commands
                let d = Device::connect(c).await.unwrap();
                d.set_dp(DpId(1), true).await.unwrap_err()
            } else {
                Device::connect(c).await.unwrap_err()
            };
            let text = e.to_string();
            assert!(text.contains("key"), "{}: {text}", s.version);
        }
        // a device re-paired while connected: the reconnect names the key
        let s = &specs[2];
        let d = Device::connect(config(s, Some(s.version))).await.unwrap();
        let simdev = sim.device(&s.id).unwrap();
        simdev.set_local_key("fedcba9876543210");
        simdev.close_client();
        until(|| matches!(d.last_error(), Some(Error::WrongKey(_)))).await;
        let e = d.status().await.unwrap_err();
        assert!(e.to_string().contains("wrong local key"), "{e}");
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn second_client_is_told_the_device_is_busy() {
    bounded(async {
        let specs = vec![
            plug("busy33", Version::V33, ip(27, 1)),
            plug("busy35", Version::V35, ip(27, 2)),
        ];
        let sim = start(specs.clone()).await;
        for s in &specs {
            let first = Device::connect(config(s, Some(s.version))).await.unwrap();
            let e = Device::connect(config(s, Some(s.version)))
                .await
                .unwrap_err();
            assert!(matches!(e, Error::Busy(_)), "{}: {e}", s.version);
            assert!(first.status().await.is_ok());
        }
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn offline_device_fails_commands_then_comes_back() {
    bounded(async {
        let spec = plug("off", Version::V35, ip(28, 1));
        let sim = start(vec![spec.clone()]).await;
        let mut c = config(&spec, Some(Version::V35));
        c.command_deadline = Duration::from_millis(1500);
        c.heartbeat_interval = Duration::from_millis(200);
        let d = Device::connect(c).await.unwrap();
        let mut ev = d.subscribe();
        let simdev = sim.device("off").unwrap();
        simdev.set_online(false);
        wait_for(&mut ev, |e| matches!(e, Event::Disconnected { .. })).await;
        let e = d.set_dp(DpId(1), true).await.unwrap_err();
        assert!(matches!(e, Error::Offline(_)), "{e}");
        simdev.set_online(true);
        wait_for(&mut ev, |e| matches!(e, Event::Connected { .. })).await;
        assert_eq!(
            d.set_dp(DpId(1), true).await.unwrap()[&DpId(1)],
            DpValue::Bool(true)
        );
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn refused_connections_at_start_are_retried() {
    bounded(async {
        let mut spec = plug("refuse", Version::V33, ip(29, 1));
        spec.faults.refuse_for = Some(Duration::from_millis(500));
        let sim = start(vec![spec.clone()]).await;
        let e = Device::connect(config(&spec, Some(Version::V33)))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Busy(_)), "{e}");
        // a background handle keeps trying and gets there
        let d = Device::open(config(&spec, Some(Version::V33)));
        assert_eq!(d.status().await.unwrap()[&DpId(2)], DpValue::Integer(10));
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn commands_issued_while_disconnected_wait_for_the_reconnect() {
    bounded(async {
        let spec = plug("later", Version::V34, ip(30, 1));
        let sim = start(vec![spec.clone()]).await;
        let mut c = config(&spec, Some(Version::V34));
        c.heartbeat_interval = Duration::from_millis(200);
        let d = Device::connect(c).await.unwrap();
        let mut ev = d.subscribe();
        let simdev = sim.device("later").unwrap();
        simdev.set_online(false);
        wait_for(&mut ev, |e| matches!(e, Event::Disconnected { .. })).await;
        let d2 = d.clone();
        let queued = tokio::spawn(async move { d2.set_dp(DpId(2), 88).await });
        // the set is waiting, not failed
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!queued.is_finished());
        simdev.set_online(true);
        let st = queued.await.unwrap().unwrap();
        assert_eq!(st[&DpId(2)], DpValue::Integer(88));
        assert_eq!(simdev.dps()[&DpId(2)], DpValue::Integer(88));
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn concurrent_callers_share_one_connection_one_request_at_a_time() {
    bounded(async {
        let mut spec = plug("shared", Version::V35, ip(31, 1));
        // the device drops commands closer than 100 ms: only a serialised, spaced client wins
        spec.quirks.min_command_gap = Some(Duration::from_millis(100));
        let sim = start(vec![spec.clone()]).await;
        let mut c = config(&spec, Some(Version::V35));
        // Far above the device's 100 ms, so a frame delayed by a loaded machine still arrives spaced.
        c.min_command_gap = Some(Duration::from_millis(300));
        c.queue_capacity = 4; // fewer slots than callers: the rest wait to enqueue
        c.command_deadline = Duration::from_secs(20);
        let d = Device::connect(c).await.unwrap();
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let d = d.clone();
                tokio::spawn(async move { d.set_dp(DpId(2), 100 + i).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let v = sim.device("shared").unwrap().dps()[&DpId(2)].clone();
        assert!(
            matches!(v, DpValue::Integer(n) if (100..110).contains(&n)),
            "{v:?}"
        );
        assert_eq!(sim.device("shared").unwrap().connections_accepted(), 1);
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn corruption_starting_mid_session_ends_the_session_with_the_cause() {
    bounded(async {
        let spec = plug("midcrc", Version::V33, ip(32, 1));
        let sim = start(vec![spec.clone()]).await;
        let mut c = config(&spec, Some(Version::V33));
        c.heartbeat_interval = Duration::from_millis(150);
        // Long enough that a loaded machine never turns the CRC failure into a timeout.
        c.request_timeout = Duration::from_secs(3);
        let d = Device::connect(c).await.unwrap();
        let mut ev = d.subscribe();
        let simdev = sim.device("midcrc").unwrap();
        simdev.set_faults(Faults {
            bad_integrity: true,
            ..Faults::default()
        });
        let e = wait_for(&mut ev, |e| matches!(e, Event::Disconnected { .. })).await;
        assert!(format!("{e:?}").contains("CRC"), "{e:?}");
        simdev.set_faults(Faults::default());
        wait_for(&mut ev, |e| matches!(e, Event::Connected { .. })).await;
        assert!(d.status().await.is_ok());
        sim.shutdown().await;
    })
    .await
}
