//! What the capture decoder reports: one [`Record`] per frame, datagram, negotiated session or
//! problem, and the [`Problem`]s that can stop a frame from decoding.

use std::net::SocketAddr;

use serde::Serialize;
use tuya_proto::discovery::Datagram;
use tuya_proto::{Message, SessionKey, Version};

use crate::reader::Timestamp;

/// Which way a record travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// App → device (TCP).
    ClientToDevice,
    /// Device → app (TCP).
    DeviceToClient,
    /// A discovery datagram.
    Udp,
}

impl Direction {
    /// A short arrow for one-line output.
    pub fn arrow(self) -> &'static str {
        match self {
            Self::ClientToDevice => "app->dev",
            Self::DeviceToClient => "dev->app",
            Self::Udp => "udp",
        }
    }
}

/// The device a record belongs to, when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceRef {
    /// Friendly name ("" when unknown).
    pub name: String,
    /// Device id ("" when unknown).
    pub id: String,
}

impl DeviceRef {
    /// The name, else the id, else "?".
    pub fn label(&self) -> &str {
        crate::keys::label(&self.name, &self.id)
    }
}

/// Why a frame (or stretch of stream) could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The protocol layer rejected the frame (wrong key, wrong version, corrupt, …).
    #[error(transparent)]
    Proto(#[from] tuya_proto::Error),
    /// No key is known for the device.
    #[error("no local key for the device at {0}: add it to devices.json (--keys) or pass --key")]
    NoKey(std::net::IpAddr),
    /// None of the keys decode the frame and no device is recorded at the address.
    #[error("none of the {tried} keys decodes this frame (first error: {first}); is the device at {ip} in devices.json?")]
    UnknownDevice {
        /// The device's address.
        ip: std::net::IpAddr,
        /// How many keys were tried.
        tried: usize,
        /// The first key's error.
        first: tuya_proto::Error,
    },
    /// A 3.4/3.5 data frame on a connection whose session negotiation is not in the capture.
    #[error("{0} frame sent under a session key negotiated before the capture started: capture from before the app connects (or give the session key)")]
    MissedNegotiation(tuya_proto::Version),
    /// Bytes of the TCP stream are missing from the capture.
    #[error("{missing} bytes of the stream are missing from the capture (packet loss, or a snap length cut packets); decoding resumes at the next frame")]
    Gap {
        /// Missing byte count (0 when unknown).
        missing: u64,
    },
    /// The stream ended inside a frame.
    #[error("the stream ends {have} bytes into a frame (capture stopped mid-frame, or the last packet was cut by the snap length)")]
    Incomplete {
        /// Bytes of the partial frame that were captured.
        have: usize,
    },
}

impl Problem {
    /// A stable short name for summaries and JSON ("hmac_mismatch", "gap", …).
    pub fn kind(&self) -> &'static str {
        use tuya_proto::Error as E;
        match self {
            Problem::Proto(e) | Problem::UnknownDevice { first: e, .. } => match e {
                E::CrcMismatch(_) => "crc_mismatch",
                E::HmacMismatch => "hmac_mismatch",
                E::TagMismatch => "tag_mismatch",
                E::BadPadding(_) | E::SignatureMismatch => "wrong_key",
                E::Truncated { .. } => "truncated",
                E::NoSessionKey(..) => "no_session_key",
                E::WrongFraming { .. } => "wrong_version",
                E::BadPrefix(_) | E::BadSuffix(_) | E::TooLong { .. } | E::TooShort(_) => {
                    "bad_frame"
                }
                _ => "decode_error",
            },
            Problem::NoKey(_) => "no_key",
            Problem::MissedNegotiation(_) => "no_session_key",
            Problem::Gap { .. } => "gap",
            Problem::Incomplete { .. } => "incomplete",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A decoded TCP frame.
    Frame(Message),
    /// A decoded discovery datagram (announcement or REQ_DEVINFO).
    Discovery(Datagram),
    /// A 3.4/3.5 session key was derived from the negotiation seen on this connection; frames
    /// after it decode with it. Its Debug form hides it.
    SessionKey(SessionKey),
    /// Something could not be decoded.
    Failed(Problem),
}

/// One decoded (or failed) unit of traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Capture time of the packet that completed it.
    pub time: Timestamp,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Which way it went.
    pub direction: Direction,
    /// The device, when identified.
    pub device: Option<DeviceRef>,
    /// Protocol version used to decode it.
    pub version: Option<Version>,
    /// The frame or datagram bytes (empty for gaps and session events).
    pub bytes: Vec<u8>,
    /// What it was.
    pub event: Event,
}
