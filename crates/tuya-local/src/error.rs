//! The client's error type: every variant names a cause a user can act on.

use tuya_proto::client::ClientError;
use tuya_proto::Version;

/// What went wrong talking to a device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The device's frames do not verify with our key.
    #[error("wrong local key: {0} (a re-paired device gets a new key)")]
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
    /// Nothing accepts connections at the device's address and port.
    #[error("connection refused: {0}")]
    Refused(String),
    /// 3.4/3.5 session negotiation failed for a reason other than the key.
    #[error("session negotiation failed: {0} (does the device speak this version? omit --version to auto-detect)")]
    Negotiation(String),
    /// The device accepted the connection and dropped it at once.
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
    /// Whether retrying on a new connection cannot help without the user changing something.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Error::WrongKey(_) | Error::WrongVersion { .. } | Error::Config(_)
        )
    }

    /// The TCP connection itself failed: the host is not there, or nothing listens.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Offline(_) | Error::Refused(_))
    }
}

impl From<ClientError> for Error {
    fn from(e: ClientError) -> Self {
        use ClientError as C;
        match e {
            C::WrongKey { detail, .. } => Error::WrongKey(detail),
            C::WrongVersion { tried, detail } => Error::WrongVersion { tried, detail },
            C::Corrupt { source } => Error::Corrupt(source.to_string()),
            C::Undecodable { source } => Error::Device(format!("undecodable frame: {source}")),
            C::Busy { detail } => Error::Busy(detail),
            C::Timeout { cmd, millis, hint } => Error::Timeout(format!(
                "no reply to {cmd} within {:.1} s{hint}",
                millis as f64 / 1000.0
            )),
            e @ C::Unresponsive { .. } => Error::Offline(e.to_string()),
            e @ (C::Expired | C::QueueFull(_)) => Error::Timeout(e.to_string()),
            C::ConnectionLost(d) => Error::ConnectionLost(d.describe().into()),
            C::MaybeApplied(d) => Error::ConnectionLost(format!(
                "{}; the command may or may not have been applied",
                d.describe()
            )),
            C::Device(text) => Error::Device(text),
            e @ (C::TooLarge { .. } | C::Encode { .. }) => Error::Config(e.to_string()),
            C::Negotiation(why) => Error::Negotiation(why),
            C::UnknownVersion(why) => Error::UnknownVersion(why),
            e @ C::Silent { .. } => Error::Timeout(e.to_string()),
            C::Closed => Error::Closed,
            e => Error::Device(e.to_string()),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
