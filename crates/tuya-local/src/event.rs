//! What a device connection reports to its subscribers.

use tuya_proto::{Dps, Version};

/// One thing that happened on a device's connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A session is up (after negotiation on 3.4/3.5).
    Connected {
        /// The version in use.
        version: Version,
    },
    /// The connection went down; a reconnect follows unless every handle was dropped.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// DP values changed (pushed by the device, or found in a reply).
    Update {
        /// The sub-device concerned, for gateways.
        cid: Option<String>,
        /// Only the DPs whose value changed (or were reported for the first time).
        changed: Dps,
        /// Whether the device pushed it unasked (`false`: found in a reply to us).
        pushed: bool,
    },
    /// Something the user may want to know: a fallback taken, a version detected.
    Notice(String),
    /// A non-fatal error: an undecodable frame, a device error string outside a request.
    Error(String),
}
