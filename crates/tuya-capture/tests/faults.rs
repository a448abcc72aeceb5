//! Imperfect captures: reordering, retransmission, loss, snap-length cuts, files cut short,
//! other link types and formats, IPv6, discovery datagrams, and arbitrary bytes.

mod common;

use std::net::SocketAddr;

use common::*;
use proptest::prelude::*;
use tuya_capture::synth::{udp_packet, CaptureWriter, Format, Link};
use tuya_capture::{
    decode_capture, CaptureError, Direction, Event, KeyStore, Problem, Record, Summary,
};
use tuya_proto::discovery::{encode_announcement, encode_devinfo_request, Announcement};
use tuya_proto::payload::{self, Target};
use tuya_proto::{Codec, Command, LocalKey, Message, Role, Version};

fn keys(ip: &str) -> KeyStore {
    KeyStore::from_devices_json(&devices_json(&[("Lamp", "devid0001", ip, None)]))
        .unwrap()
        .0
}

fn decode(bytes: &[u8], keys: KeyStore) -> (Vec<Record>, Summary) {
    let mut recs = Vec::new();
    let s = decode_capture(bytes, keys, |r| recs.push(r)).unwrap();
    (recs, s)
}

fn frames(recs: &[Record]) -> Vec<(Direction, u32, u32, Vec<u8>)> {
    recs.iter()
        .filter_map(|r| match &r.event {
            Event::Frame(m) => Some((r.direction, m.seq, u32::from(m.cmd), m.payload.clone())),
            _ => None,
        })
        .collect()
}

fn sent(ex: &Exchange) -> Vec<(Direction, u32, u32, Vec<u8>)> {
    ex.log
        .sent
        .iter()
        .map(|(c, m)| {
            let d = if *c {
                Direction::ClientToDevice
            } else {
                Direction::DeviceToClient
            };
            (d, m.seq, u32::from(m.cmd), m.payload.clone())
        })
        .collect()
}

/// Per-direction order is what TCP guarantees; compare each direction separately.
fn same_per_direction(a: &[(Direction, u32, u32, Vec<u8>)], b: &[(Direction, u32, u32, Vec<u8>)]) {
    for d in [Direction::ClientToDevice, Direction::DeviceToClient] {
        let x: Vec<_> = a.iter().filter(|f| f.0 == d).collect();
        let y: Vec<_> = b.iter().filter(|f| f.0 == d).collect();
        assert_eq!(x, y, "{d:?}");
    }
}

/// A heartbeat from the client under the negotiated session key, for appending.
fn extra_heartbeat(ex: &Exchange, version: Version) -> Vec<u8> {
    let mut c = Codec::with_entropy(
        version,
        LocalKey::new(KEY).unwrap(),
        Role::Client,
        test_rng(),
    );
    if let Some(k) = ex.session_key {
        c.set_session_key(k);
    }
    let t = Target {
        version,
        dev_id: "devid0001",
        cid: None,
        t: 1,
    };
    let (cmd, body) = payload::heartbeat(&t);
    c.encode(&Message::request(version, 99, cmd, body)).unwrap()
}

