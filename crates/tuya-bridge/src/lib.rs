//! # tuya-bridge
//!
//! Every Tuya device of a devices.json on MQTT: one persistent connection per device (through a
//! [`tuya_local::Fleet`]) shared by every consumer through the broker, tuya-mqtt's topics (so its
//! users keep their automations) with retained availability, a result topic per command, and
//! Home Assistant device-based discovery. Several instances share one broker as shards.
#![warn(missing_docs)]

pub mod bridge;
pub mod config;
pub mod ha;
pub mod mqtt;
pub mod nodes;
mod publish;
mod rekey;
pub mod shard;
pub mod topics;
mod web;

pub use bridge::{run, BridgeError};
pub use config::{BridgeConfig, FileConfig, HttpSettings, KeyRefresh};
