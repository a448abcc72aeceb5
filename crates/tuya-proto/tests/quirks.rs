//! What real firmware sends beyond the fact sheet (shared quirks notes), accepted on decode.

mod common;
use common::frame55;
use tuya_proto::{
    payload, Codec, Command, DpId, DpValue, Dps, LocalKey, Message, Role, SessionKey, Version,
};

const KEY: &str = "0123456789abcdef";

fn key() -> LocalKey {
    LocalKey::new(KEY).unwrap()
}

fn dps() -> Dps {
    [
        (DpId(1), DpValue::Bool(true)),
        (DpId(2), DpValue::Integer(7)),
    ]
    .into_iter()
    .collect()
}

fn device(v: Version) -> Codec {
    let mut d = Codec::with_entropy(v, key(), Role::Device, test_rng());
    d.set_session_key(SessionKey::from_bytes([5; 16]));
    d
}

fn client(v: Version) -> Codec {
    let mut c = Codec::with_entropy(v, key(), Role::Client, test_rng());
    c.set_session_key(SessionKey::from_bytes([5; 16]));
    c
}

#[test]
fn non_zero_bytes_after_version_header_are_skipped() {
    // tinytuya PR#308: a 3.4 switch puts a counter in the 12 bytes after "3.4".
    for v in [Version::V33, Version::V34, Version::V35] {
        let body = payload::status(v, "d", None, &dps(), Some(1));
        let mut m = Message::reply(v, 0, Command::Status, body.clone());
        let mut h = v.header();
        h[8..].copy_from_slice(&[0xef, 0xb9, 0, 0, 0, 0, 1]);
        m.header = Some(h);
        let wire = device(v).encode(&m).unwrap();
        let got = client(v).decode(&wire).unwrap();
        assert_eq!(got.payload, body, "{v}");
        assert_eq!(got.header, Some(h));
    }
}

#[test]
fn any_3x_header_is_accepted() {
    // homebridge-tuya-plus PR#46: replies may carry a different "3.x" header.
    let body = payload::status(Version::V33, "d", None, &dps(), None);
    let mut m = Message::reply(Version::V33, 3, Command::Status, body.clone());
    let mut h = [0u8; 15];
    h[..3].copy_from_slice(b"3.2");
    m.header = Some(h);
    let got = client(Version::V33)
        .decode(&device(Version::V33).encode(&m).unwrap())
        .unwrap();
    assert_eq!(got.payload, body);
    assert_eq!(got.header_version(), Some(Version::V32));
}

#[test]
fn device22_header_at_an_offset() {
    // tinytuya strips a header found at an offset when the payload is not whole blocks.
    let body = payload::status(Version::V33, "d", None, &dps(), None);
    let ct = tuya_proto::cipher::KeyedCipher::new(key().as_bytes()).ecb_encrypt(&body);
    let mut raw = vec![0, 0, 0, 0]; // retcode
    raw.extend([0xde, 0xad]); // junk before the header
    raw.extend(Version::V33.header());
    raw.extend(&ct);
    let wire = frame55(9, 10, &raw);
    let got = client(Version::V33).decode(&wire).unwrap();
    assert_eq!(got.payload, body);
    assert_eq!(got.retcode, Some(0));
}

#[test]
fn encrypted_31_status_reply() {
    // clach04/python-tuya#6: 3.1 status replies sometimes arrive signed and encrypted.
    let body = br#"{"devId":"d","dps":{"1":false},"s":3}"#.to_vec();
    let mut m = Message::reply(Version::V31, 4, Command::DpQuery, body.clone());
    m.plaintext = false;
    let wire = device(Version::V31).encode(&m).unwrap();
    assert_eq!(&wire[20..23], b"3.1");
    let got = client(Version::V31).decode(&wire).unwrap();
    assert_eq!(got.payload, body);
    assert!(!got.plaintext);
    // A tampered signature is caught.
    let mut bad = wire.clone();
    bad[25] ^= 1;
    let crc = crc32fast::hash(&bad[..bad.len() - 8]);
    let n = bad.len();
    bad[n - 8..n - 4].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(
        client(Version::V31).decode(&bad).unwrap_err(),
        tuya_proto::Error::SignatureMismatch
    );
}

#[test]
fn replies_without_retcode_and_plaintext_pushes() {
    // @tuyapi/stub: replies lack the return code; pushes are plaintext JSON.
    let body = br#"{"devId":"d","dps":{"1":true}}"#;
    let wire = frame55(2, 8, body);
    let got = client(Version::V31).decode(&wire).unwrap();
    assert_eq!(got.retcode, None);
    assert_eq!(got.payload, body);
    let got = client(Version::V33).decode(&wire).unwrap();
    assert_eq!(got.payload, body, "plaintext JSON on a 3.3 connection too");
}

