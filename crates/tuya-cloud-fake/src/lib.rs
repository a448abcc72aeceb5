//! Fakes of Tuya's cloud APIs on 127.0.0.1 for tests: the app's QR login and its sealed API,
//! and the developer OpenAPI. Each verifies every request with tuya-cloud's own signature and
//! sealing code (so a request signed wrongly is refused, as Tuya would), and lists a fake
//! account whose local keys are full of symbols.
//!
//! Used by tuya-cloud's tests and by tuyactl's end-to-end test of `tuyactl cloud`; never
//! part of a release.

pub mod account;
pub mod app_fake;
pub mod openapi_fake;
pub mod server;
