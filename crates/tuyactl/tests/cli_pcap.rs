//! `tuyactl decode --pcap`: runs the binary on captures and devices.json files written here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command as Proc;

use serde_json::Value;
use tuya_capture::synth::{udp_packet, CaptureWriter, Format, Link, TcpConversation};
use tuya_capture::Timestamp;
use tuya_proto::discovery::{encode_announcement, Announcement};
use tuya_proto::payload::{self, Target};
use tuya_proto::session::{ClientHandshake, DeviceHandshake};
use tuya_proto::{
    Codec, Command, DpId, DpValue, Dps, LocalKey, Message, Role, SessionKey, Version,
};

const KEY_A: &str = "0123456789abcdef";
const KEY_B: &str = "abcdef0123456789";

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli_pcap_{}_{name}", std::process::id()))
}

struct Conv {
    tcp: TcpConversation,
    client: Codec,
    device: Codec,
}

impl Conv {
    fn new(version: Version, key: &str, client: &str, device: &str) -> Self {
        let k = LocalKey::new(key).unwrap();
        Self {
            tcp: TcpConversation::new(client.parse().unwrap(), device.parse().unwrap()),
            client: Codec::with_entropy(version, k.clone(), Role::Client, test_rng()),
            device: Codec::with_entropy(version, k, Role::Device, test_rng()),
        }
    }
    fn client_sends(&mut self, m: &Message) -> Vec<u8> {
        let wire = self.client.encode(m).unwrap();
        self.tcp.send(true, &wire)
    }
    fn device_sends(&mut self, m: &Message) -> Vec<u8> {
        let wire = self.device.encode(m).unwrap();
        self.tcp.send(false, &wire)
    }
}

/// A 3.4 session with negotiation on one device and a 3.3 query on another, plus an
/// announcement; returns the capture and the negotiated session key.
fn write_capture() -> (Vec<u8>, SessionKey) {
    let mut pkts = Vec::new();
    let v = Version::V34;
    let mut a = Conv::new(v, KEY_A, "127.0.9.10:50001", "127.0.9.1:6668");
    pkts.extend(a.tcp.open());
    let k = LocalKey::new(KEY_A).unwrap();
    let mut ch = ClientHandshake::new(v, k.clone(), *b"client-nonce-16b", 1).unwrap();
    let mut dh = DeviceHandshake::new(v, k, *b"device-nonce-16b").unwrap();
    let start = ch.start();
    pkts.push(a.client_sends(&start));
    let resp = dh.on_start(&start).unwrap();
    pkts.push(a.device_sends(&resp));
    let (finish, sk) = ch.on_response(&resp).unwrap();
    pkts.push(a.client_sends(&finish));
    a.client.set_session_key(sk);
    a.device.set_session_key(dh.on_finish(&finish).unwrap());
    let t = Target {
        version: v,
        dev_id: "lamp01",
        cid: None,
        t: 1_700_000_000,
    };
    let (cmd, body) = payload::query(&t);
    pkts.push(a.client_sends(&Message::request(v, 3, cmd, body)));
    let mut dps = Dps::new();
    dps.insert(DpId(1), DpValue::Bool(true));
    let st = payload::status(v, "lamp01", None, &dps, None);
    pkts.push(a.device_sends(&Message::reply(v, 3, cmd, st)));

    let v = Version::V33;
    let mut b = Conv::new(v, KEY_B, "127.0.9.10:50002", "127.0.9.2:6668");
    pkts.extend(b.tcp.open());
    let t = Target {
        version: v,
        dev_id: "plug01",
        cid: None,
        t: 1_700_000_000,
    };
    let (cmd, body) = payload::query(&t);
    pkts.push(b.client_sends(&Message::request(v, 1, cmd, body)));
    let st = payload::status(v, "plug01", None, &dps, None);
    pkts.push(b.device_sends(&Message::reply(v, 1, cmd, st)));

    let ann = Announcement {
        ip: "127.0.9.2".into(),
        gw_id: "plug01".into(),
        version: Some("3.3".into()),
        ..Default::default()
    };
    let src: SocketAddr = "127.0.9.2:49000".parse().unwrap();
    pkts.push(udp_packet(
        src,
        "127.0.9.255:6667".parse().unwrap(),
        &encode_announcement(&ann, v, [0; 12]),
    ));

    let mut w = CaptureWriter::new(Format::PcapNg, Link::Ethernet);
    for (i, p) in pkts.iter().enumerate() {
        w.packet(
            Timestamp {
                secs: 1_700_000_000 + i as i64,
                nanos: 0,
            },
            p,
        );
    }
    (w.into_bytes(), sk)
}

