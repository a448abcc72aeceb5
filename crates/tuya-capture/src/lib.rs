//! # tuya-capture
//!
//! Decodes Tuya LAN traffic from packet captures (tcpdump / Wireshark pcap and pcapng files) of
//! any protocol version, 3.1 to 3.5:
//!
//! - link types Ethernet (with VLAN tags), Linux cooked (SLL, SLL2), BSD loopback / DLT_NULL
//!   and raw IP; IPv4 and IPv6;
//! - every TCP connection is reassembled in both directions by sequence number
//!   (out-of-order and retransmitted segments, bounded buffering), split into frames, and
//!   decoded with the key of the device at that address (port 6668 marks the device side);
//! - 3.4/3.5 session negotiation seen in the capture is followed, so frames after it decode too;
//! - discovery datagrams on UDP 6666, 6667 and 7000 decode without a key.
//!
//! Memory is bounded by the number of open connections ([`MAX_FLOWS`]) and per-connection caps,
//! never by the file size, and no input makes it panic.
//!
//! ```no_run
//! use tuya_capture::{decode_capture, Event, KeyStore};
//! let text = std::fs::read_to_string("devices.json").unwrap();
//! let (keys, _skipped) = KeyStore::from_devices_json(&text).unwrap();
//! let file = std::fs::File::open("tuya.pcap").unwrap();
//! let summary = decode_capture(file, keys, |r| {
//!     if let Event::Frame(m) = &r.event {
//!         println!("{} {:?} {}", r.time.time_of_day(), r.direction, m.cmd.name());
//!     }
//! })
//! .unwrap();
//! println!("{} frames decoded, {} failed", summary.decoded, summary.failed);
//! ```
#![warn(missing_docs)]

pub mod decoder;
mod flow;
pub mod keys;
pub mod link;
pub mod reader;
pub mod record;
pub mod summary;
pub mod synth;
pub mod tcp;

pub use decoder::{decode_capture, decode_with, CaptureDecoder, MAX_FLOWS};
pub use flow::DEVICE_PORT;
pub use keys::{Device, KeyStore};
pub use reader::{LinkType, Packet, PacketReader, Timestamp};
pub use record::{DeviceRef, Direction, Event, Problem, Record};
pub use summary::{DeviceSummary, FailureSummary, Summary};

/// Why a capture or key file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The file is empty.
    #[error("the capture file is empty")]
    Empty,
    /// Neither pcap nor pcapng.
    #[error("not a pcap or pcapng file (save the capture as pcap or pcapng from tcpdump -w or Wireshark)")]
    NotACapture,
    /// A block could not be parsed.
    #[error("corrupt capture file: {0}")]
    Corrupt(String),
    /// Reading failed.
    #[error("reading the capture failed: {0}")]
    Read(String),
    /// devices.json could not be used.
    #[error("{0}")]
    Keys(String),
}
