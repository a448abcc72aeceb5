//! The client engine: one connection to one device as a sans-IO state machine.
//!
//! A [`Connection`] is fed bytes ([`Connection::handle_input`]), time
//! ([`Connection::handle_timeout`]), the end of its transport
//! ([`Connection::handle_disconnect`]) and requests ([`Connection::submit`]); it answers with
//! bytes to write ([`Connection::poll_transmit`]), the next instant it wants to be woken
//! ([`Connection::poll_timeout`]) and [`Event`]s ([`Connection::poll_event`]). It owns every
//! protocol decision a client makes: 3.4/3.5 negotiation (and renegotiation when the session key
//! starts with 0x00, which firmware takes as "no key"), sequence numbers, matching replies to
//! requests on firmware that does not echo them, stale replies, one request in flight,
//! deadlines, heartbeats and the two-missed rule, the device22 and single-DP fallbacks, splitting
//! sets too large for the device, and DP state merging. It has no socket, no clock and no
//! randomness of its own, so every behaviour is testable in virtual time, frame by frame.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tuya_proto::client::{Connection, ConnectionConfig, Event, Memory, Request};
//! use tuya_proto::{LocalKey, Version};
//! let now = Instant::now();
//! let cfg = ConnectionConfig::new("bf0123", LocalKey::new("0123456789abcdef").unwrap(), Version::V33);
//! let mut conn = Connection::new(cfg, Memory::default(), now, 1_700_000_000, rand_core::OsRng);
//! let query = conn.poll_transmit().expect("the initial status query");
//! assert_eq!(&query[..4], &[0, 0, 0x55, 0xaa]);
//! // ... write it, feed the device's reply to conn.handle_input(&bytes, now), then:
//! while let Some(ev) = conn.poll_event() { let _ = ev; }
//! let id = conn.submit(Request::status(), now);
//! # let _ = id;
//! ```

mod connection;
mod error;
mod exchange;
mod ops;
mod probe;
mod state;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use connection::Connection;
pub use error::{ClientError, Disconnect};
pub use probe::{Attempt, VersionProbe};
pub use state::{Ignored, MAX_CHILDREN, MAX_DPS, MAX_STATE_BYTES, MAX_VALUE_LEN};

use crate::{Command, DpId, Dps, LocalKey, Version};

/// The largest frame real firmware accepts (Tuya's SDK rejects longer ones).
pub const DEVICE_MAX_FRAME: usize = 4096;
/// The largest frame we accept from a device: status JSON of big devices stays far below.
pub const CLIENT_MAX_FRAME: usize = 16 * 1024;
/// Consecutive unanswered requests after which the connection is considered dead.
pub const MAX_MISSES: u32 = 2;

/// How to talk to one device, and how patient to be.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Device id (`devId`/`gwId`; the gateway's id for sub-devices).
    pub dev_id: String,
    /// Local key.
    pub key: LocalKey,
    /// Protocol version of this connection.
    pub version: Version,
    /// A gateway: its cid-less query refusal does not mean device22, and no initial query.
    pub gateway: bool,
    /// Version detection: the first read must prove the version (a plaintext status on 3.2+ is
    /// a 3.1 device, a reply that is not JSON is another version), and any failure ends the
    /// connection so the next version can be tried.
    pub probe: bool,
    /// DP ids known to exist (from the mapping), named in device22 queries.
    pub known_dps: Vec<DpId>,
    /// How long to wait for each reply.
    pub request_timeout: Duration,
    /// Heartbeat interval on an idle connection (devices close sessions silent for 30 s).
    pub heartbeat_interval: Duration,
    /// How long to wait after a CONTROL ack for the pushes reporting the new values.
    pub push_wait: Duration,
    /// Minimum gap between two frames we send (some firmware drops commands sent too close).
    pub min_command_gap: Option<Duration>,
    /// Cap on a frame's declared length from the device.
    pub max_frame_in: usize,
    /// Largest frame we send (real firmware: 4 KiB).
    pub max_frame_out: usize,
    /// Requests that may wait in this connection's queue.
    pub max_queue: usize,
}

impl ConnectionConfig {
    /// Defaults: 5 s per reply, heartbeats every 10 s, 1 s for pushes after an ack.
    pub fn new(dev_id: impl Into<String>, key: LocalKey, version: Version) -> Self {
        Self {
            dev_id: dev_id.into(),
            key,
            version,
            gateway: false,
            probe: false,
            known_dps: Vec::new(),
            request_timeout: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(10),
            push_wait: Duration::from_millis(1000),
            min_command_gap: None,
            max_frame_in: CLIENT_MAX_FRAME,
            max_frame_out: DEVICE_MAX_FRAME,
            max_queue: 64,
        }
    }
}