fn setup(name: &str, key_b: &str) -> (PathBuf, PathBuf, SessionKey) {
    let (cap, sk) = write_capture();
    let cap_path = tmp(&format!("{name}.pcapng"));
    std::fs::write(&cap_path, cap).unwrap();
    let devices = serde_json::json!([
        {"name": "Lamp", "id": "lamp01", "key": KEY_A, "ip": "127.0.9.1", "version": "3.4"},
        {"name": "Plug", "id": "plug01", "key": key_b, "ip": "127.0.9.2", "version": "3.3"},
    ]);
    let keys_path = tmp(&format!("{name}.json"));
    std::fs::write(&keys_path, devices.to_string()).unwrap();
    (cap_path, keys_path, sk)
}

fn tuyactl(args: &[&str]) -> (i32, String, String) {
    let out = Proc::new(env!("CARGO_BIN_EXE_tuyactl"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn text_output_has_one_line_per_frame_and_a_summary() {
    let (cap, keys, sk) = setup("text", KEY_B);
    let (code, out, err) = tuyactl(&[
        "decode",
        "--pcap",
        cap.to_str().unwrap(),
        "--keys",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 9, "{out}");
    assert!(
        lines[0].contains("app->dev Lamp 3.4 SESS_KEY_NEG_START seq=1"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("dev->app Lamp 3.4 SESS_KEY_NEG_RESP seq=1 rc=0"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains("session key negotiated"), "{}", lines[2]);
    assert!(lines[4].contains("DP_QUERY_NEW seq=3"), "{}", lines[4]);
    assert!(
        lines[5].contains(r#"{"protocol":4,"data":{"dps":{"1":true}}}"#)
            || lines[5].contains(r#""dps":{"1":true}"#),
        "{}",
        lines[5]
    );
    assert!(
        lines[7].contains("dev->app Plug 3.3 DP_QUERY seq=1 rc=0"),
        "{}",
        lines[7]
    );
    assert!(
        lines[8].contains("udp") && lines[8].contains("plug01"),
        "{}",
        lines[8]
    );
    // Keys never appear without --show-keys.
    assert!(!out.contains(&sk.to_hex()) && !out.contains(KEY_A) && !err.contains(KEY_A));
    assert!(
        err.contains("device Lamp (lamp01) at 127.0.9.1: version 3.4"),
        "{err}"
    );
    assert!(err.contains("1 sessions negotiated"), "{err}");
    // 7 frames and 1 datagram; the session line is not a frame.
    assert!(err.contains("8 decoded, 0 failed"), "{err}");
}

#[test]
fn json_lines_reuse_the_decode_shape_and_end_with_a_summary() {
    let (cap, keys, sk) = setup("json", KEY_B);
    let (code, out, err) = tuyactl(&[
        "decode",
        "--pcap",
        cap.to_str().unwrap(),
        "--keys",
        keys.to_str().unwrap(),
        "--json",
        "--show-keys",
    ]);
    assert_eq!(code, 0, "{err}");
    let vals: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first = &vals[0];
    assert_eq!(first["cmd_name"], "SESS_KEY_NEG_START");
    assert_eq!(first["direction"], "client_to_device");
    assert_eq!(first["src"], "127.0.9.10:50001");
    assert_eq!(first["dst"], "127.0.9.1:6668");
    assert_eq!(first["device"]["name"], "Lamp");
    assert_eq!(first["version"], "3.4");
    assert_eq!(first["time"], 1_700_000_003.0);
    assert_eq!(vals[2]["session_key"], sk.to_hex());
    let reply = &vals[5];
    assert_eq!(reply["retcode"], 0);
    assert_eq!(reply["payload"]["data"]["dps"]["1"], true);
    let summary = &vals.last().unwrap()["summary"];
    assert_eq!(summary["decoded"], 8);
    assert_eq!(summary["commands"]["DP_QUERY_NEW"], 2);
    assert_eq!(summary["devices"]["Plug"]["versions"][0], "3.3");
}

#[test]
fn a_wrong_key_reports_each_frame_and_exits_zero_while_something_decodes() {
    let (cap, keys, _) = setup("wrong", "ffffffffffffffff");
    let (code, out, err) = tuyactl(&[
        "decode",
        "--pcap",
        cap.to_str().unwrap(),
        "--keys",
        keys.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let errors: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("error").is_some())
        .collect();
    assert_eq!(errors.len(), 2, "{out}");
    assert_eq!(errors[0]["cmd_name"], "DP_QUERY");
    assert_eq!(errors[0]["device"]["name"], "Plug");
    assert!(
        errors[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wrong local key"),
        "{out}"
    );
}

#[test]
fn nothing_decoding_exits_2_and_unreadable_files_exit_1() {
    let (cap, _, _) = setup("nokeys", KEY_B);
    let (code, _, err) = tuyactl(&[
        "decode",
        "--pcap",
        cap.to_str().unwrap(),
        "--key",
        "ffffffffffffffff",
    ]);
    // The announcement still decodes without a key, so only a TCP-only capture reaches 2.
    assert_eq!(code, 0, "{err}");

    let mut w = CaptureWriter::new(Format::Pcap, Link::Raw);
    let mut c = Conv::new(Version::V33, KEY_A, "127.0.9.10:50003", "127.0.9.3:6668");
    let t = Target {
        version: Version::V33,
        dev_id: "x",
        cid: None,
        t: 1,
    };
    let (cmd, body) = payload::query(&t);
    w.packet(
        Timestamp::default(),
        &c.client_sends(&Message::request(Version::V33, 1, cmd, body)),
    );
    let only_tcp = tmp("only_tcp.pcap");
    std::fs::write(&only_tcp, w.into_bytes()).unwrap();
    let (code, _, err) = tuyactl(&[
        "decode",
        "--pcap",
        only_tcp.to_str().unwrap(),
        "--key",
        "ffffffffffffffff",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no frame in the capture decoded"), "{err}");
    let (code, out, _) = tuyactl(&[
        "decode",
        "--pcap",
        only_tcp.to_str().unwrap(),
        "--key",
        KEY_A,
        "--version",
        "3.3",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("DP_QUERY seq=1"), "{out}");

    let junk = tmp("junk.pcap");
    std::fs::write(&junk, b"hello, not a capture").unwrap();
    let (code, _, err) = tuyactl(&["decode", "--pcap", junk.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("not a pcap or pcapng file"), "{err}");
    let (code, _, err) = tuyactl(&["decode", "--pcap", "/nonexistent/x.pcap"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot open"), "{err}");
    let _ = Command::DpQuery;
}

#[test]
fn session_key_decodes_a_capture_that_missed_the_negotiation() {
    let v = Version::V34;
    let sk = SessionKey::from_bytes(*b"0011223344556677");
    let mut c = Conv::new(v, KEY_A, "127.0.9.10:50004", "127.0.9.4:6668");
    c.client.set_session_key(sk);
    let t = Target {
        version: v,
        dev_id: "lamp01",
        cid: None,
        t: 1,
    };
    let (cmd, body) = payload::query(&t);
    let mut w = CaptureWriter::new(Format::Pcap, Link::LinuxSll);
    w.packet(
        Timestamp::default(),
        &c.client_sends(&Message::request(v, 7, cmd, body)),
    );
    let path = tmp("missed.pcap");
    std::fs::write(&path, w.into_bytes()).unwrap();
    let p = path.to_str().unwrap();
    let (code, _, err) = tuyactl(&["decode", "--pcap", p, "--key", KEY_A, "--version", "3.4"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("capture from before the app connects"),
        "{err}"
    );
    let (code, out, err) = tuyactl(&[
        "decode",
        "--pcap",
        p,
        "--key",
        KEY_A,
        "--version",
        "3.4",
        "--session-key",
        &sk.to_hex(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("app->dev"), "{out}");
    assert!(out.contains("DP_QUERY_NEW seq=7"), "{out}");
}

#[test]
fn a_capture_on_standard_input_decodes() {
    use std::io::Write as _;
    let (cap, keys, _) = setup("stdin", KEY_B);
    let bytes = std::fs::read(&cap).unwrap();
    let mut child = Proc::new(env!("CARGO_BIN_EXE_tuyactl"))
        .args([
            "decode",
            "--pcap",
            "-",
            "--keys",
            keys.to_str().unwrap(),
            "--json",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // In small pieces, as a pipe from tcpdump delivers them.
    for piece in bytes.chunks(7) {
        stdin.write_all(piece).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["summary"]["decoded"], 8, "{text}");
}

/// A deterministic, per-codec-distinct entropy source for tests.
fn test_rng() -> rand::rngs::StdRng {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    rand::SeedableRng::seed_from_u64(N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}
