//! Seeds made of frames: the vectors' real frames, generated frames of every version and
//! role, handshakes, engine runs and captures.

use std::net::SocketAddr;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tuya_capture::synth::{CaptureWriter, Format, Link, TcpConversation};
use tuya_capture::Timestamp;
use tuya_fuzz::KEYS;
use tuya_proto::discovery::{self, Announcement};
use tuya_proto::payload::{self, Target};
use tuya_proto::session::{ClientHandshake, DeviceHandshake};
use tuya_proto::{Codec, Command, DpId, DpValue, Dps, Message, Role, Version};

use super::{add, Corpus};

/// One frame and where it came from.
pub struct Frame {
    pub label: String,
    pub bytes: Vec<u8>,
    pub version: Option<Version>,
    pub from_client: bool,
    pub udp: bool,
}

const DEV_ID: &str = "bf0123456789abcdefgh";
const CID: &str = "a4c1380000000001";
const T: u64 = 1_700_000_000;
/// The nonces of tinytuya-1.20-frames.txt's handshakes: with the first key they derive the
/// session keys of [`KEYS`]`[0]`, so generated and real 3.4/3.5 frames share them.
const CLIENT_NONCE: [u8; 16] = *b"0123456789abcdef";
const DEVICE_NONCE: [u8; 16] = *b"fedcba9876543210";

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn is_frame(b: &[u8]) -> bool {
    b.starts_with(&[0, 0, 0x55, 0xaa]) || b.starts_with(&[0, 0, 0x66, 0x99])
}

/// Every frame: the vectors', then generated ones.
pub fn all(root: &Path) -> Vec<Frame> {
    let mut out = vectors(&root.join("crates/tuya-proto/vectors"));
    for v in Version::ALL {
        out.extend(generated(v));
    }
    out
}

fn vectors(dir: &Path) -> Vec<Frame> {
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).expect("the vectors are there");
    let (mut out, mut real) = (Vec::new(), Vec::new());
    let mut push = |label: String, hex: &str, version: Option<Version>| {
        let Some(bytes) = unhex(hex.trim()).filter(|b| is_frame(b)) else {
            return;
        };
        let udp = label.to_ascii_lowercase().contains("udp");
        let from_client = label.contains("cli ") || label.contains("client");
        out.push(Frame {
            label,
            bytes,
            version,
            from_client,
            udp,
        });
    };
    for line in read("tinytuya-1.20-frames.txt").lines() {
        if let Some(f) = quoted(line) {
            real.push(f);
            continue;
        }
        if let Some((label, hex)) = line.rsplit_once(' ') {
            if hex.len() > 40 && !line.starts_with([' ', '#']) {
                let version = label.get(1..4).and_then(|v| v.parse().ok());
                push(format!("tinytuya-frames {label}"), hex, version);
            }
        }
    }
    let json: Value = serde_json::from_str(&read("tinytuya-1.20.json")).expect("JSON");
    for r in json["vectors"].as_array().expect("a list") {
        let args = r["args"].as_array().expect("args");
        let version = args
            .iter()
            .position(|a| a == "--version")
            .and_then(|i| args[i + 1].as_str()?.parse().ok());
        let name = r["name"].as_str().unwrap_or("");
        let hex = args.last().and_then(Value::as_str).unwrap_or("");
        push(format!("tinytuya-json {name}"), hex, version);
    }
    let json: Value = serde_json::from_str(&read("tuyapi-7.7.1.json")).expect("JSON");
    for r in json["vectors"].as_array().expect("a list") {
        let (Some(v), Some(name), Some(hex)) =
            (r["version"].as_str(), r["name"].as_str(), r["hex"].as_str())
        else {
            continue;
        };
        push(format!("tuyapi {v} {name} client"), hex, v.parse().ok());
    }
    out.extend(real);
    out
}

/// A real device frame quoted in a public issue, as tinytuya-1.20-frames.txt lists it:
/// `<what> (<issue>) seq S cmd C … payload b'<body>'`. These are plaintext CRC frames (a
/// return code, then text), so our encoder rebuilds them byte for byte from those fields.
fn quoted(line: &str) -> Option<Frame> {
    let (head, body) = line.split_once(" crc ok True payload b'")?;
    let (label, rest) = head.split_once(" seq ")?;
    let mut words = rest.split(' ');
    let seq: u32 = words.next()?.parse().ok()?;
    let cmd: u32 = words.nth(1)?.parse().ok()?;
    let body = python_bytes(body.strip_suffix('\'')?)?;
    let (retcode, payload) = match body.get(..4) {
        Some([0, 0, 0, rc]) => (Some(u32::from(*rc)), body[4..].to_vec()),
        _ => (None, body),
    };
    let m = Message {
        seq,
        cmd: Command::from(cmd),
        retcode,
        payload,
        header: None,
        plaintext: true,
        iv: None,
    };
    let bytes = codec(Version::V33, Role::Device, 0).encode(&m).ok()?;
    let total = rest.split(" total ").nth(1)?.split(' ').next()?;
    assert_eq!(
        total.parse().ok(),
        Some(bytes.len()),
        "{label}: the quoted size"
    );
    Some(Frame {
        label: format!("real {label}"),
        bytes,
        version: None,
        from_client: retcode.is_none(),
        udp: false,
    })
}