#[test]
fn reordered_retransmitted_and_cut_last_packet_pcapng_linux_cooked() {
    let ex = run_exchange(Version::V34, "127.0.66.1", "devid0001");
    let mut conv = tuya_capture::synth::TcpConversation::new(ex.client, ex.device);
    let mut pkts = conv.open();
    for (c, b) in &ex.log.chunks {
        pkts.push(conv.send(*c, b));
    }
    // Swap the two halves of the first data-frame after negotiation (same direction, adjacent).
    let n = pkts.len();
    let swap_at = 3 + 6; // handshake (3) + START, RESP, FINISH as two chunks each
    pkts.swap(swap_at, swap_at + 1);
    // Retransmit an early segment late.
    pkts.insert(n - 1, pkts[4].clone());
    // A last frame whose packet the snap length cut.
    let hb = extra_heartbeat(&ex, Version::V34);
    let last = conv.send(true, &hb);
    let mut w = CaptureWriter::new(Format::PcapNg, Link::LinuxSll);
    for (i, p) in pkts.iter().enumerate() {
        w.packet(ts(i), p);
    }
    w.packet_cut(ts(99), &last, 16 + 20 + 20 + 30);
    let (recs, summary) = decode(&w.into_bytes(), keys("127.0.66.1"));
    same_per_direction(&frames(&recs), &sent(&ex));
    assert!(summary.retransmitted_segments >= 1, "{summary:?}");
    let fails: Vec<_> = recs
        .iter()
        .filter_map(|r| match &r.event {
            Event::Failed(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(fails, vec![Problem::Incomplete { have: 30 }]);
    assert_eq!(summary.failures["incomplete"].count, 1);
    assert_eq!(summary.sessions_negotiated, 1);
}

#[test]
fn ipv6_over_bsd_loopback_and_sll2_and_raw() {
    let ex = run_exchange(Version::V35, "127.0.66.2", "devid0001");
    let client: SocketAddr = "[::1]:50123".parse().unwrap();
    let device: SocketAddr = "[::1]:6668".parse().unwrap();
    for (format, link) in [
        (Format::Pcap, Link::Null),
        (Format::PcapNg, Link::LinuxSll2),
        (Format::Pcap, Link::Raw),
    ] {
        let mut w = CaptureWriter::new(format, link);
        for (i, p) in packets(&ex, client, device).iter().enumerate() {
            w.packet(ts(i), p);
        }
        let ks = KeyStore::from_devices_json(&devices_json(&[(
            "Lamp",
            "devid0001",
            "::1",
            Some("3.5"),
        )]))
        .unwrap()
        .0;
        let (recs, summary) = decode(&w.into_bytes(), ks);
        same_per_direction(&frames(&recs), &sent(&ex));
        assert_eq!(summary.failed, 0, "{link:?}: {summary:?}");
        assert_eq!(recs[0].src, client);
        // The first frame is complete with its second segment, packet 4.
        assert_eq!(recs[0].time.secs, 1_700_000_004);
        assert_eq!(recs[0].time.nanos, 250_000_000);
    }
    // IPv4 over SLL2 and Null as well.
    for link in [Link::LinuxSll2, Link::Null] {
        let (recs, s) = decode(&capture(&ex, Format::Pcap, link), keys("127.0.66.2"));
        same_per_direction(&frames(&recs), &sent(&ex));
        assert_eq!(s.failed, 0);
    }
}

#[test]
fn a_lost_segment_is_a_gap_and_decoding_resumes() {
    let ex = run_exchange(Version::V33, "127.0.66.3", "devid0001");
    let mut pkts = packets(&ex, ex.client, ex.device);
    // Drop the second half of the client's first frame (its query).
    let lost = pkts.remove(4);
    assert!(lost.len() > 40);
    let mut w = CaptureWriter::new(Format::Pcap, Link::Ethernet);
    for (i, p) in pkts.iter().enumerate() {
        w.packet(ts(i), p);
    }
    let (recs, summary) = decode(&w.into_bytes(), keys("127.0.66.3"));
    let mut want = sent(&ex);
    want.remove(0); // the query never arrives whole
    same_per_direction(&frames(&recs), &want);
    assert_eq!(summary.failures["gap"].count, 1, "{summary:?}");
}

#[test]
fn a_file_cut_mid_record_keeps_what_came_before() {
    let ex = run_exchange(Version::V33, "127.0.66.4", "devid0001");
    let bytes = capture(&ex, Format::Pcap, Link::Ethernet);
    let cut = &bytes[..bytes.len() - 30];
    let (recs, summary) = decode(cut, keys("127.0.66.4"));
    assert!(summary.file_truncated);
    assert_eq!(frames(&recs), sent(&ex)[..frames(&recs).len()].to_vec());
    assert!(frames(&recs).len() >= sent(&ex).len() - 1);
}

#[test]
fn discovery_datagrams_decode_without_keys() {
    let mut w = CaptureWriter::new(Format::PcapNg, Link::Ethernet);
    let dev: SocketAddr = "127.0.66.5:40000".parse().unwrap();
    for (i, (v, port)) in [
        (Version::V31, 6666),
        (Version::V33, 6667),
        (Version::V35, 6667),
    ]
    .into_iter()
    .enumerate()
    {
        let a = Announcement {
            ip: "127.0.66.5".into(),
            gw_id: "devid0001".into(),
            version: Some(v.as_str().into()),
            ..Default::default()
        };
        let bcast: SocketAddr = format!("127.0.66.255:{port}").parse().unwrap();
        w.packet(
            ts(i),
            &udp_packet(dev, bcast, &encode_announcement(&a, v, [7; 12])),
        );
    }
    let app: SocketAddr = "127.0.66.6:40001".parse().unwrap();
    let req = encode_devinfo_request("127.0.66.6", [1; 12]);
    w.packet(
        ts(5),
        &udp_packet(app, "127.0.66.5:7000".parse().unwrap(), &req),
    );
    w.packet(
        ts(6),
        &udp_packet(
            app,
            "127.0.66.5:6667".parse().unwrap(),
            b"\x00\x00\x55\xaajunk",
        ),
    );
    let (recs, summary) = decode(&w.into_bytes(), keys("127.0.66.5"));
    assert_eq!(recs.len(), 5);
    for (r, v) in recs.iter().zip(["3.1", "3.3", "3.5"]) {
        assert_eq!(r.direction, Direction::Udp);
        assert_eq!(r.device.as_ref().unwrap().name, "Lamp");
        assert_eq!(r.version.unwrap().as_str(), v);
        assert!(
            matches!(&r.event, Event::Discovery(d) if d.announcement().unwrap().gw_id == "devid0001")
        );
    }
    assert!(matches!(&recs[3].event, Event::Discovery(d) if d.cmd == Command::ReqDevInfo));
    assert!(matches!(&recs[4].event, Event::Failed(_)));
    assert_eq!((summary.decoded, summary.failed), (4, 1));
}

#[test]
fn files_that_are_not_captures_are_errors() {
    assert_eq!(
        decode_capture(&b""[..], KeyStore::empty(), |_| {}).unwrap_err(),
        CaptureError::Empty
    );
    let e = decode_capture(
        &b"this is a text file, not a capture"[..],
        KeyStore::empty(),
        |_| {},
    )
    .unwrap_err();
    assert_eq!(e, CaptureError::NotACapture);
}

#[test]
fn many_connections_stay_bounded() {
    let mut w = CaptureWriter::new(Format::Pcap, Link::Raw);
    let n = tuya_capture::MAX_FLOWS + 50;
    for i in 0..n {
        let client: SocketAddr = format!("127.0.8.1:{}", 10000 + i).parse().unwrap();
        let mut c =
            tuya_capture::synth::TcpConversation::new(client, "127.0.8.2:6668".parse().unwrap());
        w.packet(ts(i), &c.send(true, b"\x00\x00\x55\xaa\x00\x00"));
    }
    let mut dec = tuya_capture::CaptureDecoder::new(KeyStore::empty());
    let bytes = w.into_bytes();
    let mut r = tuya_capture::PacketReader::new(&bytes[..]).unwrap();
    let mut max_open = 0;
    let mut incomplete = 0;
    while let Some(p) = r.next_packet().unwrap() {
        dec.packet(&p, &mut |rec| {
            incomplete += usize::from(matches!(
                rec.event,
                Event::Failed(Problem::Incomplete { .. })
            ))
        });
        max_open = max_open.max(dec.open_flows());
    }
    let s = dec.finish(&mut |rec| {
        incomplete += usize::from(matches!(
            rec.event,
            Event::Failed(Problem::Incomplete { .. })
        ))
    });
    assert_eq!(max_open, tuya_capture::MAX_FLOWS);
    assert_eq!(s.evicted_flows, 50);
    assert_eq!(incomplete, n);
}

fn valid_capture() -> Vec<u8> {
    static CAP: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    CAP.get_or_init(|| {
        let ex = run_exchange(Version::V34, "127.0.66.9", "devid0001");
        capture(&ex, Format::PcapNg, Link::Ethernet)
    })
    .clone()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_capture(&bytes[..], keys("127.0.66.9"), |_| {});
    }

    #[test]
    fn arbitrary_packets_after_a_valid_header_never_panic(
        link in prop::sample::select(vec![0u32, 1, 101, 108, 113, 276, 228, 229]),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut bytes = CaptureWriter::new(Format::Pcap, Link::Raw).into_bytes();
        bytes[20..24].copy_from_slice(&link.to_le_bytes());
        bytes.extend(&body);
        let _ = decode_capture(&bytes[..], keys("127.0.66.9"), |_| {});
    }

    #[test]
    fn mutated_real_captures_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = valid_capture();
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] ^= b;
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep.max(bytes.len() / 2));
        let _ = decode_capture(&bytes[..], keys("127.0.66.9"), |_| {});
    }
}

