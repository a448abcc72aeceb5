//! Every firmware quirk the simulator reproduces, survived by the client.

mod common;

use std::time::Duration;

use common::*;
use tuya_local::{Device, Error, Event};
use tuya_proto::{DpId, DpValue, Version};
use tuya_sim::{MultiDp, Quirks};

const NEW: [Version; 3] = [Version::V33, Version::V34, Version::V35];

#[tokio::test]
async fn own_seq_and_seq_zero_replies_and_heartbeats() {
    bounded(async {
        let specs: Vec<_> = NEW
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let mut s = plug(&format!("seq-{i}"), *v, ip(10, i as u8 + 1));
                s.quirks = Quirks {
                    own_seq: true,
                    seq_zero_pushes: true,
                    header_counter: true,
                    ..Quirks::default()
                };
                s
            })
            .collect();
        let sim = start(specs.clone()).await;
        for (spec, v) in specs.iter().zip(NEW) {
            let mut c = config(spec, Some(v));
            c.heartbeat_interval = Duration::from_millis(100);
            let d = Device::connect(c).await.unwrap();
            let mut ev = d.subscribe();
            d.set(dps(&[(1, DpValue::Bool(true)), (2, DpValue::Integer(3))]))
                .await
                .unwrap();
            // several heartbeats answered with seq 0 keep the connection up
            tokio::time::sleep(Duration::from_millis(450)).await;
            assert!(d.is_connected(), "{v}");
            assert_eq!(
                d.status().await.unwrap()[&DpId(2)],
                DpValue::Integer(3),
                "{v}"
            );
            let simdev = sim.device(&spec.id).unwrap();
            simdev.set_dp(DpId(3), DpValue::String("scene".into()));
            wait_for(
                &mut ev,
                |e| matches!(e, Event::Update { changed, .. } if changed.contains_key(&DpId(3))),
            )
            .await;
            assert_eq!(simdev.connections_accepted(), 1, "{v}: never reconnected");
        }
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn status_without_t_and_push_only_dps_keep_last_values() {
    bounded(async {
        let mut spec = plug("pushonly", Version::V34, ip(11, 1));
        spec.dps.insert(DpId(19), DpValue::Integer(120));
        spec.quirks.status_without_t = true;
        spec.quirks.push_only_dps = vec![DpId(19)];
        let sim = start(vec![spec.clone()]).await;
        let d = Device::connect(config(&spec, None)).await.unwrap();
        assert!(!d.status().await.unwrap().contains_key(&DpId(19)));
        sim.device("pushonly")
            .unwrap()
            .set_dp(DpId(19), DpValue::Integer(240));
        until(|| d.state().get(&DpId(19)) == Some(&DpValue::Integer(240))).await;
        let st = d.status().await.unwrap();
        assert_eq!(
            st[&DpId(19)],
            DpValue::Integer(240),
            "kept after a status without it"
        );
        assert_eq!(st[&DpId(1)], DpValue::Bool(false));
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn multi_dp_rejected_or_half_applied_falls_back_to_one_at_a_time() {
    bounded(async {
        let modes = [MultiDp::Reject, MultiDp::HalfApply];
        let mut specs = Vec::new();
        for (i, m) in modes.iter().enumerate() {
            for (j, v) in [Version::V31, Version::V33, Version::V35]
                .iter()
                .enumerate()
            {
                let mut s = plug(&format!("multi-{i}-{j}"), *v, ip(12, (i * 3 + j) as u8 + 1));
                s.quirks.multi_dp = *m;
                specs.push(s);
            }
        }
        let sim = start(specs.clone()).await;
        for spec in &specs {
            let d = Device::connect(config(spec, Some(spec.version)))
                .await
                .unwrap();
            let mut ev = d.subscribe();
            let want = dps(&[
                (1, DpValue::Bool(true)),
                (2, DpValue::Integer(42)),
                (3, DpValue::String("colour".into())),
            ]);
            let st = d.set(want.clone()).await.unwrap();
            let simdev = sim.device(&spec.id).unwrap();
            for (k, v) in &want {
                assert_eq!(&simdev.dps()[k], v, "{}: DP {k} applied", spec.id);
                assert_eq!(&st[k], v, "{}: DP {k} reported", spec.id);
            }
            assert!(d.is_single_dp(), "{}", spec.id);
            let n = wait_for(&mut ev, |e| matches!(e, Event::Notice(_))).await;
            assert!(format!("{n:?}").contains("one at a time"), "{n:?}");
            // later multi-DP sets go one at a time straight away
            let st = d
                .set(dps(&[(1, DpValue::Bool(false)), (2, DpValue::Integer(7))]))
                .await
                .unwrap();
            assert_eq!(st[&DpId(2)], DpValue::Integer(7));
            assert_eq!(simdev.dps()[&DpId(1)], DpValue::Bool(false));
        }
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn min_command_gap_is_respected() {
    bounded(async {
        let mut spec = plug("gap", Version::V33, ip(13, 1));
        spec.quirks.min_command_gap = Some(Duration::from_millis(150));
        let sim = start(vec![spec.clone()]).await;
        let mut c = config(&spec, Some(Version::V33));
        // Far above the device's 150 ms: a loaded machine delaying one frame cannot close the gap.
        c.min_command_gap = Some(Duration::from_millis(400));
        let d = Device::connect(c).await.unwrap();
        for i in 0..4 {
            d.set_dp(DpId(2), i).await.unwrap();
            assert_eq!(
                sim.device("gap").unwrap().dps()[&DpId(2)],
                DpValue::Integer(i)
            );
        }
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn refresh_failure_is_reported_with_the_device_text() {
    bounded(async {
        let mut spec = plug("rf", Version::V35, ip(14, 1));
        spec.quirks.refresh_fails = true;
        let sim = start(vec![spec.clone()]).await;
        let d = Device::connect(config(&spec, Some(Version::V35)))
            .await
            .unwrap();
        let e = d.refresh(&[DpId(18)]).await.unwrap_err();
        assert!(
            matches!(&e, Error::Device(t) if t.contains("query dp failed")),
            "{e}"
        );
        // the connection is still fine
        assert_eq!(d.status().await.unwrap()[&DpId(2)], DpValue::Integer(10));
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn split_pushes_are_merged() {
    bounded(async {
        let mut spec = plug("split", Version::V34, ip(15, 1));
        spec.quirks.split_pushes = true;
        let sim = start(vec![spec.clone()]).await;
        let d = Device::connect(config(&spec, Some(Version::V34)))
            .await
            .unwrap();
        let want = dps(&[
            (1, DpValue::Bool(true)),
            (2, DpValue::Integer(99)),
            (3, DpValue::String("x".into())),
        ]);
        let st = d.set(want.clone()).await.unwrap();
        for (k, v) in &want {
            assert_eq!(&st[k], v);
        }
        assert!(
            !d.is_single_dp(),
            "two pushes for one set are not a refusal"
        );
        sim.shutdown().await;
    })
    .await
}
