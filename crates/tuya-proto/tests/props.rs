//! Property tests: round trips for every version and direction, arbitrary chunking, and
//! arbitrary bytes never panicking.

use proptest::prelude::*;
use tuya_proto::frame::FrameSplitter;
use tuya_proto::session::{ClientHandshake, DeviceHandshake};
use tuya_proto::{
    discovery, payload, Codec, Command, DpId, DpValue, Dps, Error, LocalKey, Message, Role, Sender,
    SessionKey, Version,
};

fn version() -> impl Strategy<Value = Version> {
    prop::sample::select(Version::ALL.to_vec())
}

fn dp_value() -> impl Strategy<Value = DpValue> {
    prop_oneof![
        any::<bool>().prop_map(DpValue::Bool),
        any::<i64>().prop_map(DpValue::Integer),
        "[ -~]{0,40}".prop_map(DpValue::String),
    ]
}

fn dps() -> impl Strategy<Value = Dps> {
    prop::collection::btree_map((1u32..256).prop_map(DpId), dp_value(), 0..8)
}

fn key() -> impl Strategy<Value = LocalKey> {
    "[0-9a-zA-Z!#$%&()*+,./:;<=>?@^_{|}~-]{16}".prop_map(|k| LocalKey::new(&k).unwrap())
}

