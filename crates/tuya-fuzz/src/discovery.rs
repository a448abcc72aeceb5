//! The discovery datagram decoder, every kind: 6666 plain, 6667 AES-ECB, 3.5 6699/GCM and
//! REQ_DEVINFO.

use tuya_proto::discovery::{self, DatagramKind};
use tuya_proto::frame::{self, Prefix};
use tuya_proto::{Codec, Command, LocalKey, Message, Role, SessionKey, Version};

use crate::input::json_text;

/// A datagram starts with a zero byte: an input that does is taken as one. Any other first
/// byte selects a kind, a command and a seq for the rest, a JSON-like text that is sealed into
/// a datagram (as a device would send it), so mutations reach the JSON behind the encryption.
pub(crate) fn run(data: &[u8]) {
    match data.split_first() {
        Some((&sel, json)) if sel != 0 => {
            let json = json_text(json);
            let datagram = wrap(sel, &json);
            // What a device can send must decode: an object is an announcement's payload.
            if let Ok(want) = serde_json::from_slice::<serde_json::Value>(&json) {
                let d = discovery::decode(&datagram);
                let d = d.unwrap_or_else(|e| panic!("a datagram of {want} does not decode: {e}"));
                assert_eq!(d.payload, want);
            }
            datagram_checks(&datagram);
        }
        _ => datagram_checks(data),
    }
}

/// `json` in a datagram of the kind, command and seq `sel` picks.
fn wrap(sel: u8, json: &[u8]) -> Vec<u8> {
    let key = discovery::udp_key();
    let cmds = [
        Command::Udp,
        Command::UdpNew,
        Command::BoardcastLpv34,
        Command::ReqDevInfo,
    ];
    let cmd = cmds[usize::from(sel >> 2) % cmds.len()];
    let (v, plaintext) = match sel % 3 {
        0 => (Version::V33, true),
        1 => (Version::V33, false),
        _ => (Version::V35, false),
    };
    let mut c = Codec::new(
        v,
        LocalKey::from_bytes(&key).expect("16 bytes"),
        Role::Device,
    );
    // As in discovery::decode: the UDP key is the session key too.
    c.set_session_key(SessionKey::from_bytes(key));
    let m = Message {
        seq: u32::from(sel),
        cmd,
        retcode: (cmd != Command::ReqDevInfo).then_some(0),
        payload: json.to_vec(),
        header: None,
        plaintext,
        iv: Some([sel; 12]),
    };
    c.encode(&m).expect("a datagram encodes")
}

fn datagram_checks(data: &[u8]) {
    let Ok(d) = discovery::decode(data) else {
        return;
    };
    let h = frame::check_frame(data, frame::DEFAULT_MAX_FRAME).expect("a decoded datagram");
    let want = match d.kind {
        DatagramKind::Gcm => Prefix::P6699,
        DatagramKind::Plain | DatagramKind::Ecb => Prefix::P55aa,
    };
    assert_eq!(
        h.prefix, want,
        "{:?} datagram in a {:?} frame",
        d.kind, h.prefix
    );
    assert_eq!((d.seq, u32::from(d.cmd)), (h.seq, h.cmd));

    if let Some(a) = d.announcement() {
        assert_eq!(
            d.payload.get("gwId").and_then(|g| g.as_str()),
            Some(&*a.gw_id)
        );
        // What a device of each form would send for it decodes to the same announcement.
        for v in [Version::V31, Version::V33, Version::V35] {
            let again = discovery::encode_announcement(&a, v, [7; 12]);
            let back = discovery::decode(&again)
                .unwrap_or_else(|e| panic!("{v}: re-encoded announcement does not decode: {e}"));
            assert_eq!(back.announcement().as_ref(), Some(&a), "{v}");
        }
    }
    if d.is_devinfo_request() {
        assert!(
            d.announcement().is_none(),
            "a request taken for an announcement"
        );
        if let Some(ip) = d.payload.get("ip").and_then(|i| i.as_str()) {
            let again = discovery::encode_devinfo_request(ip, [7; 12]);
            let back = discovery::decode(&again).expect("a re-encoded request decodes");
            assert!(back.is_devinfo_request());
            assert_eq!(back.payload["ip"].as_str(), Some(ip));
        }
    }
}