/// The bytes of a Python bytes literal's inside (`\xHH`, `\\`, `\'` and plain characters).
fn python_bytes(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.extend(c.to_string().bytes());
            continue;
        }
        match chars.next()? {
            'x' => {
                let h: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&h, 16).ok()?);
            }
            'n' => out.push(b'\n'),
            c => out.push(c as u8),
        }
    }
    Some(out)
}

fn codec(v: Version, role: Role, seed: u64) -> Codec {
    let mut c = Codec::with_entropy(v, KEYS[0].local_key(), role, StdRng::seed_from_u64(seed));
    if let Some(s) = KEYS[0].session(v) {
        c.set_session_key(s);
    }
    c
}

fn dps() -> Dps {
    [
        (DpId(1), DpValue::Bool(true)),
        (DpId(2), DpValue::Integer(175)),
        (DpId(3), DpValue::String("colour".into())),
        (DpId(101), DpValue::String("hello".into())),
    ]
    .into_iter()
    .collect()
}

/// What each side of a connection of `v` says: requests, replies, pushes, acks, errors and,
/// for 3.4/3.5, the handshake.
fn generated(v: Version) -> Vec<Frame> {
    let mut cli = codec(v, Role::Client, 1);
    let mut dev = codec(v, Role::Device, 2);
    let t = Target {
        version: v,
        dev_id: DEV_ID,
        cid: None,
        t: T,
    };
    let child = Target {
        cid: Some(CID),
        ..t
    };
    let mut msgs: Vec<(&str, bool, Message)> = Vec::new();
    if v.uses_session_key() {
        let key = KEYS[0].local_key();
        let mut c = ClientHandshake::new(v, key.clone(), CLIENT_NONCE, 1).expect("3.4+");
        let mut d = DeviceHandshake::new(v, key, DEVICE_NONCE).expect("3.4+");
        let start = c.start();
        let resp = d.on_start(&start).expect("START");
        let (finish, k) = c.on_response(&resp).expect("RESP");
        assert_eq!(Some(k), KEYS[0].session(v), "{v}: the vectors' session key");
        msgs.extend([
            ("start", true, start),
            ("resp", false, resp),
            ("finish", true, finish),
        ]);
    }
    let req = |(cmd, body): (Command, Vec<u8>), seq| Message::request(v, seq, cmd, body);
    let (qcmd, _) = payload::query(&t);
    let reply = |seq, cmd, body| Message::reply(v, seq, cmd, body);
    let d = dps();
    msgs.extend([
        ("query", true, req(payload::query(&t), 3)),
        ("control", true, req(payload::control(&t, &d), 4)),
        ("heartbeat", true, req(payload::heartbeat(&t), 5)),
        (
            "refresh",
            true,
            req(payload::refresh(&[DpId(18), DpId(19)]), 6),
        ),
        ("child query", true, req(payload::query(&child), 7)),
        ("child control", true, req(payload::control(&child, &d), 8)),
        ("subdev query", true, req(payload::subdev_online_query(), 9)),
        (
            "status reply",
            false,
            reply(3, qcmd, payload::status(v, DEV_ID, None, &d, None)),
        ),
        (
            "push",
            false,
            reply(
                0,
                Command::Status,
                payload::status(v, DEV_ID, None, &d, Some(T)),
            ),
        ),
        (
            "child push",
            false,
            reply(
                0,
                Command::Status,
                payload::status(v, DEV_ID, Some(CID), &d, Some(T)),
            ),
        ),
        (
            "ack",
            false,
            Message {
                plaintext: true,
                header: None,
                ..reply(4, v.control_command(), Vec::new())
            },
        ),
        (
            "heartbeat ack",
            false,
            Message {
                plaintext: true,
                header: None,
                ..reply(5, Command::HeartBeat, Vec::new())
            },
        ),
        (
            "error",
            false,
            Message::device_error(3, qcmd, "json obj data unvalid"),
        ),
    ]);
    msgs.into_iter()
        .map(|(what, from_client, m)| {
            let c = if from_client { &mut cli } else { &mut dev };
            Frame {
                label: format!("gen {v} {} {what}", if from_client { "cli" } else { "dev" }),
                bytes: c.encode(&m).expect("encodes"),
                version: Some(v),
                from_client,
                udp: false,
            }
        })
        .collect()
}

