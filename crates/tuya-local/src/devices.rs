//! Reading devices.json (tinytuya's format): a list of objects with `name`, `id`, `key`, `ip`,
//! `version`, `mapping`, and for gateway children `sub`, `parent`, `node_id`. Fields we do not
//! know are kept.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tuya_proto::{DpId, LocalKey, Version};

use crate::config::DeviceConfig;
use crate::error::{Error, Result};

/// The Tuya LAN port.
pub const DEFAULT_PORT: u16 = 6668;

/// One entry of devices.json.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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

impl DeviceEntry {
    /// The name, or the id when unnamed.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// The protocol version, if the entry names a known one.
    pub fn version(&self) -> Option<Version> {
        match self.version.as_ref()? {
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

/// The contents of a devices.json.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DevicesFile {
    /// The entries, in file order.
    pub entries: Vec<DeviceEntry>,
}

/// How to reach a device from a devices.json entry: its own connection, or its gateway's.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The connection to open (the gateway's, for a sub-device).
    pub config: DeviceConfig,
    /// The sub-device's cid, when the entry is a gateway child.
    pub cid: Option<String>,
}

impl DevicesFile {
    /// Parses the JSON text of a devices.json.
    pub fn parse(text: &str) -> Result<Self> {
        let entries: Vec<DeviceEntry> = serde_json::from_str(text)
            .map_err(|e| Error::Config(format!("devices.json is not a list of devices: {e}")))?;
        Ok(Self { entries })
    }

    /// Reads a devices.json file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text)
    }

    /// The entry whose id or name is `name_or_id` (ids first; names case-insensitively).
    pub fn find(&self, name_or_id: &str) -> Option<&DeviceEntry> {
        self.entries
            .iter()
            .find(|e| e.id == name_or_id)
            .or_else(|| {
                self.entries.iter().find(|e| {
                    e.name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name_or_id))
                })
            })
    }

    /// The entry with this id.
    pub fn by_id(&self, id: &str) -> Option<&DeviceEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// Sub-devices of the gateway `id`.
    pub fn children_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a DeviceEntry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.is_sub() && e.parent.as_deref() == Some(id))
    }

    /// The connection to open for `entry` (its gateway's for a sub-device).
    pub fn resolve(&self, entry: &DeviceEntry) -> Result<Resolved> {
        if entry.is_sub() {
            let parent_id = entry.parent.as_deref().unwrap_or_default();
            let parent = self.by_id(parent_id).ok_or_else(|| {
                Error::Config(format!(
                    "{}: its gateway {parent_id:?} is not in devices.json",
                    entry.label()
                ))
            })?;
            let mut r = self.resolve(parent)?;
            r.cid = Some(entry.node_id.clone().unwrap_or_else(|| entry.id.clone()));
            return Ok(r);
        }
        let key = entry
            .key
            .as_deref()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                Error::Config(format!("{}: no local key in devices.json", entry.label()))
            })?;
        let key =
            LocalKey::new(key).map_err(|e| Error::Config(format!("{}: {e}", entry.label())))?;
        let ip = entry.ip().ok_or_else(|| {
            Error::Config(format!(
                "{}: no IP address in devices.json (run `tuyactl scan --update`)",
                entry.label()
            ))
        })?;
        let port = entry
            .extra
            .get("port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(DEFAULT_PORT);
        let mut cfg = DeviceConfig::new(entry.id.clone(), key, SocketAddr::new(ip, port));
        cfg.version = entry.version();
        cfg.known_dps = entry.known_dps();
        cfg.gateway = self.children_of(&entry.id).next().is_some();
        Ok(Resolved {
            config: cfg,
            cid: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"[
      {"name":"Lamp","id":"bf01","key":"0123456789abcdef","ip":"127.0.0.1","version":"3.3",
       "mapping":{"1":{"code":"switch_led","type":"Boolean"},"3":{"code":"bright_value"}},
       "icon":"x.png"},
      {"name":"Hub","id":"gw1","key":"0123456789abcdef","ip":"127.0.0.2","version":3.4,"port":7000},
      {"name":"Sensor","id":"sub1","sub":true,"parent":"gw1","node_id":"cid1"},
      {"name":"Nokey","id":"nk","ip":"127.0.0.3"}
    ]"#;

    #[test]
    fn reads_tinytuya_layout_and_keeps_unknown_fields() {
        let f = DevicesFile::parse(SAMPLE).unwrap();
        let lamp = f.find("lamp").unwrap();
        assert_eq!(lamp.id, "bf01");
        assert_eq!(lamp.version(), Some(Version::V33));
        assert_eq!(lamp.dp_name(DpId(1)), Some("switch_led"));
        assert_eq!(lamp.known_dps(), vec![DpId(1), DpId(3)]);
        assert_eq!(lamp.extra["icon"], "x.png");
        let back = serde_json::to_value(lamp).unwrap();
        assert_eq!(back["icon"], "x.png");
        assert_eq!(f.find("Hub").unwrap().version(), Some(Version::V34));
    }

    #[test]
    fn resolves_sub_devices_through_their_gateway() {
        let f = DevicesFile::parse(SAMPLE).unwrap();
        let r = f.resolve(f.find("Sensor").unwrap()).unwrap();
        assert_eq!(r.config.id, "gw1");
        assert_eq!(r.cid.as_deref(), Some("cid1"));
        assert_eq!(r.config.addr.port(), 7000);
        assert!(r.config.gateway);
        let r = f.resolve(f.find("bf01").unwrap()).unwrap();
        assert!(!r.config.gateway);
        assert_eq!(r.config.addr.port(), DEFAULT_PORT);
        let e = f.resolve(f.find("Nokey").unwrap()).unwrap_err();
        assert!(e.to_string().contains("no local key"), "{e}");
        assert!(DevicesFile::parse("{}").is_err());
    }
}
