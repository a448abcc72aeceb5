//! # tuya-local
//!
//! Async client for Tuya LAN devices on tokio: one persistent connection per device, shared by
//! every caller through a cheap [`Device`] handle; sessions negotiated for 3.4/3.5; replies
//! matched to requests even when firmware does not echo sequence numbers; pushes delivered as
//! [`Event`]s; heartbeats, reconnects with backoff, version and device22 detection, gateway
//! sub-devices, and [`Fleet`]s of many devices. Also discovery, scanning and devices.json.
//!
//! ```no_run
//! use tuya_local::{Device, DeviceConfig, Event};
//! use tuya_proto::{DpId, LocalKey};
//! # async fn demo() -> Result<(), tuya_local::Error> {
//! let key = LocalKey::new("0123456789abcdef").unwrap();
//! let cfg = DeviceConfig::new("bf0123456789abcdef01", key, "192.0.2.10:6668".parse().unwrap());
//! let lamp = Device::connect(cfg).await?; // version detected, session negotiated
//! let mut events = lamp.subscribe();
//! println!("{:?}", lamp.status().await?);
//! lamp.set_dp(DpId(1), true).await?; // resolves on the device's acknowledgement
//! while let Ok(e) = events.recv().await {
//!     if let Event::Update { changed, .. } = e {
//!         println!("changed: {changed:?}");
//!     }
//! }
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod config;
mod conn;
pub mod device;
pub mod devices;
pub mod discovery;
pub mod error;
pub mod event;
pub mod fleet;
mod link;
pub mod merge;
pub mod scan;
mod sink;

pub use config::DeviceConfig;
pub use device::{Child, ChildEvents, Device, RawReply, TaggedEvent};
pub use devices::{DeviceEntry, DevicesFile, Resolve};
pub use error::{Error, Result};
pub use event::Event;
pub use fleet::{Fleet, FleetOptions};