/// What a connection learnt about its device that the next connection should know: the
/// fallbacks it needs and the last known DP values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    /// Queried the device22 way (CONTROL_NEW naming DPs with nulls).
    pub device22: bool,
    /// Multi-DP sets are sent one DP at a time.
    pub single_dp: bool,
    /// Last known DPs of the device itself.
    pub dps: Dps,
    /// Last known DPs of each gateway child.
    pub children: BTreeMap<String, Dps>,
}

/// A fallback learnt from the device's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Status is queried the device22 way from now on.
    Device22,
    /// DPs are set one at a time from now on.
    SingleDp,
}

/// Identifies a submitted request in its [`Event::Reply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// What a request asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Read every DP (of the child, with a cid).
    Status,
    /// Set DPs and wait for the acknowledgement and the pushes.
    Set(Dps),
    /// Ask the device to push fresh values of these DPs (UPDATEDPS).
    Refresh(Vec<DpId>),
    /// Send a raw command; the first frame with the same command is the reply.
    Raw(Command, Vec<u8>),
}

impl Op {
    /// Safe to send again on a new connection: reads change nothing.
    pub fn idempotent(&self) -> bool {
        matches!(self, Op::Status | Op::Refresh(_))
    }
}

/// A request to the device.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// What to do.
    pub op: Op,
    /// The gateway child concerned.
    pub cid: Option<String>,
    /// Fail with [`ClientError::Expired`] if not started by then.
    pub deadline: Option<Instant>,
}

impl Request {
    /// A request for `op` on the device itself, with no deadline.
    pub fn new(op: Op) -> Self {
        Self {
            op,
            cid: None,
            deadline: None,
        }
    }

    /// Read every DP.
    pub fn status() -> Self {
        Self::new(Op::Status)
    }

    /// Set DPs.
    pub fn set(dps: Dps) -> Self {
        Self::new(Op::Set(dps))
    }

    /// For the gateway child `cid`.
    pub fn child(mut self, cid: impl Into<String>) -> Self {
        self.cid = Some(cid.into());
        self
    }

    /// With a deadline.
    pub fn deadline(mut self, at: Instant) -> Self {
        self.deadline = Some(at);
        self
    }
}

/// A reply to a raw command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReply {
    /// Command of the reply.
    pub cmd: Command,
    /// Its sequence number.
    pub seq: u32,
    /// Return code, when the frame had one.
    pub retcode: Option<u32>,
    /// Decrypted payload.
    pub payload: Vec<u8>,
}

/// What a request produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// The DP state after the request (status and set).
    Dps(Dps),
    /// Done, nothing to return (refresh).
    Done,
    /// The reply to a raw command.
    Raw(RawReply),
}

/// What happened on a connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// 3.4/3.5: the session key is negotiated.
    SessionEstablished,
    /// The connection is ready: negotiated, and the first read (which proves key and version)
    /// answered.
    Connected {
        /// The version in use.
        version: Version,
    },
    /// A request finished.
    Reply {
        /// Which.
        id: RequestId,
        /// Its outcome.
        result: Result<Output, ClientError>,
    },
    /// DP values changed (pushed, or found in a reply).
    Update {
        /// The gateway child concerned.
        cid: Option<String>,
        /// Only the DPs whose value changed (or were reported for the first time).
        changed: Dps,
        /// Pushed by the device unasked (`false`: found in a reply to us).
        pushed: bool,
    },
    /// A fallback was learnt (and is in [`Connection::memory`]).
    FallbackLearnt {
        /// Which.
        fallback: Fallback,
        /// What the device did.
        reason: String,
    },
    /// A heartbeat went unanswered (the second in a row closes the connection).
    HeartbeatMissed {
        /// Requests unanswered in a row.
        misses: u32,
    },
    /// Something the user may want to know (a set split in parts, a renegotiation).
    Notice(String),
    /// Part of a device's report was ignored: over a bound of the kept state ([`MAX_DPS`],
    /// [`MAX_CHILDREN`], [`MAX_VALUE_LEN`], [`MAX_STATE_BYTES`]) or keys that are not DP ids.
    /// Said once per kind per connection, however often the device does it.
    Ignored(Ignored),
    /// A frame that did not decode was dropped.
    FrameDropped(ClientError),
    /// The device sent an error string outside a request.
    DeviceError {
        /// The frame's command.
        cmd: Command,
        /// Its text.
        text: String,
    },
    /// The connection is over; the driver closes the transport. Requests not yet answered are
    /// in [`Connection::take_unfinished`].
    Closed {
        /// Why.
        reason: ClientError,
    },
}
