//! # tuya-local
//!
//! Async client for Tuya LAN devices on tokio. (Being built: see issue 4.)

pub mod discovery;
pub mod merge;
pub mod scan;
