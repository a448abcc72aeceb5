//! A fleet: bounded ramp-up, one merged stream of events tagged with device ids.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use tuya_local::{DevicesFile, Event, Fleet, FleetOptions, Resolve};
use tuya_proto::{DpId, DpValue, Version};

#[tokio::test]
async fn fleet_connects_everything_and_tags_events() {
    bounded(async {
        let versions = [Version::V31, Version::V33, Version::V34, Version::V35];
        let specs = tuya_sim::generate_fleet(24, ip(30, 1), &versions);
        let sim = start(specs.clone()).await;
        // through devices.json, as the CLI does
        let file = DevicesFile::parse(&tuya_sim::devices_json(&specs).to_string()).unwrap();
        let configs: Vec<_> = file
            .entries
            .iter()
            .map(|e| {
                let mut c = file.resolve(e).unwrap().config;
                c.request_timeout = Duration::from_millis(1500);
                c
            })
            .collect();
        let mut fleet = Fleet::open(
            configs,
            FleetOptions {
                max_concurrent_connects: 4,
                ..FleetOptions::default()
            },
        );
        let mut connected = BTreeSet::new();
        while connected.len() < specs.len() {
            let e = fleet.next_event().await.unwrap();
            if let Event::Connected { .. } = e.event {
                assert!(
                    connected.insert(e.id.to_string()),
                    "connected twice: {}",
                    e.id
                );
            }
        }
        for s in &specs {
            let d = fleet.device(&s.id).unwrap();
            assert_eq!(d.state(), s.dps, "{}: full state read on connect", s.id);
        }
        let target = &specs[5];
        let dp = *target.dps.keys().next().unwrap();
        sim.device(&target.id)
            .unwrap()
            .set_dp(dp, DpValue::Integer(4242));
        loop {
            let e = fleet.next_event().await.unwrap();
            if let Event::Update { changed, .. } = &e.event {
                assert_eq!(&*e.id, target.id.as_str());
                assert_eq!(changed[&dp], DpValue::Integer(4242));
                break;
            }
        }
        let d = fleet.device(&specs[0].id).unwrap();
        d.set_dp(DpId(1), true).await.unwrap();
        assert_eq!(
            sim.device(&specs[0].id).unwrap().dps()[&DpId(1)],
            DpValue::Bool(true)
        );
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn a_replaced_config_reconnects_under_the_same_id() {
    bounded(async {
        // The device was re-paired: it now has a key the fleet does not know yet.
        let mut spec = plug("fleetrekey000001", Version::V34, ip(31, 1));
        let old = spec.key.clone();
        spec.key = "n3w-k3y!<&>n3w-k".into();
        let sim = start(vec![spec.clone()]).await;
        let mut stale = spec.clone();
        stale.key = old;
        let mut c = config(&stale, Some(Version::V34));
        c.reconnect_max = Duration::from_millis(200);
        let mut fleet = Fleet::open(vec![c.clone()], FleetOptions::default());
        loop {
            let e = fleet.next_event().await.unwrap();
            assert!(!matches!(e.event, Event::Connected { .. }), "{e:?}");
            if matches!(
                fleet.device(&spec.id).unwrap().last_error(),
                Some(tuya_local::Error::WrongKey(_))
            ) {
                break;
            }
        }
        c.key = tuya_proto::LocalKey::new(&spec.key).unwrap();
        assert!(fleet.replace(c.clone()));
        let mut other = c.clone();
        other.id = "not-in-the-fleet".into();
        assert!(!fleet.replace(other));
        loop {
            let e = fleet.next_event().await.unwrap();
            if let Event::Connected { version } = e.event {
                assert_eq!((&*e.id, version), (spec.id.as_str(), Version::V34));
                break;
            }
        }
        assert_eq!(fleet.device(&spec.id).unwrap().state(), spec.dps);
        drop(fleet);
        sim.shutdown().await;
    })
    .await
}