fn pair(v: Version, k: &LocalKey, sk: [u8; 16]) -> (Codec, Codec) {
    let mut c = Codec::with_entropy(v, k.clone(), Role::Client, test_rng());
    let mut d = Codec::with_entropy(v, k.clone(), Role::Device, test_rng());
    c.set_session_key(SessionKey::from_bytes(sk));
    d.set_session_key(SessionKey::from_bytes(sk));
    (c, d)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    /// Client → device: controls and queries decode to what was encoded.
    #[test]
    fn client_to_device_round_trip(v in version(), k in key(), sk in any::<[u8; 16]>(),
                                   dps in dps(), seq in any::<u32>(), t in any::<u32>(), cid in proptest::option::of("[0-9a-f]{16}")) {
        let (mut c, d) = pair(v, &k, sk);
        let target = payload::Target { version: v, dev_id: "bf0123456789abcdefgh", cid: cid.as_deref(), t: t as u64 };
        for (cmd, body) in [payload::control(&target, &dps), payload::query(&target), payload::heartbeat(&target)] {
            let msg = Message::request(v, seq, cmd, body.clone());
            let wire = c.encode(&msg).unwrap();
            let got = d.decode(&wire).unwrap();
            prop_assert_eq!(got.seq, seq);
            prop_assert_eq!(got.cmd, cmd);
            prop_assert_eq!(got.retcode, None);
            prop_assert_eq!(&got.payload, &body);
            prop_assert_eq!(got.header.is_some(), msg.header.is_some());
            // Unknown sender: the heuristic finds no return code either.
            let got = d.decode_from(&wire, Sender::Unknown).unwrap();
            prop_assert_eq!(&got.payload, &body);
        }
        let req = tuya_proto::payload::ControlRequest::parse_bytes(&payload::control(&target, &dps).1).unwrap();
        prop_assert_eq!(req.dps, dps);
        prop_assert_eq!(req.cid, cid);
    }

    /// Device → client: status replies and pushes decode, with their return code.
    #[test]
    fn device_to_client_round_trip(v in version(), k in key(), sk in any::<[u8; 16]>(),
                                   dps in dps(), seq in any::<u32>(), rc in 0u32..256, t in proptest::option::of(any::<u32>())) {
        let (c, mut d) = pair(v, &k, sk);
        let body = payload::status(v, "dev", None, &dps, t.map(u64::from));
        for cmd in [Command::Status, v.query_command(), Command::ControlNew] {
            let mut msg = Message::reply(v, seq, cmd, body.clone());
            msg.retcode = Some(rc);
            let wire = d.encode(&msg).unwrap();
            for from in [Sender::Device, Sender::Unknown] {
                let got = c.decode_from(&wire, from).unwrap();
                prop_assert_eq!(got.retcode, Some(rc));
                prop_assert_eq!(got.seq, seq);
                let st = payload::StatusUpdate::parse_bytes(&got.payload).unwrap();
                prop_assert_eq!(&st.dps, &dps);
                prop_assert_eq!(st.t, t.map(u64::from));
            }
        }
    }

    /// A frame encoded under one key never decodes under another.
    #[test]
    fn wrong_key_is_an_error(v in version(), k1 in key(), k2 in key(), dps in dps()) {
        prop_assume!(k1 != k2);
        let mut c = Codec::with_entropy(v, k1, Role::Client, test_rng());
        let d = Codec::with_entropy(v, k2, Role::Device, test_rng());
        let target = payload::Target { version: v, dev_id: "x", cid: None, t: 1 };
        let (cmd, body) = payload::control(&target, &dps);
        // Negotiation frames use the local key on every version that has one.
        let cmd = if v.uses_session_key() { Command::SessKeyNegStart } else { cmd };
        let wire = c.encode(&Message::request(v, 1, cmd, body)).unwrap();
        prop_assert!(d.decode(&wire).is_err());
    }

    /// Any chunking of a stream of frames yields the same frames, in order.
    #[test]
    fn chunking_is_invisible(v in version(), k in key(), n in 1usize..6, cuts in prop::collection::vec(1usize..64, 0..40),
                             garbage in prop::collection::vec(any::<u8>(), 0..20)) {
        let (mut c, _) = pair(v, &k, [7; 16]);
        let mut frames = vec![];
        let mut stream = garbage.clone();
        for i in 0..n {
            let f = c.encode(&Message::request(v, i as u32, Command::HeartBeat, vec![])).unwrap();
            stream.extend(&f);
            frames.push(f);
        }
        let mut s = FrameSplitter::new();
        let mut got = vec![];
        let mut at: usize = 0;
        for cut in cuts.iter().chain(std::iter::once(&usize::MAX)) {
            let end = at.saturating_add(*cut).min(stream.len());
            s.feed(&stream[at..end]);
            at = end;
            while let Some(r) = s.next_frame() {
                if let Ok(f) = r { got.push(f) }
            }
            if at == stream.len() { break; }
        }
        prop_assert_eq!(got, frames);
    }

    /// Arbitrary bytes never panic any decoder.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), v in version()) {
        let mut s = FrameSplitter::with_max_len(4096);
        s.feed(&bytes);
        while let Some(r) = s.next_frame() { let _ = r; }
        let mut c = Codec::with_entropy(v, LocalKey::new("0123456789abcdef").unwrap(), Role::Client, test_rng());
        c.set_session_key(SessionKey::from_bytes([1; 16]));
        let _ = c.decode_from(&bytes, Sender::Unknown);
        let _ = discovery::decode(&bytes);
        // Also with a valid-looking header in front.
        let mut framed = vec![0, 0, 0x55, 0xaa, 0, 0, 0, 1, 0, 0, 0, 8];
        framed.extend(((bytes.len() as u32).saturating_add(8)).to_be_bytes());
        framed.extend(&bytes);
        framed.extend([0, 0, 0, 0, 0, 0, 0xaa, 0x55]);
        let _ = c.decode_from(&framed, Sender::Unknown);
        let _ = discovery::decode(&framed);
    }

    /// Client and device state machines agree on the session key for any nonces.
    #[test]
    fn negotiation_agrees(v in prop::sample::select(vec![Version::V34, Version::V35]), k in key(),
                          cn in any::<[u8; 16]>(), dn in any::<[u8; 16]>(), seq in any::<u32>()) {
        let (mut cc, mut dc) = (Codec::with_entropy(v, k.clone(), Role::Client, test_rng()), Codec::with_entropy(v, k.clone(), Role::Device, test_rng()));
        let mut client = ClientHandshake::new(v, k.clone(), cn, seq).unwrap();
        let mut device = DeviceHandshake::new(v, k, dn).unwrap();
        let start = dc.decode(&cc.encode(&client.start()).unwrap()).unwrap();
        let resp = cc.decode(&dc.encode(&device.on_start(&start).unwrap()).unwrap()).unwrap();
        let (finish, ck) = client.on_response(&resp).unwrap();
        let dk = device.on_finish(&dc.decode(&cc.encode(&finish).unwrap()).unwrap()).unwrap();
        prop_assert_eq!(ck, dk);
        prop_assert_ne!(ck.as_bytes(), &[0u8; 16]);
    }

    /// Tampering with the device's nonce or proof makes the client fail, naming the key.
    #[test]
    fn tampered_negotiation_fails(k in key(), other in key(), cn in any::<[u8; 16]>(), dn in any::<[u8; 16]>(),
                                  flip in 0usize..48, v in prop::sample::select(vec![Version::V34, Version::V35])) {
        prop_assume!(k != other);
        let mut client = ClientHandshake::new(v, k.clone(), cn, 1).unwrap();
        let mut device = DeviceHandshake::new(v, k.clone(), dn).unwrap();
        let start = client.start();
        let mut resp = device.on_start(&start).unwrap();
        if flip >= 16 { resp.payload[flip] ^= 0x01; } // the HMAC part
        else {
            // A changed device nonce with an unchanged proof still verifies (the proof covers our
            // nonce), but the client then derives a key the device does not have.
            resp.payload[flip] ^= 0x01;
            let (finish, ck) = client.on_response(&resp).unwrap();
            // The device sees an HMAC over the wrong nonce.
            prop_assert_eq!(device.on_finish(&finish), Err(Error::NegotiationBadClientHmac));
            let _ = ck;
            return Ok(());
        }
        prop_assert_eq!(client.on_response(&resp).map(|_| ()), Err(Error::NegotiationBadDeviceHmac));
        // A device with the wrong local key is caught by the client too.
        let mut client = ClientHandshake::new(v, k, cn, 1).unwrap();
        let mut wrong = DeviceHandshake::new(v, other, dn).unwrap();
        let resp = wrong.on_start(&client.start()).unwrap();
        let err = client.on_response(&resp).map(|_| ()).unwrap_err();
        prop_assert!(err.to_string().contains("wrong local key"), "{}", err);
    }
}

#[test]
fn announcement_round_trip_every_version() {
    for v in Version::ALL {
        let a = discovery::Announcement {
            ip: "127.0.1.9".into(),
            gw_id: "dev9".into(),
            product_key: Some("pk".into()),
            version: Some(v.as_str().into()),
            encrypt: Some(v != Version::V31),
            ..Default::default()
        };
        let b = discovery::encode_announcement(&a, v, [9; 12]);
        let d = discovery::decode(&b).unwrap();
        assert_eq!(d.announcement().unwrap(), a, "{v}");
        let kind = match v {
            Version::V31 => discovery::DatagramKind::Plain,
            Version::V35 => discovery::DatagramKind::Gcm,
            _ => discovery::DatagramKind::Ecb,
        };
        assert_eq!(d.kind, kind);
    }
}

/// A deterministic, per-codec-distinct entropy source for tests.
fn test_rng() -> rand::rngs::StdRng {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    rand::SeedableRng::seed_from_u64(N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}
