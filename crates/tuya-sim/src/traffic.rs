//! The request/response log: one event per frame received, sent or refused. Keys never appear:
//! negotiation payloads are summarised by length, and codecs never expose keys.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;
use tuya_proto::{Command, Message};

/// Receives traffic events (e.g. to print them as lines or JSON lines).
pub type TrafficSink = Arc<dyn Fn(&TrafficEvent) + Send + Sync>;

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Received from the client.
    Rx,
    /// Sent to the client.
    Tx,
    /// Received and ignored, or a connection refused / closed (see `note`).
    Drop,
}

/// One logged frame or connection event.
#[derive(Debug, Clone, Serialize)]
pub struct TrafficEvent {
    /// Device id.
    pub device: String,
    /// The client's address.
    pub peer: SocketAddr,
    /// Direction.
    pub dir: Direction,
    /// Command name ("CONTROL"), or "-" for connection events.
    pub cmd: String,
    /// Sequence number.
    pub seq: u32,
    /// Return code, when the frame has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retcode: Option<u32>,
    /// The payload as text (JSON), or a summary for binary payloads.
    pub payload: String,
    /// Why a frame was ignored, or what happened to the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl std::fmt::Display for TrafficEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let arrow = match self.dir {
            Direction::Rx => "<-",
            Direction::Tx => "->",
            Direction::Drop => "xx",
        };
        write!(
            f,
            "{} {arrow} {} {} seq={}",
            self.device, self.peer, self.cmd, self.seq
        )?;
        if let Some(rc) = self.retcode {
            write!(f, " rc={rc}")?;
        }
        if !self.payload.is_empty() {
            write!(f, " {}", self.payload)?;
        }
        if let Some(n) = &self.note {
            write!(f, " ({n})")?;
        }
        Ok(())
    }
}

/// A printable summary of a message's payload: JSON and text as is (capped), negotiation
/// nonces and HMACs only by length.
pub(crate) fn summarize(msg: &Message) -> String {
    if msg.cmd.is_negotiation() {
        return format!("<{} bytes>", msg.payload.len());
    }
    if msg.payload.is_empty() {
        return String::new();
    }
    match std::str::from_utf8(&msg.payload) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => {
            let mut s = s.to_string();
            if s.len() > 300 {
                let mut cut = 300;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(cut);
                s.push('…');
            }
            s
        }
        _ => format!("<{} binary bytes>", msg.payload.len()),
    }
}

pub(crate) fn event(
    device: &str,
    peer: SocketAddr,
    dir: Direction,
    msg: Option<&Message>,
    note: Option<String>,
) -> TrafficEvent {
    TrafficEvent {
        device: device.to_string(),
        peer,
        dir,
        cmd: msg.map_or("-".into(), |m| cmd_name(m.cmd)),
        seq: msg.map_or(0, |m| m.seq),
        retcode: msg.and_then(|m| m.retcode),
        payload: msg.map(summarize).unwrap_or_default(),
        note,
    }
}

fn cmd_name(c: Command) -> String {
    match c {
        Command::Other(n) => format!("CMD_{n}"),
        c => c.name().to_string(),
    }
}
