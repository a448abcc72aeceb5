//! How to reach one device and how patient to be with it.

use std::net::SocketAddr;
use std::time::Duration;

use tuya_proto::{DpId, LocalKey, Version};

/// Everything a connection needs to know about a device.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    /// Device id (`devId`, `gwId`).
    pub id: String,
    /// Local key.
    pub key: LocalKey,
    /// Address and port (normally 6668).
    pub addr: SocketAddr,
    /// Protocol version; `None` auto-detects (using `version_hint` first if given).
    pub version: Option<Version>,
    /// A version heard in a discovery announcement, tried first during auto-detection.
    pub version_hint: Option<Version>,
    /// Start in device22 mode (CONTROL_NEW-with-nulls queries). Detected automatically otherwise.
    pub device22: bool,
    /// A gateway: never switch to device22 mode because a cid-less query was refused.
    pub gateway: bool,
    /// DP ids known to exist (from `mapping`), used for device22 queries.
    pub known_dps: Vec<DpId>,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// How long to wait for each reply.
    pub request_timeout: Duration,
    /// Heartbeat interval on an idle connection.
    pub heartbeat_interval: Duration,
    /// Minimum gap between two frames we send (real firmware drops commands sent too close).
    pub min_command_gap: Option<Duration>,
    /// How long a command may wait (queued while disconnected, or behind others) in total.
    pub command_deadline: Duration,
    /// How long to wait after a CONTROL ack for the pushes reporting the new values.
    pub push_wait: Duration,
    /// First reconnect delay; doubles (with jitter) up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// Commands that may wait in the queue (beyond that, callers wait to enqueue).
    pub queue_capacity: usize,
    /// Events buffered per subscriber before a slow subscriber starts missing them.
    pub event_capacity: usize,
}

impl DeviceConfig {
    /// A configuration with default timeouts for the device at `addr`.
    pub fn new(id: impl Into<String>, key: LocalKey, addr: SocketAddr) -> Self {
        Self {
            id: id.into(),
            key,
            addr,
            version: None,
            version_hint: None,
            device22: false,
            gateway: false,
            known_dps: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(10),
            min_command_gap: None,
            command_deadline: Duration::from_secs(30),
            push_wait: Duration::from_millis(1000),
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(60),
            queue_capacity: 8,
            event_capacity: 16,
        }
    }

    /// Sets the protocol version.
    pub fn version(mut self, v: Version) -> Self {
        self.version = Some(v);
        self
    }
}
