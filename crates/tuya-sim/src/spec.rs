//! What a simulated device is: identity, key, version, DPs, children, quirks and faults.

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tuya_proto::{DpId, Dps, Version};

/// Default TCP port of Tuya devices.
pub const DEFAULT_PORT: u16 = 6668;

/// Default time after which a silent client is dropped (real firmware: about 30 s).
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(30);

/// One simulated device. Its `Debug` output hides the local key.
#[derive(Clone)]
pub struct DeviceSpec {
    /// Device id (`gwId`/`devId`).
    pub id: String,
    /// Human name (devices.json `name`).
    pub name: String,
    /// The 16-character local key.
    pub key: String,
    /// Protocol version.
    pub version: Version,
    /// Loopback (or LAN) address the device listens on.
    pub ip: Ipv4Addr,
    /// TCP port, 6668 by default.
    pub port: u16,
    /// Product key announced in discovery.
    pub product_key: String,
    /// Initial DP state.
    pub dps: Dps,
    /// The "device22" quirk: DP_QUERY is refused, queries are CONTROL_NEW with null DPs.
    pub device22: bool,
    /// Gateway children (Zigbee-style sub-devices addressed by `cid`). Non-empty = a gateway.
    pub children: Vec<ChildSpec>,
    /// Firmware quirks (all off = a well-behaved device).
    pub quirks: Quirks,
    /// Injected faults (all off by default).
    pub faults: Faults,
    /// Rules of real firmware (all at today's lenient behaviour by default).
    pub firmware: Firmware,
    /// A client silent for longer than this is dropped.
    pub heartbeat_timeout: Duration,
    /// devices.json `category` (e.g. "cz" plug, "dj" bulb, "cl" cover).
    pub category: Option<String>,
    /// devices.json `mapping` (DP codes and types).
    pub mapping: Option<serde_json::Value>,
}

impl std::fmt::Debug for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSpec")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("key", &"****")
            .field("version", &self.version)
            .field("ip", &self.ip)
            .field("port", &self.port)
            .field("dps", &self.dps)
            .field("device22", &self.device22)
            .field("children", &self.children)
            .field("quirks", &self.quirks)
            .field("faults", &self.faults)
            .field("firmware", &self.firmware)
            .finish_non_exhaustive()
    }
}

impl DeviceSpec {
    /// A device with no DPs, no quirks and default port, name and timeouts.
    pub fn new(id: &str, key: &str, version: Version, ip: Ipv4Addr) -> Self {
        Self {
            id: id.to_string(),
            name: id.to_string(),
            key: key.to_string(),
            version,
            ip,
            port: DEFAULT_PORT,
            product_key: "keysimulator0000".to_string(),
            dps: Dps::new(),
            device22: false,
            children: Vec::new(),
            quirks: Quirks::default(),
            faults: Faults::default(),
            firmware: Firmware::default(),
            heartbeat_timeout: DEFAULT_HEARTBEAT_TIMEOUT,
            category: None,
            mapping: None,
        }
    }

    /// Whether the device behaves as device22 (explicitly, or because it speaks 3.2).
    pub fn is_device22(&self) -> bool {
        self.device22 || self.version.implies_device22()
    }
}

/// A gateway child (sub-device).
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// Node id used as `cid` on the wire.
    pub cid: String,
    /// Human name.
    pub name: String,
    /// Initial DP state.
    pub dps: Dps,
}

/// How a device treats a CONTROL setting several DPs at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultiDp {
    /// Applies all DPs (well-behaved).
    #[default]
    Accept,
    /// Applies nothing and answers `data format error` (retcode 1).
    Reject,
    /// Acknowledges, but applies (and reports) only the first DP.
    HalfApply,
}