/// Each frame alone (in a chunk size that varies), and each version's conversation in one
/// stream with garbage between frames, fed byte by byte and whole.
pub fn stream(frames: &[Frame]) -> Corpus {
    let mut c = Corpus::new();
    for (i, f) in frames.iter().enumerate() {
        let mut b = vec![(i * 7 % 64) as u8];
        b.extend(&f.bytes);
        add(&mut c, &f.label, b);
    }
    let mut rng = StdRng::seed_from_u64(3);
    for v in Version::ALL {
        let mut b = Vec::new();
        for f in frames.iter().filter(|f| f.version == Some(v) && !f.udp) {
            b.extend(&f.bytes);
            let junk: Vec<u8> = (0..rng.gen_range(0..6)).map(|_| rng.gen()).collect();
            b.extend(junk);
            b.extend([0, 0, 0x55]);
        }
        for chunk in [0u8, 63] {
            add(
                &mut c,
                &format!("mixed {v} chunk {}", chunk + 1),
                [&[chunk][..], &b].concat(),
            );
        }
    }
    // The sealed form (first byte bit 6): for each key, a request and a reply of common
    // commands in every version, and two messages of any flags.
    let body = br#""dps":{"1":true,"2":175,"101":"hello"},"t":1700000000}"#;
    for ki in 0..KEYS.len() as u8 {
        let mut b = vec![0x40 | 15];
        for vi in 0..Version::ALL.len() as u8 {
            let base = ki << 4 | vi << 1;
            for (kind, cmd) in [(base, 0u8), (base, 1), (base | 0x40, 2), (base | 0x40, 4)] {
                b.extend([kind, cmd, 0, vi + 1, body.len() as u8]);
                b.extend(body);
            }
            for kind in [base | 1, base | 0xC1] {
                b.extend([kind, 9, 0x80, 0, 4, 0, 0, 0, 1]);
            }
        }
        add(&mut c, &format!("sealed key {ki}"), b);
    }
    c
}

/// The vectors' datagrams, and every kind our encoder makes.
pub fn discovery(frames: &[Frame]) -> Corpus {
    let mut c = Corpus::new();
    for f in frames.iter().filter(|f| f.udp) {
        add(&mut c, &f.label, f.bytes.clone());
    }
    for v in Version::ALL {
        add(&mut c, &format!("announce {v}"), announcement(v));
    }
    add(
        &mut c,
        "devinfo request",
        discovery::encode_devinfo_request("192.168.1.10", *b"abcdefghijkl"),
    );
    // The sealed form: a non-zero first byte picks kind and command, the rest follows `{`.
    let body = r#""ip":"192.168.1.50","gwId":"bf0123456789abcdefgh","active":2,"encrypt":true,"productKey":"keyabcdefgh12345","version":"3.3"}"#;
    for sel in [3u8, 4, 5, 13] {
        add(
            &mut c,
            &format!("sealed {sel}"),
            [&[sel][..], body.as_bytes()].concat(),
        );
    }
    let devinfo = br#""from": "app", "ip": "192.168.1.10"}"#;
    add(&mut c, "sealed devinfo", [&[14][..], devinfo].concat());
    c
}

fn announcement(v: Version) -> Vec<u8> {
    let json = serde_json::json!({
        "ip": "192.168.1.50", "gwId": DEV_ID, "active": 2, "ablilty": 0, "encrypt": true,
        "productKey": "keyabcdefgh12345", "version": v.as_str(), "token": true, "wf_cfg": true
    });
    let a: Announcement = serde_json::from_value(json).expect("an announcement");
    discovery::encode_announcement(&a, v, *b"ABCDEFGHIJKL")
}