#[test]
fn plaintext_error_with_retcode_1_before_decrypting() {
    for v in [Version::V31, Version::V32, Version::V33, Version::V34] {
        let m = Message::device_error(0, Command::DpQuery, "json obj data unvalid");
        let wire = device(v).encode(&m).unwrap();
        let got = client(v).decode(&wire).unwrap();
        assert_eq!((got.retcode, got.plaintext), (Some(1), true), "{v}");
        assert_eq!(got.payload, b"json obj data unvalid");
    }
}

#[test]
fn plaintext_in_any_script_and_with_tabs_is_text() {
    // Found by the stream fuzz targets (fuzz/regressions/stream_client/): a 3.1 query, reply
    // or 6666 announcement travels as plaintext JSON, whose names and DP strings may be any
    // Unicode; plaintext detection took only printable ASCII, so it tried to decrypt them.
    let json = "{\"dps\":{\"101\":\"Küche 客厅\"},\n\t\"t\":1}"
        .as_bytes()
        .to_vec();
    let q = Message::request(Version::V31, 1, Command::DpQuery, json.clone());
    let got = device(Version::V31).decode(&client(Version::V31).encode(&q).unwrap());
    assert_eq!(got.unwrap().payload, json);
    let r = Message::reply(Version::V31, 1, Command::DpQuery, json.clone());
    let got = client(Version::V31).decode(&device(Version::V31).encode(&r).unwrap());
    assert_eq!(got.unwrap().payload, json);
    let e = Message::device_error(0, Command::DpQuery, "données non valides");
    let got = client(Version::V33).decode(&device(Version::V33).encode(&e).unwrap());
    assert_eq!(got.unwrap().payload, "données non valides".as_bytes());
}

#[test]
fn reply_plus_two_pushes_in_one_read() {
    // tinytuya#152: one recv can hold a reply plus two pushes.
    let mut d = device(Version::V34);
    let mut stream = vec![];
    for (seq, cmd) in [
        (5, Command::ControlNew),
        (0, Command::Status),
        (0, Command::Status),
    ] {
        stream.extend(
            d.encode(&Message::reply(Version::V34, seq, cmd, b"{}".to_vec()))
                .unwrap(),
        );
    }
    let mut s = tuya_proto::frame::FrameSplitter::new();
    s.feed(&stream);
    let c = client(Version::V34);
    let mut cmds = vec![];
    while let Some(f) = s.next_frame() {
        cmds.push(c.decode(&f.unwrap()).unwrap().cmd);
    }
    assert_eq!(
        cmds,
        [Command::ControlNew, Command::Status, Command::Status]
    );
}

#[test]
fn errors_name_the_cause() {
    let wire = device(Version::V33)
        .encode(&Message::reply(
            Version::V33,
            1,
            Command::Status,
            b"{}".to_vec(),
        ))
        .unwrap();
    // A 3.3 frame decoded as 3.4: the CRC trailer is recognised.
    let e = client(Version::V34).decode(&wire).unwrap_err().to_string();
    assert!(e.contains("3.1-3.3 device"), "{e}");
    // Wrong key on 3.4: HMAC mismatch says wrong key.
    let wire = device(Version::V34)
        .encode(&Message::reply(
            Version::V34,
            1,
            Command::Status,
            b"{}".to_vec(),
        ))
        .unwrap();
    let mut other = Codec::with_entropy(
        Version::V34,
        LocalKey::new("ffffffffffffffff").unwrap(),
        Role::Client,
        test_rng(),
    );
    other.set_session_key(SessionKey::from_bytes([6; 16]));
    let e = other.decode(&wire).unwrap_err().to_string();
    assert!(e.contains("wrong local key"), "{e}");
    // 6699 frame on a 3.3 codec.
    let wire = device(Version::V35)
        .encode(&Message::reply(
            Version::V35,
            1,
            Command::Status,
            b"{}".to_vec(),
        ))
        .unwrap();
    let e = client(Version::V33).decode(&wire).unwrap_err().to_string();
    assert!(e.contains("--version"), "{e}");
    // No session key yet.
    let e = Codec::with_entropy(Version::V35, key(), Role::Client, test_rng())
        .decode(&wire)
        .unwrap_err()
        .to_string();
    assert!(e.contains("session key"), "{e}");
}

/// A deterministic, per-codec-distinct entropy source for tests.
fn test_rng() -> rand::rngs::StdRng {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    rand::SeedableRng::seed_from_u64(N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}
