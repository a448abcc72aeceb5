//! Keys: the device's local key and the negotiated session key.

use std::fmt;

use crate::Error;

/// A device's 16-character local key, used raw as an AES-128 key.
///
/// Its `Debug` and `Display` never print the key.
///
/// ```
/// use tuya_proto::LocalKey;
/// let k = LocalKey::new("0123456789abcdef").unwrap();
/// assert_eq!(format!("{k:?}"), "LocalKey(****)");
/// assert!(LocalKey::new("short").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct LocalKey([u8; 16]);

impl LocalKey {
    /// Builds a key from the 16 characters of the local key.
    pub fn new(key: &str) -> Result<Self, Error> {
        Self::from_bytes(key.as_bytes())
    }

    /// Builds a key from 16 raw bytes.
    pub fn from_bytes(key: &[u8]) -> Result<Self, Error> {
        let arr: [u8; 16] = key.try_into().map_err(|_| Error::BadKeyLength(key.len()))?;
        Ok(Self(arr))
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The key as text, for the rare places that must show it (`--show-keys`).
    pub fn reveal(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

impl fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalKey(****)")
    }
}

impl std::str::FromStr for LocalKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

/// A 16-byte session key negotiated by 3.4/3.5 devices.
///
/// ```
/// use tuya_proto::SessionKey;
/// let k = SessionKey::from_hex("ffeeddccbbaa99887766554433221100").unwrap();
/// assert_eq!(k.as_bytes()[0], 0xff);
/// assert_eq!(format!("{k:?}"), "SessionKey(****)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SessionKey(pub(crate) [u8; 16]);

impl SessionKey {
    /// Wraps 16 raw bytes.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self(b)
    }

    /// Parses 32 hex digits.
    pub fn from_hex(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        if s.len() != 32 || !s.is_ascii() {
            return Err(Error::BadSessionKey);
        }
        let mut out = [0u8; 16];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| Error::BadSessionKey)?;
        }
        Ok(Self(out))
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Lower-case hex, for `--show-keys`.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(****)")
    }
}
