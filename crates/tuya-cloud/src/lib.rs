//! # tuya-cloud
//!
//! Getting local keys from Tuya's cloud once, so that nothing needs the cloud afterwards:
//!
//! - [`openapi::OpenApi`]: the developer OpenAPI (a cloud project's client id and secret,
//!   signed per [`sign`]);
//! - [`login::QrLogin`] and [`login::Sharing`]: the app account's QR login and the API it
//!   opens (per-request keys, encryption and signature per [`sharing`]);
//! - both list [`CloudDevice`]s with their local keys and DP mappings;
//! - [`store::Store`] keeps the login between runs (0600), and [`Account`] lists the devices
//!   of whichever login is stored.
//!
//! HTTPS through rustls; plain `http://` only to loopback addresses ([`http::check_url`]).
//! No key, secret or token ever appears in a `Debug` output or an error.
#![warn(missing_docs)]

pub mod account;
pub mod error;
pub mod http;
pub mod login;
pub mod model;
pub mod openapi;
pub mod sharing;
pub mod sign;
pub mod store;

pub use account::{fetch_devices, Account, AccountError};
pub use error::CloudError;
pub use login::{Poll, QrLogin, Session, Sharing};
pub use model::CloudDevice;
pub use openapi::{OpenApi, Region};
pub use store::{CloudConfig, Store, StoreError};
