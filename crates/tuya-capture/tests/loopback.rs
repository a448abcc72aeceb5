//! Captures of real loopback sessions (every version, full 3.4/3.5 negotiation with random
//! nonces) decode to exactly the messages each side sent.

mod common;

use common::*;
use tuya_capture::synth::{Format, Link};
use tuya_capture::{decode_capture, Direction, Event, KeyStore, Record};
use tuya_proto::{LocalKey, Message, Version};

fn decode(bytes: &[u8], keys: KeyStore) -> (Vec<Record>, tuya_capture::Summary) {
    let mut recs = Vec::new();
    let s = decode_capture(bytes, keys, |r| recs.push(r)).unwrap();
    (recs, s)
}

fn key_of(m: &Message) -> (u32, u32, Option<u32>, Vec<u8>) {
    (m.seq, u32::from(m.cmd), m.retcode, m.payload.clone())
}

/// Every frame in the capture matches what was sent, in order, in both directions.
fn assert_matches(ex: &Exchange, recs: &[Record], version: Version, name: &str) {
    let failures: Vec<_> = recs
        .iter()
        .filter(|r| matches!(r.event, Event::Failed(_)))
        .collect();
    assert!(failures.is_empty(), "{version}: {failures:?}");
    for from_client in [true, false] {
        let want: Vec<_> = ex
            .log
            .sent
            .iter()
            .filter(|(c, _)| *c == from_client)
            .map(|(_, m)| key_of(m))
            .collect();
        let dir = if from_client {
            Direction::ClientToDevice
        } else {
            Direction::DeviceToClient
        };
        let got: Vec<_> = recs
            .iter()
            .filter(|r| r.direction == dir)
            .filter_map(|r| match &r.event {
                Event::Frame(m) => Some(key_of(m)),
                _ => None,
            })
            .collect();
        assert_eq!(got, want, "{version} {dir:?}");
        assert!(!want.is_empty());
    }
    for r in recs {
        if let Event::Frame(m) = &r.event {
            if !m.plaintext {
                assert_eq!(r.device.as_ref().unwrap().name, name);
                assert_eq!(r.version, Some(version));
            }
            let (src, dst) = match r.direction {
                Direction::ClientToDevice => (ex.client, ex.device),
                _ => (ex.device, ex.client),
            };
            assert_eq!((r.src, r.dst), (src, dst));
        }
    }
}

#[test]
fn every_version_decodes_frame_for_frame() {
    for (i, (version, vs)) in [
        (Version::V31, "3.1"),
        (Version::V33, "3.3"),
        (Version::V34, "3.4"),
        (Version::V35, "3.5"),
    ]
    .into_iter()
    .enumerate()
    {
        let ip = format!("127.0.6.{}", 31 + i);
        let ex = run_exchange(version, &ip, "devid0001");
        let bytes = capture(&ex, Format::Pcap, Link::Ethernet);
        // With the version in devices.json, and without it (detected).
        for v in [Some(vs), None] {
            let json = devices_json(&[
                ("Other", "x", "127.0.6.99", Some("3.3")),
                ("Lamp", "devid0001", &ip, v),
            ]);
            let (keys, skipped) = KeyStore::from_devices_json(&json).unwrap();
            assert!(skipped.is_empty());
            let (recs, summary) = decode(&bytes, keys);
            assert_matches(&ex, &recs, version, "Lamp");
            let sessions: Vec<_> = recs
                .iter()
                .filter_map(|r| match &r.event {
                    Event::SessionKey(k) => Some(*k),
                    _ => None,
                })
                .collect();
            assert_eq!(sessions, ex.session_key.into_iter().collect::<Vec<_>>());
            assert_eq!(summary.failed, 0);
            assert_eq!(summary.decoded as usize, ex.log.sent.len());
            assert!(summary.devices["Lamp"].versions.contains(vs), "{summary:?}");
            assert_eq!(summary.tcp_flows, 1);
        }
    }
}

#[test]
fn a_single_key_decodes_and_a_wrong_key_names_the_cause() {
    let ex = run_exchange(Version::V34, "127.0.6.41", "devid0002");
    let bytes = capture(&ex, Format::Pcap, Link::Ethernet);
    let keys = KeyStore::single(LocalKey::new(KEY).unwrap(), None);
    let (recs, _) = decode(&bytes, keys);
    let frames = recs
        .iter()
        .filter(|r| matches!(r.event, Event::Frame(_)))
        .count();
    assert_eq!(frames, ex.log.sent.len());

    let wrong = KeyStore::single(
        LocalKey::new("ffffffffffffffff").unwrap(),
        Some(Version::V34),
    );
    let (recs, summary) = decode(&bytes, wrong);
    assert!(recs.iter().all(|r| !matches!(r.event, Event::Frame(_))));
    assert_eq!(summary.failed as usize, ex.log.sent.len());
    assert!(
        summary.failures.contains_key("hmac_mismatch"),
        "{summary:?}"
    );

    let (recs, summary) = decode(&bytes, KeyStore::empty());
    assert_eq!(summary.decoded, 0);
    assert!(recs
        .iter()
        .any(|r| matches!(&r.event, Event::Failed(p) if p.to_string().contains("no local key"))));
}

#[test]
fn a_device_whose_address_changed_is_found_by_its_key() {
    let ex = run_exchange(Version::V35, "127.0.6.51", "devid0003");
    let bytes = capture(&ex, Format::PcapNg, Link::Ethernet);
    // devices.json has a stale address for the lamp, and a decoy with another key.
    let json = devices_json(&[("Lamp", "devid0003", "127.0.6.200", None)]);
    let mut list: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    list.insert(
        0,
        serde_json::json!({"name": "Decoy", "id": "decoy", "key": "ffffffffffffffff", "ip": "127.0.6.201"}),
    );
    let (keys, _) = KeyStore::from_devices_json(&serde_json::to_string(&list).unwrap()).unwrap();
    let (recs, summary) = decode(&bytes, keys);
    assert_matches(&ex, &recs, Version::V35, "Lamp");
    assert_eq!(summary.devices.len(), 1, "{summary:?}");

    // Only the decoy: nothing decodes, and the error says which address has no entry.
    let decoy = serde_json::to_string(&list[..1]).unwrap();
    let decoy2 = decoy
        .replace("decoy\"", "decoy2\"")
        .replace("127.0.6.201", "127.0.6.202");
    let both = format!(
        "[{},{}]",
        &decoy[1..decoy.len() - 1],
        &decoy2[1..decoy2.len() - 1]
    );
    let (keys, _) = KeyStore::from_devices_json(&both).unwrap();
    let (recs, summary) = decode(&bytes, keys);
    assert_eq!(summary.decoded, 0);
    assert!(recs.iter().all(|r| r.device.is_none()));
    let msg = &summary.failures["tag_mismatch"].example;
    assert!(
        msg.contains("none of the 2 keys") && msg.contains("127.0.6.51"),
        "{msg}"
    );
}
