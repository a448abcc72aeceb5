//! Why a request or a connection failed, as the client engine sees it: each variant a cause a
//! user can act on, so drivers and front ends map them without reading the text.

use crate::{Command, Version};

/// How the transport under a connection ended (reported by the driver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnect {
    /// The device closed the connection (end of stream).
    Closed,
    /// The device reset the connection.
    Reset,
    /// A write could not complete in time: the device stopped reading.
    WriteStalled,
    /// Any other transport error.
    Other,
}

impl Disconnect {
    /// What happened, in words a user reads.
    pub fn describe(self) -> &'static str {
        match self {
            Disconnect::Closed => "the device closed the connection",
            Disconnect::Reset => {
                "the device reset the connection (busy with another client, or local control disabled)"
            }
            Disconnect::WriteStalled => "the device stopped reading (send timed out)",
            Disconnect::Other => "the connection failed",
        }
    }
}

/// What went wrong on a client connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The device's frames do not verify with our key, or it ignores ours.
    #[error("wrong local key: {detail}")]
    WrongKey {
        /// What showed it.
        detail: String,
        /// The decode error behind it, when a frame showed it.
        #[source]
        source: Option<crate::Error>,
    },
    /// The device speaks another protocol version.
    #[error("wrong protocol version {tried}: {detail}")]
    WrongVersion {
        /// The version we used.
        tried: Version,
        /// What showed it.
        detail: String,
    },
    /// Frames fail their integrity check (CRC) while key and version look right.
    #[error("corrupted frames: {source}")]
    Corrupt {
        /// The decode error.
        #[source]
        source: crate::Error,
    },
    /// A frame the device sent could not be understood for another reason.
    #[error("undecodable frame: {source}")]
    Undecodable {
        /// The decode error.
        #[source]
        source: crate::Error,
    },
    /// The device dropped the connection before it said anything: it serves another client,
    /// or does not speak this version.
    #[error("device busy: {detail}")]
    Busy {
        /// When and how it happened.
        detail: String,
    },
    /// No reply in time to one request; the connection is still usable.
    #[error("timed out: no reply to {cmd} within {:.1} s{hint}", *.millis as f64 / 1000.0)]
    Timeout {
        /// The command that went unanswered.
        cmd: &'static str,
        /// How long we waited, in milliseconds.
        millis: u64,
        /// What the silence most likely means.
        hint: &'static str,
    },
    /// Requests in a row went unanswered: the connection is considered dead.
    #[error("{misses} requests in a row went unanswered (last: {last})")]
    Unresponsive {
        /// How many.
        misses: u32,
        /// The last timeout.
        last: Box<ClientError>,
    },
    /// The request waited in the queue past its deadline.
    #[error("the command waited past its deadline")]
    Expired,
    /// The request queue of this connection is full.
    #[error("too many commands queued ({0})")]
    QueueFull(usize),
    /// The transport broke.
    #[error("connection lost: {}", .0.describe())]
    ConnectionLost(Disconnect),
    /// The connection broke while a command that changes state was in flight.
    #[error("connection lost ({}); the command may or may not have been applied", .0.describe())]
    MaybeApplied(Disconnect),
    /// The device answered with an error string.
    #[error("device error: {0}")]
    Device(String),
    /// A frame we would send exceeds what the device accepts.
    #[error("{cmd} frame of {len} bytes exceeds the device's limit of {limit} bytes")]
    TooLarge {
        /// The command.
        cmd: &'static str,
        /// Its encoded length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// 3.4/3.5 session negotiation failed for a reason other than the key.
    #[error("session negotiation failed: {0}")]
    Negotiation(String),
    /// No protocol version answered during detection.
    #[error("could not detect the protocol version: no version answered ({0})")]
    UnknownVersion(String),
    /// During detection the device accepted every connection and answered none of them.
    #[error("accepted the connection but answered none of the protocol versions tried ({tried}): check the local key (devices ignore frames they cannot verify), or the device is hung")]
    Silent {
        /// The versions tried, e.g. `3.5, 3.4, 3.3, 3.1`.
        tried: String,
    },
    /// A request that cannot be encoded (a bug or a bad argument).
    #[error("cannot encode {cmd}: {source}")]
    Encode {
        /// The command.
        cmd: Command,
        /// Why.
        #[source]
        source: crate::Error,
    },
    /// The connection was closed by us.
    #[error("closed by the client")]
    Closed,
}

impl ClientError {
    /// Classifies a decode error: keys and versions are what a user can fix.
    pub fn from_decode(version: Version, e: &crate::Error) -> Self {
        use crate::Error as P;
        match e {
            P::HmacMismatch
            | P::TagMismatch
            | P::BadPadding(_)
            | P::SignatureMismatch
            | P::NegotiationBadDeviceHmac
            | P::NegotiationBadClientHmac => ClientError::WrongKey {
                detail: e.to_string(),
                source: Some(e.clone()),
            },
            P::CrcMismatch(_) => ClientError::Corrupt { source: e.clone() },
            P::WrongFraming { .. } | P::BadBase64 | P::BadBlockLength(_) => {
                ClientError::WrongVersion {
                    tried: version,
                    detail: e.to_string(),
                }
            }
            P::Device(s) => ClientError::Device(s.clone()),
            other => ClientError::Undecodable {
                source: other.clone(),
            },
        }
    }

    /// Whether retrying on a new connection cannot help without the user changing something.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ClientError::WrongKey { .. } | ClientError::WrongVersion { .. }
        )
    }
}
