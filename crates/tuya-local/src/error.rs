//! The client's error type: every variant names a cause a user can act on.

use tuya_proto::Version;

/// What went wrong talking to a device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The device's frames do not verify with our key.
    #[error("wrong local key: {0} (re-pair the device or fetch its current key, e.g. with tinytuya wizard)")]
    WrongKey(String),
    /// The device speaks another protocol version.
    #[error("wrong protocol version {tried}: {detail} (omit --version to auto-detect)")]
    WrongVersion {
        /// The version we used.
        tried: Version,
        /// What showed it.
        detail: String,
    },
    /// Frames fail their integrity check (CRC) while the key and version look right.
    #[error("corrupted frames: {0}")]
    Corrupt(String),
    /// No version answered during auto-detection.
    #[error("could not detect the protocol version: {0}")]
    UnknownVersion(String),
    /// The device accepted the connection and dropped it at once, or refused it.
    #[error("device busy: {0} (a device serves one client at a time: close the Smart Life app, Home Assistant or any other local client)")]
    Busy(String),
    /// No reply in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The device cannot be reached.
    #[error("device offline: {0}")]
    Offline(String),
    /// The connection broke while a request was in flight.
    #[error("connection lost: {0}")]
    ConnectionLost(String),
    /// The device answered with an error string.
    #[error("device error: {0}")]
    Device(String),
    /// A configuration problem (bad key length, unknown device name, ...).
    #[error("{0}")]
    Config(String),
    /// The device handle's connection task has stopped.
    #[error("device handle closed")]
    Closed,
}

impl Error {
    /// Classifies a protocol decode error: keys and versions are what a user can fix.
    pub(crate) fn from_proto(version: Version, e: &tuya_proto::Error) -> Self {
        use tuya_proto::Error as P;
        match e {
            P::HmacMismatch
            | P::TagMismatch
            | P::BadPadding(_)
            | P::SignatureMismatch
            | P::NegotiationBadDeviceHmac
            | P::NegotiationBadClientHmac => Error::WrongKey(e.to_string()),
            P::CrcMismatch(_) => Error::Corrupt(e.to_string()),
            P::WrongFraming { .. } | P::BadBase64 | P::BadBlockLength(_) => Error::WrongVersion {
                tried: version,
                detail: e.to_string(),
            },
            P::Device(s) => Error::Device(s.clone()),
            other => Error::Device(format!("undecodable frame: {other}")),
        }
    }

    /// Whether retrying on a new connection cannot help without the user changing something.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Error::WrongKey(_) | Error::WrongVersion { .. } | Error::Config(_)
        )
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
