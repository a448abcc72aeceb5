//! Matching replies to requests on firmware that numbers frames its own way.
//!
//! Devices may echo our sequence number, use their own counter (3.5 replies carry the device's
//! global counter), send 0, or answer a query with a STATUS frame. So a reply is recognised by
//! its command (and, for STATUS-as-reply, by an echoed seq), and a frame carrying the seq of a
//! request that already timed out is a late reply, never the answer to the request in flight.

use std::time::{Duration, Instant};

use crate::payload::StatusUpdate;
use crate::{Command, Dps, Message};

/// Which frames answer the request in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Matcher {
    /// A status query: the same command, or STATUS echoing our seq.
    Query(Command),
    /// A device22 query: CONTROL_NEW or STATUS carrying a status or an error.
    Device22,
    /// CONTROL / CONTROL_NEW acknowledgement.
    Control,
    /// UPDATEDPS acknowledgement (or the STATUS that answers it).
    Refresh,
    /// Heartbeat reply.
    Heartbeat,
    /// The same command as a raw request.
    Raw(Command),
}

impl Matcher {
    pub fn accepts(self, m: &Message, seq: u32) -> bool {
        match self {
            Matcher::Query(cmd) => m.cmd == cmd || (m.cmd == Command::Status && m.seq == seq),
            Matcher::Device22 => {
                matches!(m.cmd, Command::ControlNew | Command::Status)
                    && (device_error(m).is_some() || status_of(m).is_some())
            }
            Matcher::Control => matches!(m.cmd, Command::Control | Command::ControlNew),
            Matcher::Refresh => matches!(m.cmd, Command::UpdateDps | Command::Status),
            Matcher::Heartbeat => m.cmd == Command::HeartBeat,
            Matcher::Raw(cmd) => m.cmd == cmd,
        }
    }
}

/// What the operation in flight waits for.
#[derive(Debug, Clone)]
pub(crate) enum Wait {
    /// The reply to the frame sent with `seq`.
    Reply {
        seq: u32,
        cmd: Command,
        matcher: Matcher,
        deadline: Instant,
        wait: Duration,
    },
    /// Pushes reporting `want`, until `deadline`.
    Pushes {
        cid: Option<String>,
        want: Dps,
        deadline: Instant,
    },
}

impl Wait {
    pub fn deadline(&self) -> Instant {
        match self {
            Wait::Reply { deadline, .. } | Wait::Pushes { deadline, .. } => *deadline,
        }
    }
}

/// Sequence numbers of requests that timed out (the last few).
#[derive(Debug, Default)]
pub(crate) struct Stale([u32; 4]);

impl Stale {
    pub fn push(&mut self, seq: u32) {
        self.0.rotate_right(1);
        self.0[0] = seq;
    }

    /// A frame numbered like an abandoned request (and not like the one in flight).
    pub fn is_late(&self, m: &Message, in_flight: u32) -> bool {
        m.seq != 0 && m.seq != in_flight && self.0.contains(&m.seq)
    }
}

/// A frame with a non-zero return code: the device's error text.
pub(crate) fn device_error(m: &Message) -> Option<String> {
    let rc = m.retcode.unwrap_or(0);
    if rc == 0 {
        return None;
    }
    let text = String::from_utf8_lossy(&m.payload).trim().to_string();
    Some(if text.is_empty() {
        format!("return code {rc}")
    } else {
        text
    })
}

/// The refusals with which device22 firmware answers a plain DP_QUERY.
pub(crate) fn is_device22_refusal(text: &str) -> bool {
    text.contains("data unvalid") || text.contains("data format error")
}

/// The DPs a frame reports, if it is a status of any layout.
pub(crate) fn status_of(m: &Message) -> Option<StatusUpdate> {
    if m.payload.first() != Some(&b'{') {
        return None;
    }
    StatusUpdate::parse_bytes(&m.payload)
}