/// Device-session runs (see the target's ops): a clean handshake then data, corruption,
/// replays and a renegotiation; forged START/FINISH; and a reconnect mid-handshake.
pub fn sessions() -> Corpus {
    let mut c = Corpus::new();
    let nonce = |n: u8| [n; 16];
    for (sel, v) in [(0u8, "3.4"), (1, "3.5")] {
        let data = |cmd: u8, body: &[u8]| [&[3, cmd, body.len() as u8][..], body].concat();
        let clean = [
            &[sel, 1][..],
            &nonce(1),
            &[2],
            &data(0, b"{}"),
            &data(1, br#"{"dps":{"1":true},"t":1700000000}"#),
            &data(2, b""),
            &[4, 0, 20, 0x40],
            &[7],
            &[1],
            &nonce(2),
            &[2],
            &data(3, br#"{"dpId":[18,19]}"#),
        ]
        .concat();
        add(
            &mut c,
            &format!("{v} handshake data corrupt replay renegotiate"),
            clean,
        );
        let forged = [
            &[sel, 1][..],
            &nonce(3),
            &[5, 1, 32],
            &[0xAB; 32],
            &[5, 0, 16],
            &nonce(4),
            &[2, 3, 0, 2],
            b"{}",
        ]
        .concat();
        add(&mut c, &format!("{v} forged finish and start"), forged);
        let reconnect = [
            &[sel, 1][..],
            &nonce(5),
            &[6, 2, 0, 8],
            b"garbage!",
            &[1],
            &nonce(6),
            &[2, 3, 1, 0],
        ]
        .concat();
        add(&mut c, &format!("{v} reconnect mid handshake"), reconnect);
    }
    c
}

/// Engine runs (see `connection`'s byte format): connect, status, set, a push, time steps
/// past heartbeats and timeouts, a disconnect; for every version and a few configurations;
/// plus random ones.
pub fn connections() -> Corpus {
    let mut c = Corpus::new();
    let serve = [3u8];
    let status = [5u8, 0, 0, 0, 0, 0];
    let set = [5u8, 1, 0, 1, 1, 0, 1, 0, 0];
    let refresh = [5u8, 2, 0, 1, 1, 1, 0, 7, 0, 0];
    let advance = |ms: u16| {
        let [hi, lo] = ((u32::from(ms) * 65_535 / 40_000) as u16).to_be_bytes();
        [4u8, hi, lo, 1]
    };
    let push = [1u8, 0, 1, 0, 0, 0, 2, 1, 5, 2, 9, 0, 7];
    let error = [1u8, 0, 0, 1, 2, 0, 0, 9];
    for (vi, v) in Version::ALL.iter().enumerate() {
        for cfg in [0u8, 1, 2, 4 | 64, 16 | 32] {
            let run = [
                &[vi as u8, cfg, 7][..],
                &serve,
                &status,
                &advance(500),
                &set,
                &advance(500),
                &push,
                &refresh,
                &advance(12_000),
                &error,
                &advance(30_000),
                &[6, 1],
                &advance(5_000),
            ]
            .concat();
            add(&mut c, &format!("{v} config {cfg}"), run);
        }
    }
    let mut rng = StdRng::seed_from_u64(4);
    for i in 0..8 {
        let b: Vec<u8> = (0..rng.gen_range(16..256)).map(|_| rng.gen()).collect();
        add(&mut c, &format!("random {i}"), b);
    }
    c
}

/// Captures of one conversation per version (3.4/3.5 with their handshake) and announcements,
/// in both file formats over each link type; and packets in the wrapped form.
pub fn captures() -> Corpus {
    let mut c = Corpus::new();
    let app: SocketAddr = "127.0.0.9:50000".parse().expect("address");
    let mut packets = Vec::new();
    for v in [Version::V31, Version::V33, Version::V34, Version::V35] {
        let dev: SocketAddr = format!("127.0.0.{}:6668", &v.as_str().replace('.', ""))
            .parse()
            .expect("address");
        let mut conv = TcpConversation::new(app, dev);
        packets.extend(conv.open());
        for f in generated(v) {
            packets.push(conv.send(f.from_client, &f.bytes));
        }
        let bcast: SocketAddr = "255.255.255.255:6667".parse().expect("address");
        let from = SocketAddr::new(dev.ip(), 40000);
        packets.push(tuya_capture::synth::udp_packet(
            from,
            bcast,
            &announcement(v),
        ));
    }
    let links = [
        Link::Ethernet,
        Link::LinuxSll,
        Link::LinuxSll2,
        Link::Null,
        Link::Raw,
    ];
    for (i, link) in links.into_iter().enumerate() {
        // Both formats over Ethernet, then one each: the link layers differ, the rest is the
        // same conversation.
        let formats = match i {
            0 => &[Format::Pcap, Format::PcapNg][..],
            _ if i % 2 == 1 => &[Format::PcapNg],
            _ => &[Format::Pcap],
        };
        for &format in formats {
            let mut w = CaptureWriter::new(format, link);
            for (n, p) in packets.iter().enumerate() {
                w.packet(
                    Timestamp {
                        secs: T as i64 + n as i64,
                        nanos: 1000,
                    },
                    p,
                );
            }
            let mode = if i % 2 == 0 { 0 } else { 2 };
            add(
                &mut c,
                &format!("{format:?} {link:?}"),
                [&[mode][..], &w.into_bytes()].concat(),
            );
        }
    }
    // Wrapped: Raw IP (LINKS[2]), each packet that fits a length byte.
    let mut b = vec![1u8, 2];
    for p in packets.iter().filter(|p| p.len() < 256) {
        b.push(p.len() as u8);
        b.extend(p);
    }
    add(&mut c, "wrapped raw ip", b);
    c
}
