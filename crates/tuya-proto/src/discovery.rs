//! Discovery datagrams: the 6666 plain announcement, the 6667 encrypted one, the 3.5 (6699/GCM)
//! form, and the REQ_DEVINFO request that makes 3.5 devices announce themselves.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cipher::{md5, KeyedCipher};
use crate::codec::{encode_with, Message, Sender};
use crate::frame::{self, Prefix};
use crate::{Command, Error, LocalKey, Version};

/// UDP port of 3.1 plain announcements.
pub const PORT_PLAIN: u16 = 6666;
/// UDP port of encrypted announcements (3.3+).
pub const PORT_ENCRYPTED: u16 = 6667;
/// UDP port 3.5 devices listen on for REQ_DEVINFO and answer from.
pub const PORT_DEVINFO: u16 = 7000;

/// The well-known discovery key: md5("yGAdlopoPVldABfn").
pub fn udp_key() -> [u8; 16] {
    md5(b"yGAdlopoPVldABfn")
}

fn udp_local_key() -> LocalKey {
    LocalKey::from_bytes(&udp_key()).expect("md5 is 16 bytes")
}

/// A device's announcement, with unknown fields kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Announcement {
    /// The device's IP address as it reports it.
    #[serde(default)]
    pub ip: String,
    /// Device id.
    #[serde(rename = "gwId", default)]
    pub gw_id: String,
    /// Product key.
    #[serde(
        rename = "productKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub product_key: Option<String>,
    /// Protocol version string ("3.3").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Whether the device encrypts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypt: Option<bool>,
    /// Activation state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<i64>,
    /// Ability bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ability: Option<i64>,
    /// Mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<i64>,
    /// Pairing token, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Value>,
    /// Every other field, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Announcement {
    /// The announced protocol version, if it is one we know.
    pub fn protocol_version(&self) -> Option<Version> {
        self.version.as_deref()?.parse().ok()
    }
}

/// How a datagram was wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DatagramKind {
    /// 55AA frame with plain JSON (port 6666, 3.1).
    Plain,
    /// 55AA frame, AES-ECB under the UDP key (port 6667, 3.3/3.4).
    Ecb,
    /// 6699 frame, AES-GCM under the UDP key (3.5).
    Gcm,
}

/// A decoded discovery datagram.
#[derive(Debug, Clone, PartialEq)]
pub struct Datagram {
    /// Wrapping.
    pub kind: DatagramKind,
    /// Frame header sequence number.
    pub seq: u32,
    /// Command (UDP, UDP_NEW, BOARDCAST_LPV34, REQ_DEVINFO…).
    pub cmd: Command,
    /// Return code when present.
    pub retcode: Option<u32>,
    /// The JSON payload.
    pub payload: Value,
}

impl Datagram {
    /// The payload as a device announcement (anything but REQ_DEVINFO with a `gwId`).
    pub fn announcement(&self) -> Option<Announcement> {
        if self.cmd == Command::ReqDevInfo || self.payload.get("gwId").is_none() {
            return None;
        }
        serde_json::from_value(self.payload.clone()).ok()
    }

    /// Whether this is a client's REQ_DEVINFO request.
    pub fn is_devinfo_request(&self) -> bool {
        self.cmd == Command::ReqDevInfo
    }
}

/// Decodes a discovery datagram of any kind, with no key needed.
///
/// ```
/// use tuya_proto::discovery::{decode, encode_announcement, Announcement};
/// use tuya_proto::Version;
/// let a = Announcement { ip: "127.0.1.5".into(), gw_id: "dev1".into(), version: Some("3.3".into()), ..Default::default() };
/// let bytes = encode_announcement(&a, Version::V33, [0; 12]);
/// let d = decode(&bytes).unwrap();
/// assert_eq!(d.announcement().unwrap().gw_id, "dev1");
/// ```
pub fn decode(datagram: &[u8]) -> Result<Datagram, Error> {
    let h = frame::check_frame(datagram, frame::DEFAULT_MAX_FRAME)?;
    let (version, kind_hint) = match h.prefix {
        Prefix::P6699 => (Version::V35, DatagramKind::Gcm),
        Prefix::P55aa => (Version::V33, DatagramKind::Ecb),
    };
    let codec = crate::Codec::new(version, udp_local_key(), crate::Role::Client);
    // The UDP key stands in for both local and session key: discovery frames have no session.
    let mut codec = codec;
    codec.set_session_key(crate::SessionKey(udp_key()));
    let msg = codec.decode_from(datagram, Sender::Unknown)?;
    let kind = if kind_hint == DatagramKind::Ecb && msg.plaintext {
        DatagramKind::Plain
    } else {
        kind_hint
    };
    let payload: Value = serde_json::from_slice(&msg.payload)
        .map_err(|_| Error::BadDiscovery("payload is not JSON"))?;
    Ok(Datagram {
        kind,
        seq: msg.seq,
        cmd: msg.cmd,
        retcode: msg.retcode,
        payload,
    })
}

fn encode_json(
    kind: DatagramKind,
    cmd: Command,
    rc: Option<u32>,
    json: &[u8],
    iv: [u8; 12],
) -> Vec<u8> {
    let key = KeyedCipher::new(&udp_key());
    let (version, plaintext) = match kind {
        DatagramKind::Plain => (Version::V33, true),
        DatagramKind::Ecb => (Version::V33, false),
        DatagramKind::Gcm => (Version::V35, false),
    };
    let msg = Message {
        seq: 0,
        cmd,
        retcode: rc,
        payload: json.to_vec(),
        header: None,
        plaintext,
        iv: Some(iv),
    };
    let mut out = Vec::with_capacity(json.len() + 64);
    encode_with(version, &key, &msg, Some(iv), &mut out);
    out
}

/// Encodes an announcement as a device of `version` sends it: plain on 6666 for 3.1, AES-ECB on
/// 6667 for 3.2–3.4, 6699/GCM for 3.5 (`iv` is used only there).
pub fn encode_announcement(a: &Announcement, version: Version, iv: [u8; 12]) -> Vec<u8> {
    let json = serde_json::to_vec(a).unwrap_or_default();
    let (kind, cmd) = match version {
        Version::V31 => (DatagramKind::Plain, Command::Udp),
        Version::V35 => (DatagramKind::Gcm, Command::UdpNew),
        _ => (DatagramKind::Ecb, Command::UdpNew),
    };
    encode_json(kind, cmd, Some(0), &json, iv)
}

/// The UDP port a device of `version` announces on.
pub fn announce_port(version: Version) -> u16 {
    if version == Version::V31 {
        PORT_PLAIN
    } else {
        PORT_ENCRYPTED
    }
}

/// Encodes the REQ_DEVINFO request (to UDP 7000) carrying the sender's address.
pub fn encode_devinfo_request(sender_ip: &str, iv: [u8; 12]) -> Vec<u8> {
    // Spaced like Python's json.dumps, so the bytes match what tinytuya sends.
    let ip = serde_json::Value::from(sender_ip).to_string();
    let json = format!(r#"{{"from": "app", "ip": {ip}}}"#).into_bytes();
    encode_json(DatagramKind::Gcm, Command::ReqDevInfo, None, &json, iv)
}