/// Real-firmware quirks, each reported against real devices (see `quirks.md` in the docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quirks {
    /// Replies carry the device's own sequence counter instead of echoing the request's.
    pub own_seq: bool,
    /// Pushes and heartbeat replies carry sequence number 0.
    pub seq_zero_pushes: bool,
    /// Pushes carry a counter in the 12 bytes after "3.x" instead of zeros.
    pub header_counter: bool,
    /// Status replies lack the `t` field.
    pub status_without_t: bool,
    /// DPs left out of status replies and only reported in pushes.
    pub push_only_dps: Vec<DpId>,
    /// Multi-DP CONTROL behaviour.
    pub multi_dp: MultiDp,
    /// Commands arriving closer together than this are silently dropped.
    #[serde(with = "opt_ms", rename = "min_command_gap_ms")]
    pub min_command_gap: Option<Duration>,
    /// UPDATEDPS is answered with plaintext `query dp failed`.
    pub refresh_fails: bool,
    /// A multi-DP change is pushed as two frames.
    pub split_pushes: bool,
    /// Error strings (`json obj data unvalid`, `data format error`, `query dp failed`) are sent
    /// encrypted with retcode 1 instead of in plaintext. tinytuya's device22 detection decrypts
    /// before looking for "data unvalid", so it only recognises this form.
    pub encrypted_errors: bool,
}

/// Faults injected on a device's connections.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Delay before every frame the device sends.
    #[serde(with = "opt_ms", rename = "delay_ms")]
    pub delay: Option<Duration>,
    /// Probability (0..=1) that a frame the device would send is dropped.
    pub drop_ratio: f64,
    /// Close the connection after receiving this many frames on it (the last one is answered).
    pub close_after_frames: Option<u32>,
    /// Send garbage bytes before each frame.
    pub garbage: bool,
    /// Corrupt the CRC / HMAC / GCM tag of every frame sent.
    pub bad_integrity: bool,
    /// Refuse (accept and close) connections for this long after the simulator starts.
    #[serde(with = "opt_ms", rename = "refuse_for_ms")]
    pub refuse_for: Option<Duration>,
}

/// The connection rules of real firmware, from Tuya's own device SDK (`tuya_lan.c` in
/// tuya-open-sdk-for-device) and user reports. The default keeps the simulator lenient (one
/// client, frames it cannot use ignored); [`Firmware::strict`] turns every rule on with the
/// values the SDK uses. Changes through `DeviceHandle::set_firmware` apply to the next frame
/// received, except where a field says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Firmware {
    /// LAN clients served at once; one more is accepted and closed at once. Every client gets
    /// every push and has its own session and sequence tracking. Older firmware serves 1 (the
    /// default), newer firmware 3 (`CLIENT_LMT`). 0 is refused as invalid. Applies to
    /// connections accepted after a change.
    pub max_clients: u8,
    /// Each frame's sequence number (read from its header, before decryption) must be greater
    /// than the previous frame's on that connection; a frame that is not is dropped unanswered
    /// and the connection closed.
    pub strict_seq: bool,
    /// A 3.4/3.5 session key whose first byte is 0x00 counts as no key (the SDK tests the first
    /// byte for "key set"): data frames are then ignored as before a negotiation (and counted by
    /// `pre_session_limit`), and a new SESS_KEY_NEG_START starts afresh. Real devices hit this
    /// in about 1 handshake in 256.
    pub zero_key_is_no_key: bool,
    /// Test knob: the device's first N handshakes (counted per device, across connections)
    /// derive a session key whose first byte is 0x00, the device choosing its nonce to make it
    /// so. Lets a client's handling of the 1-in-256 case be tested deterministically.
    pub zero_key_handshakes: u32,
    /// 3.4/3.5: frames other than SESS_KEY_NEG_START / SESS_KEY_NEG_FINISH arriving while the
    /// connection has no session key: up to N are ignored, the next closes the connection
    /// (counted per connection). `None`: all are ignored (the SDK: 3).
    pub pre_session_limit: Option<u8>,
    /// A client frame longer than this many bytes in all is not processed: the device closes
    /// the connection, as soon as the header declares the length when it can (the SDK: 4096).
    /// The simulator never buffers more than 16 KiB a frame whatever this says. A connection
    /// reads the early header check's limit when it opens; complete frames are checked against
    /// the current value.
    pub max_frame: Option<u32>,
    /// A frame the device cannot use (bad framing, wrong key or version, bad CRC/HMAC/tag, not
    /// JSON where JSON is expected) closes the connection at once instead of being ignored.
    pub close_on_bad_frame: bool,
    /// Whether the device answers REQ_DEVINFO (UDP 7000) datagrams. `None`: only 3.5 devices
    /// do, as real firmware (see [`Firmware::answers_devinfo_for`]).
    pub answers_devinfo: Option<bool>,
}

