//! # tuya-devices
//!
//! One typed model of `devices.json`, tinytuya's key file, shared by everything that reads or
//! writes it (the client, the scanner, the capture decoder, the bridge, the cloud import):
//! entries with their names, keys, addresses, versions, DP mappings and gateway children,
//! every unknown field kept on rewrite; both the plain list and tinytuya's
//! `{"devices": [...]}` snapshot shape; merges of what a scan or the cloud found; imports of
//! tinytuya's and tuya-cli's key files; and atomic writes, readable by the owner only from the
//! first byte, with a private backup.
//!
//! No tokio, no sockets.
#![warn(missing_docs)]

mod entry;
mod file;
pub mod import;
pub mod merge;
mod values;
mod write;

pub use entry::DeviceEntry;
pub use file::{DevicesError, DevicesFile};
pub use import::{Format, ImportError, ImportReport, Imported, Source, Warning};
pub use merge::{Finding, KeyChanges, MergeSummary};
pub use values::{check_value, ValueError};
pub use write::{backup_path, exposure_warning, write_private};

/// The Tuya LAN port.
pub const DEFAULT_PORT: u16 = 6668;
