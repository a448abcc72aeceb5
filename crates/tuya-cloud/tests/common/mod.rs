//! Fakes of Tuya's cloud APIs on 127.0.0.1 that verify every request with the crate's own
//! signature and sealing code, and a fake account to list.
#![allow(dead_code)]

pub mod account;
pub mod app_fake;
pub mod openapi_fake;
pub mod server;