impl Default for Firmware {
    fn default() -> Self {
        Self {
            max_clients: 1,
            strict_seq: false,
            zero_key_is_no_key: false,
            zero_key_handshakes: 0,
            pre_session_limit: None,
            max_frame: None,
            close_on_bad_frame: false,
            answers_devinfo: None,
        }
    }
}

impl Firmware {
    /// Every rule of the SDK with its real value: 3 clients, increasing sequence numbers, a
    /// 0x00-led session key taken as none, 3 frames tolerated before a session key, frames over
    /// 4096 bytes and frames that cannot be used close the connection. `zero_key_handshakes`
    /// stays 0 and `answers_devinfo` follows the version. The SDK's idle close (30 s without an
    /// incoming frame) is `DeviceSpec::heartbeat_timeout`, on whatever the firmware.
    pub fn strict() -> Self {
        Self {
            max_clients: 3,
            strict_seq: true,
            zero_key_is_no_key: true,
            zero_key_handshakes: 0,
            pre_session_limit: Some(3),
            max_frame: Some(4096),
            close_on_bad_frame: true,
            answers_devinfo: None,
        }
    }

    /// Whether a device of `version` answers REQ_DEVINFO under these rules.
    pub fn answers_devinfo_for(&self, version: Version) -> bool {
        self.answers_devinfo.unwrap_or(version == Version::V35)
    }
}

/// `Option<Duration>` as milliseconds in JSON.
mod opt_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(d.as_millis() as u64),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let s = DeviceSpec::new("d", "0123456789abcdef", Version::V33, Ipv4Addr::LOCALHOST);
        let text = format!("{s:?}");
        assert!(
            !text.contains("0123456789abcdef") && text.contains("****"),
            "{text}"
        );
    }

    #[test]
    fn quirks_and_faults_read_json_with_millisecond_durations() {
        let q: Quirks = serde_json::from_str(
            r#"{"own_seq":true,"push_only_dps":[18],"multi_dp":"half_apply","min_command_gap_ms":500}"#,
        )
        .unwrap();
        assert!(q.own_seq);
        assert_eq!(q.push_only_dps, vec![DpId(18)]);
        assert_eq!(q.multi_dp, MultiDp::HalfApply);
        assert_eq!(q.min_command_gap, Some(Duration::from_millis(500)));
        let f: Faults = serde_json::from_str(r#"{"delay_ms":20,"drop_ratio":0.5}"#).unwrap();
        assert_eq!(f.delay, Some(Duration::from_millis(20)));
        assert_eq!(f.drop_ratio, 0.5);
        assert!(serde_json::from_str::<Faults>(r#"{"dleay_ms":20}"#).is_err());
    }

    #[test]
    fn firmware_json_defaults_to_todays_behaviour_and_refuses_typos() {
        let f: Firmware = serde_json::from_str("{}").unwrap();
        assert_eq!(f, Firmware::default());
        assert_eq!(f.max_clients, 1);
        assert!(f.answers_devinfo_for(Version::V35) && !f.answers_devinfo_for(Version::V33));
        let f: Firmware = serde_json::from_str(
            r#"{"max_clients":3,"pre_session_limit":3,"answers_devinfo":true}"#,
        )
        .unwrap();
        assert_eq!(f.max_clients, 3);
        assert_eq!(f.pre_session_limit, Some(3));
        assert!(f.answers_devinfo_for(Version::V33));
        assert!(serde_json::from_str::<Firmware>(r#"{"max_client":3}"#).is_err());
        let s = Firmware::strict();
        assert_eq!((s.max_clients, s.max_frame), (3, Some(4096)));
        assert!(s.strict_seq && s.zero_key_is_no_key && s.close_on_bad_frame);
    }
}
