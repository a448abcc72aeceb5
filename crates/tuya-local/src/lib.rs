//! # tuya-local
//!
//! Async client for Tuya LAN devices on tokio: one persistent connection per device, shared by
//! every caller through a cheap [`Device`] handle; sessions negotiated for 3.4/3.5; replies
//! matched to requests even when firmware does not echo sequence numbers; pushes delivered as
//! [`Event`]s; heartbeats, reconnects with backoff, version and device22 detection, gateway
//! sub-devices, and [`Fleet`]s of many devices. Also discovery, scanning and devices.json.
#![warn(missing_docs)]

pub mod config;
mod conn;
pub mod device;
pub mod devices;
pub mod discovery;
pub mod error;
pub mod event;
pub mod fleet;
pub mod merge;
mod ops;
pub mod scan;

pub use config::DeviceConfig;
pub use device::{Child, ChildEvents, Device, RawReply, TaggedEvent};
pub use devices::{DeviceEntry, DevicesFile};
pub use error::{Error, Result};
pub use event::Event;
pub use fleet::{Fleet, FleetOptions};
