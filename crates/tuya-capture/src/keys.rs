//! The devices whose traffic can be decrypted: loaded from a tinytuya-style devices.json, or
//! a single key given on the command line.

use std::net::IpAddr;

use tuya_proto::{LocalKey, SessionKey, Version};

use crate::CaptureError;

/// One device with its local key.
#[derive(Debug, Clone)]
pub struct Device {
    /// Friendly name ("" when unknown).
    pub name: String,
    /// Device id (gwId / devId).
    pub id: String,
    /// Local key; its Debug form hides it.
    pub key: LocalKey,
    /// Last known address.
    pub ip: Option<IpAddr>,
    /// Protocol version, when known.
    pub version: Option<Version>,
}

impl Device {
    /// The name, else the id, else "?".
    pub fn label(&self) -> &str {
        label(&self.name, &self.id)
    }
}

/// The set of known devices.
#[derive(Debug, Clone, Default)]
pub struct KeyStore {
    devices: Vec<Device>,
    /// The key applies to any device address (`--key`).
    wildcard: bool,
    /// A session key known from elsewhere, for 3.4/3.5 captures that start after negotiation.
    session: Option<SessionKey>,
}

/// Entries that could not be used, with the reason (bad key length, …).
pub type Skipped = Vec<String>;

impl KeyStore {
    /// No keys: only plaintext 3.1 frames and discovery decode.
    pub fn empty() -> Self {
        Self::default()
    }

    /// One key for every device in the capture (`--key` with an optional `--version`).
    pub fn single(key: LocalKey, version: Option<Version>) -> Self {
        Self {
            devices: vec![Device {
                name: String::new(),
                id: String::new(),
                key,
                ip: None,
                version,
            }],
            wildcard: true,
            session: None,
        }
    }

    /// Adds a session key for 3.4/3.5 connections whose negotiation is not in the capture
    /// (a negotiation that is in the capture still replaces it on its connection).
    pub fn with_session_key(mut self, key: SessionKey) -> Self {
        self.session = Some(key);
        self
    }

    /// Uses `version` for the devices whose entry names none.
    pub fn with_default_version(mut self, version: Version) -> Self {
        for d in &mut self.devices {
            d.version.get_or_insert(version);
        }
        self
    }

    /// The session key given with [`KeyStore::with_session_key`].
    pub fn session_key(&self) -> Option<SessionKey> {
        self.session
    }

    /// Parses tinytuya's devices.json: a list of objects with `name`, `id`, `key`, `ip` and
    /// `version` (string or number). Entries without a usable key are skipped and reported.
    pub fn from_devices_json(text: &str) -> Result<(Self, Skipped), CaptureError> {
        let file = tuya_devices::DevicesFile::parse(text)
            .map_err(|e| CaptureError::Keys(e.to_string()))?;
        let mut devices = Vec::new();
        let mut skipped = Vec::new();
        for (i, e) in file.entries.iter().enumerate() {
            let key = match LocalKey::new(e.key.as_deref().unwrap_or("")) {
                Ok(k) => k,
                Err(err) => {
                    skipped.push(format!("entry {i} ({}): {err}", e.label()));
                    continue;
                }
            };
            devices.push(Device {
                name: e.name.clone().unwrap_or_default(),
                id: e.id.clone(),
                key,
                ip: e.ip(),
                version: e.version(),
            });
        }
        Ok((
            Self {
                devices,
                wildcard: false,
                session: None,
            },
            skipped,
        ))
    }

    /// All devices.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// Indices of the devices to try for traffic of a device at `ip`: those recorded at that
    /// address first, then every other one (addresses go stale under DHCP).
    pub fn candidates(&self, ip: IpAddr) -> Vec<usize> {
        let at_ip = |d: &Device| self.wildcard || d.ip == Some(ip);
        let mut c: Vec<usize> = (0..self.devices.len())
            .filter(|&i| at_ip(&self.devices[i]))
            .collect();
        c.extend((0..self.devices.len()).filter(|&i| !at_ip(&self.devices[i])));
        c
    }

    /// The device recorded at `ip`, if exactly known.
    pub fn by_ip(&self, ip: IpAddr) -> Option<usize> {
        self.devices.iter().position(|d| d.ip == Some(ip))
    }

    /// The device with this id.
    pub fn by_id(&self, id: &str) -> Option<usize> {
        if id.is_empty() {
            return None;
        }
        self.devices.iter().position(|d| d.id == id)
    }
}

/// How a device is named in output: its name, else its id, else "?".
pub(crate) fn label<'a>(name: &'a str, id: &'a str) -> &'a str {
    if !name.is_empty() {
        name
    } else if !id.is_empty() {
        id
    } else {
        "?"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tinytuya_format_and_skips_bad_keys() {
        let text = r#"[
          {"name": "Lamp", "id": "dev1", "key": "0123456789abcdef", "ip": "127.0.1.5", "version": "3.4"},
          {"name": "Plug", "id": "dev2", "key": "short", "ip": "127.0.1.6", "version": "3.3"},
          {"name": "Fan", "id": "dev3", "key": "fedcba9876543210", "ip": "", "version": 3.5}
        ]"#;
        let (ks, skipped) = KeyStore::from_devices_json(text).unwrap();
        assert_eq!(ks.devices().len(), 2);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].contains("Plug"), "{skipped:?}");
        assert_eq!(ks.devices()[0].version, Some(Version::V34));
        assert_eq!(ks.devices()[1].version, Some(Version::V35));
        assert_eq!(ks.devices()[1].ip, None);
        let ip: IpAddr = "127.0.1.5".parse().unwrap();
        assert_eq!(ks.by_ip(ip), Some(0));
        assert_eq!(ks.candidates("127.0.9.9".parse().unwrap()), vec![0, 1]);
        assert_eq!(ks.by_id("dev3"), Some(1));
        let ks = ks.with_default_version(Version::V33);
        assert_eq!(ks.devices()[0].version, Some(Version::V34));
        assert_eq!(ks.devices()[1].version, Some(Version::V35));
    }

    #[test]
    fn rejects_non_lists() {
        assert!(KeyStore::from_devices_json("{}").is_err());
        assert!(KeyStore::from_devices_json("nope").is_err());
    }
}
