//! Protocol versions and the per-version behaviour table.

use std::fmt;
use std::str::FromStr;

use crate::{Command, Error};

/// A Tuya LAN protocol version.
///
/// ```
/// use tuya_proto::Version;
/// assert_eq!("3.3".parse::<Version>().unwrap(), Version::V33);
/// assert_eq!(Version::try_from(3.4).unwrap(), Version::V34);
/// assert!("3.9".parse::<Version>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// 3.1: plaintext queries, md5-signed base64 control.
    V31,
    /// 3.2: 3.3 framing with the device22 query quirk.
    V32,
    /// 3.3: AES-128-ECB under the local key, CRC32.
    V33,
    /// 3.4: session key, HMAC-SHA256 trailer.
    V34,
    /// 3.5: 6699 framing, AES-128-GCM under the session key.
    V35,
}

/// Which integrity/confidentiality envelope a version's frames use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// 000055AA frames with a CRC32 trailer.
    Crc,
    /// 000055AA frames with an HMAC-SHA256 trailer.
    Hmac,
    /// 00006699 frames sealed with AES-GCM.
    Gcm,
}

impl Version {
    /// All versions, oldest first.
    pub const ALL: [Version; 5] = [Self::V31, Self::V32, Self::V33, Self::V34, Self::V35];

    /// The version as written on the wire and in devices.json ("3.3").
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V31 => "3.1",
            Self::V32 => "3.2",
            Self::V33 => "3.3",
            Self::V34 => "3.4",
            Self::V35 => "3.5",
        }
    }

    /// The frame format used by this version.
    pub fn framing(self) -> Framing {
        match self {
            Self::V31 | Self::V32 | Self::V33 => Framing::Crc,
            Self::V34 => Framing::Hmac,
            Self::V35 => Framing::Gcm,
        }
    }

    /// Whether data frames are encrypted with a negotiated session key.
    pub fn uses_session_key(self) -> bool {
        matches!(self, Self::V34 | Self::V35)
    }

    /// Whether the 15-byte version header sits inside the encryption (3.4+) rather than before it.
    pub fn header_inside(self) -> bool {
        self.uses_session_key()
    }

    /// The command used to read the DPs.
    pub fn query_command(self) -> Command {
        if self.uses_session_key() {
            Command::DpQueryNew
        } else {
            Command::DpQuery
        }
    }

    /// The command used to set DPs.
    pub fn control_command(self) -> Command {
        if self.uses_session_key() {
            Command::ControlNew
        } else {
            Command::Control
        }
    }

    /// Whether a frame of this command carries the "3.x" version header when *we* encode it.
    ///
    /// 3.1 never carries it (its signed form starts with "3.1" of its own).
    pub fn header_on(self, cmd: Command) -> bool {
        self != Self::V31 && !cmd.is_header_exempt()
    }

    /// The 15-byte version header: "3.x" followed by 12 zero bytes.
    pub fn header(self) -> [u8; 15] {
        let mut h = [0u8; 15];
        h[..3].copy_from_slice(self.as_str().as_bytes());
        h
    }

    /// Whether this version needs the "device22" way of querying (3.2 always does).
    pub fn implies_device22(self) -> bool {
        self == Self::V32
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Version {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let t = s.trim().trim_start_matches(['v', 'V']);
        match t {
            "3.1" | "31" => Ok(Self::V31),
            "3.2" | "32" => Ok(Self::V32),
            "3.3" | "33" => Ok(Self::V33),
            "3.4" | "34" => Ok(Self::V34),
            "3.5" | "35" => Ok(Self::V35),
            _ => {
                // Accept "3.30" or "3.3.0" style spellings of a known version.
                if let Ok(f) = t.parse::<f64>() {
                    if let Ok(v) = Self::try_from(f) {
                        return Ok(v);
                    }
                }
                Err(Error::UnknownVersion(s.to_string()))
            }
        }
    }
}

impl TryFrom<f64> for Version {
    type Error = Error;
    fn try_from(f: f64) -> Result<Self, Error> {
        let tenths = (f * 10.0).round();
        if (f * 10.0 - tenths).abs() > 1e-6 {
            return Err(Error::UnknownVersion(f.to_string()));
        }
        match tenths as i64 {
            31 => Ok(Self::V31),
            32 => Ok(Self::V32),
            33 => Ok(Self::V33),
            34 => Ok(Self::V34),
            35 => Ok(Self::V35),
            _ => Err(Error::UnknownVersion(f.to_string())),
        }
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match &v {
            serde_json::Value::String(s) => s.parse().map_err(serde::de::Error::custom),
            serde_json::Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| serde::de::Error::custom("bad version"))
                .and_then(|f| Version::try_from(f).map_err(serde::de::Error::custom)),
            _ => Err(serde::de::Error::custom(format!(
                "protocol version must be a string or number, got {v}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_spellings() {
        assert_eq!("3.1".parse::<Version>().unwrap(), Version::V31);
        assert_eq!(" v3.5 ".parse::<Version>().unwrap(), Version::V35);
        assert_eq!("3.30".parse::<Version>().unwrap(), Version::V33);
        assert_eq!(Version::try_from(3.2).unwrap(), Version::V32);
        let v: Version = serde_json::from_str("3.4").unwrap();
        assert_eq!(v, Version::V34);
        let v: Version = serde_json::from_str("\"3.5\"").unwrap();
        assert_eq!(v, Version::V35);
    }

    #[test]
    fn unknown_versions_are_named() {
        let e = "3.7".parse::<Version>().unwrap_err();
        assert!(e.to_string().contains("\"3.7\""), "{e}");
        assert!(Version::try_from(2.2).is_err());
        assert!("".parse::<Version>().is_err());
    }

    #[test]
    fn header_table() {
        assert!(!Version::V33.header_on(Command::DpQuery));
        assert!(Version::V33.header_on(Command::Control));
        assert!(!Version::V34.header_on(Command::HeartBeat));
        assert!(Version::V35.header_on(Command::ControlNew));
        assert!(!Version::V31.header_on(Command::Control));
        assert_eq!(&Version::V34.header()[..3], b"3.4");
    }
}
