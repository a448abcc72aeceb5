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
}
