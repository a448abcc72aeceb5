//! One entry of devices.json.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tuya_proto::{DpId, Version};

/// One entry of devices.json. Its `Debug` never shows the local key.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceEntry {
    /// Device id.
    #[serde(default)]
    pub id: String,
    /// Human name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Local key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Address, when known (`""` or `"0.0.0.0"` in tinytuya files means unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Protocol version: a string ("3.3") or a number (3.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Value>,
    /// DP descriptions: `{"1": {"code": "switch_1", "type": "Boolean", ...}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<Value>,
    /// A gateway sub-device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<bool>,
    /// The gateway's id, for sub-devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The sub-device's node id (the `cid` on the wire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Every other field, kept as found.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl std::fmt::Debug for DeviceEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceEntry")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("key", &self.key.as_ref().map(|_| "****"))
            .field("ip", &self.ip)
            .field("version", &self.version)
            .field("mapping", &self.mapping.as_ref().map(|_| ".."))
            .field("sub", &self.sub)
            .field("parent", &self.parent)
            .field("node_id", &self.node_id)
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl DeviceEntry {
    /// The name, or the id when unnamed.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// The protocol version, if the entry names a known one.
    pub fn version(&self) -> Option<Version> {
        // tinytuya's snapshot.json calls it `ver`.
        let v = self.version.as_ref().or_else(|| self.extra.get("ver"))?;
        match v {
            Value::String(s) => s.trim().parse().ok(),
            Value::Number(n) => format!("{:.1}", n.as_f64()?).parse().ok(),
            _ => None,
        }
    }

    /// The address, if usable.
    pub fn ip(&self) -> Option<IpAddr> {
        let ip: IpAddr = self.ip.as_deref()?.trim().parse().ok()?;
        (!ip.is_unspecified()).then_some(ip)
    }

    /// Whether this entry is a gateway child.
    pub fn is_sub(&self) -> bool {
        self.sub == Some(true) || self.parent.is_some() && self.node_id.is_some()
    }

    /// The DP's `code` from `mapping`.
    pub fn dp_name(&self, dp: DpId) -> Option<&str> {
        self.mapping
            .as_ref()?
            .get(dp.to_string())?
            .get("code")?
            .as_str()
    }

    /// DP ids listed in `mapping`.
    pub fn known_dps(&self) -> Vec<DpId> {
        let mut v: Vec<DpId> = self
            .mapping
            .as_ref()
            .and_then(Value::as_object)
            .map(|m| m.keys().filter_map(|k| k.parse().ok()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl DeviceEntry {
    /// The TCP port (`port` field; 6668 when absent or unusable).
    pub fn port(&self) -> u16 {
        self.extra
            .get("port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(crate::DEFAULT_PORT)
    }

    /// A string field kept among the unknown ones (`product_key`, `category`, `model`, …).
    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.extra
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use crate::DevicesFile;

    #[test]
    fn debug_never_shows_a_key() {
        let f = DevicesFile::parse(
            r#"{"timestamp": 1, "devices": [{"id": "a", "name": "Lamp", "key": "s3cr3t!<&>s3cr3t",
                "local_key": "s3cr3t!<&>s3cr3t", "ip": "127.0.0.1"}]}"#,
        )
        .unwrap();
        let d = format!("{f:?} {:?}", f.entries[0]);
        assert!(!d.contains("s3cr3t"), "{d}");
        assert!(
            d.contains("Lamp") && d.contains("127.0.0.1") && d.contains("****"),
            "{d}"
        );
    }
}