#[test]
fn a_capture_started_after_negotiation_names_the_cause_and_a_given_session_key_decodes_it() {
    let ex = run_exchange(Version::V34, "127.0.66.10", "devid0001");
    // Leave out the negotiation (the first three frames, two chunks each).
    let mut conv = tuya_capture::synth::TcpConversation::new(ex.client, ex.device);
    let mut w = CaptureWriter::new(Format::Pcap, Link::Ethernet);
    for (i, (c, b)) in ex.log.chunks.iter().enumerate() {
        let p = conv.send(*c, b);
        if i >= 6 {
            w.packet(ts(i), &p);
        }
    }
    let bytes = w.into_bytes();
    let ks = KeyStore::from_devices_json(&devices_json(&[(
        "Lamp",
        "devid0001",
        "127.0.66.10",
        Some("3.4"),
    )]))
    .unwrap()
    .0;
    let (recs, summary) = decode(&bytes, ks.clone());
    assert_eq!(summary.decoded, 0);
    assert_eq!(
        summary.failures["no_session_key"].count as usize,
        ex.log.sent.len() - 3
    );
    assert!(summary.failures["no_session_key"]
        .example
        .contains("capture from before the app connects"));
    assert_eq!(recs[0].device.as_ref().unwrap().name, "Lamp");

    let (recs, summary) = decode(&bytes, ks.with_session_key(ex.session_key.unwrap()));
    assert_eq!(summary.failed, 0);
    same_per_direction(&frames(&recs), &sent(&ex)[3..]);
}

