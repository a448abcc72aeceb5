//! devices.json (tinytuya's format), through the shared typed model of [`tuya_devices`], and
//! how each entry is reached: its own connection, or its gateway's.

use std::net::SocketAddr;

pub use tuya_devices::{exposure_warning, DeviceEntry, DevicesError, DevicesFile, DEFAULT_PORT};
use tuya_proto::LocalKey;

use crate::config::DeviceConfig;
use crate::error::{Error, Result};

/// How to reach a device from a devices.json entry: its own connection, or its gateway's.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The connection to open (the gateway's, for a sub-device).
    pub config: DeviceConfig,
    /// The sub-device's cid, when the entry is a gateway child.
    pub cid: Option<String>,
}

/// Resolving entries into connections.
pub trait Resolve {
    /// The connection to open for `entry` (its gateway's for a sub-device).
    fn resolve(&self, entry: &DeviceEntry) -> Result<Resolved>;
}

impl Resolve for DevicesFile {
    fn resolve(&self, entry: &DeviceEntry) -> Result<Resolved> {
        if entry.is_sub() {
            // One level only: a gateway chain or cycle is an error, not a recursion.
            let gw = self
                .gateway_of(entry)
                .map_err(|e| Error::Config(e.to_string()))?;
            let mut r = self.resolve(gw)?;
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
        let mut cfg = DeviceConfig::new(entry.id.clone(), key, SocketAddr::new(ip, entry.port()));
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

    /// What resolving needs: a plain device, a gateway on another port, its child, and an
    /// entry without a key.
    const SAMPLE: &str = r#"[
      {"id":"bf01","key":"0123456789abcdef","ip":"127.0.0.1"},
      {"id":"gw1","key":"0123456789abcdef","ip":"127.0.0.2","port":7000},
      {"name":"Sensor","id":"sub1","sub":true,"parent":"gw1","node_id":"cid1"},
      {"name":"Nokey","id":"nk","ip":"127.0.0.3"}
    ]"#;

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
        // A gateway cycle is an error naming it, not a stack overflow.
        let cyc = DevicesFile::parse(
            r#"[{"id":"a","key":"0123456789abcdef","ip":"127.0.0.1","sub":true,"parent":"b","node_id":"1"},
                {"id":"b","key":"0123456789abcdef","ip":"127.0.0.1","sub":true,"parent":"a","node_id":"2"}]"#,
        )
        .unwrap();
        let e = cyc.resolve(cyc.by_id("a").unwrap()).unwrap_err();
        assert!(e.to_string().contains("cycle"), "{e}");
    }
}
