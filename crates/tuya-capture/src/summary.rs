//! Totals over a whole capture: devices seen, versions, command counts and why frames failed.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::record::{Event, Record};

/// One device's line in the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeviceSummary {
    /// Friendly name.
    pub name: String,
    /// Device id.
    pub id: String,
    /// Addresses it was seen at.
    pub addresses: BTreeSet<String>,
    /// Protocol versions its frames decoded with.
    pub versions: BTreeSet<String>,
    /// Frames and datagrams decoded.
    pub frames: u64,
    /// Frames that failed.
    pub failed: u64,
}

/// One kind of failure: how often, and the first message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FailureSummary {
    /// Occurrences.
    pub count: u64,
    /// The first occurrence's message.
    pub example: String,
}

/// Totals over a capture.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Packets read from the file.
    pub packets: u64,
    /// Packets that were not TCP or UDP over IP (or used an unknown link type).
    pub skipped_packets: u64,
    /// TCP connections seen.
    pub tcp_flows: u64,
    /// Connections dropped early because too many were open at once.
    pub evicted_flows: u64,
    /// Segments (or parts) that were retransmissions of bytes already seen.
    pub retransmitted_segments: u64,
    /// Frames and datagrams decoded.
    pub decoded: u64,
    /// Records reporting a problem.
    pub failed: u64,
    /// 3.4/3.5 session keys derived from negotiations in the capture.
    pub sessions_negotiated: u64,
    /// The file ended in the middle of a packet record.
    pub file_truncated: bool,
    /// The file turned unreadable part-way (corrupt block); everything before it was decoded.
    pub read_error: Option<String>,
    /// Per device label (name, id, or address when unknown).
    pub devices: BTreeMap<String, DeviceSummary>,
    /// Per command name.
    pub commands: BTreeMap<String, u64>,
    /// Per failure kind (see [`crate::Problem::kind`]).
    pub failures: BTreeMap<String, FailureSummary>,
}

impl Summary {
    /// Counts one record.
    pub fn add(&mut self, r: &Record) {
        let label = match &r.device {
            Some(d) if d.label() != "?" => d.label().to_string(),
            _ => {
                let device_side = match r.direction {
                    crate::Direction::ClientToDevice => r.dst,
                    _ => r.src,
                };
                device_side.ip().to_string()
            }
        };
        let dev = self.devices.entry(label).or_default();
        if let Some(d) = &r.device {
            dev.name.clone_from(&d.name);
            dev.id.clone_from(&d.id);
        }
        let device_side = match r.direction {
            crate::Direction::ClientToDevice => r.dst,
            _ => r.src,
        };
        dev.addresses.insert(device_side.ip().to_string());
        match &r.event {
            Event::Frame(m) => {
                self.decoded += 1;
                dev.frames += 1;
                if let Some(v) = r.version {
                    dev.versions.insert(v.as_str().to_string());
                }
                *self.commands.entry(m.cmd.name().to_string()).or_default() += 1;
            }
            Event::Discovery(d) => {
                self.decoded += 1;
                dev.frames += 1;
                if let Some(v) = r.version {
                    dev.versions.insert(v.as_str().to_string());
                }
                *self.commands.entry(d.cmd.name().to_string()).or_default() += 1;
            }
            Event::SessionKey(_) => self.sessions_negotiated += 1,
            Event::Failed(p) => {
                self.failed += 1;
                dev.failed += 1;
                let f = self.failures.entry(p.kind().to_string()).or_default();
                if f.count == 0 {
                    f.example = p.to_string();
                }
                f.count += 1;
            }
        }
    }
}