#[test]
fn other_ports_are_skipped_unless_asked_for() {
    let ex = run_exchange(Version::V33, "127.0.66.11", "devid0001");
    let device: SocketAddr = "127.0.66.11:7777".parse().unwrap();
    let mut w = CaptureWriter::new(Format::Pcap, Link::Ethernet);
    for (i, p) in packets(&ex, ex.client, device).iter().enumerate() {
        w.packet(ts(i), p);
    }
    let bytes = w.into_bytes();
    let (recs, summary) = decode(&bytes, keys("127.0.66.11"));
    assert!(recs.is_empty());
    assert_eq!(summary.skipped_packets, summary.packets);
    for ports in [vec![7777], vec![]] {
        let mut recs = Vec::new();
        let dec = tuya_capture::CaptureDecoder::new(keys("127.0.66.11")).with_device_ports(ports);
        let s = tuya_capture::decode_with(&bytes[..], dec, |r| recs.push(r)).unwrap();
        assert_eq!(s.failed, 0);
        // Roles come from the port, or from the SYN: replies still carry their return code.
        same_per_direction(&frames(&recs), &sent(&ex));
        assert!(recs
            .iter()
            .any(|r| matches!(&r.event, Event::Frame(m) if m.retcode == Some(0))));
    }
}

#[test]
fn a_reused_port_starts_a_new_connection() {
    let a = run_exchange(Version::V35, "127.0.66.12", "devid0001");
    let b = run_exchange(Version::V35, "127.0.66.12", "devid0001");
    let client: SocketAddr = "127.0.66.13:40000".parse().unwrap();
    let mut w = CaptureWriter::new(Format::Pcap, Link::Ethernet);
    let mut i = 0;
    for ex in [&a, &b] {
        let mut conv = tuya_capture::synth::TcpConversation::new(client, ex.device);
        conv.next = [0x1000 * (i as u32 + 1), 0x9000_0000 + i as u32];
        let mut pkts = conv.open();
        for (c, bytes) in &ex.log.chunks {
            pkts.push(conv.send(*c, bytes));
        }
        // No FIN: the capture missed it.
        for p in pkts {
            w.packet(ts(i), &p);
            i += 1;
        }
    }
    let (recs, summary) = decode(&w.into_bytes(), keys("127.0.66.12"));
    assert_eq!(summary.failed, 0, "{summary:?}");
    assert_eq!(summary.tcp_flows, 2);
    assert_eq!(summary.sessions_negotiated, 2);
    let mut want = sent(&a);
    want.extend(sent(&b));
    same_per_direction(&frames(&recs), &want);
}

/// A deterministic, per-codec-distinct entropy source for tests.
fn test_rng() -> rand::rngs::StdRng {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    rand::SeedableRng::seed_from_u64(N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}
