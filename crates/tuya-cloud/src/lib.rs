//! # tuya-cloud
//!
//! Getting local keys from Tuya's cloud once, so that nothing needs the cloud afterwards: the
//! developer OpenAPI's request signature ([`sign`]) and the app login API's request keys,
//! encryption and signature ([`sharing`]); the QR login and the device listing build on them.
#![warn(missing_docs)]

pub mod sharing;
pub mod sign;
