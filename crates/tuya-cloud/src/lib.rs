//! # tuya-cloud
//!
//! Getting local keys from Tuya's cloud once, so that nothing needs the cloud afterwards: the
//! developer OpenAPI's request signature ([`sign`]) first; the app's QR login and the device
//! listing build on it.
#![warn(missing_docs)]

pub mod sign;
