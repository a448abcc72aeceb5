//! # tuya-web
//!
//! The live page and HTTP API of `tuyactl bridge --http`: a [`Hub`] that the process holding
//! the device connections keeps up to date (views, changes, a queue of commands), and an axum
//! [`router`] serving the embedded page (`/`), `GET /api/devices`, `GET /api/devices/{id}`,
//! `POST /api/devices/{id}/dps`, and `GET /api/events` (Server-Sent Events). No key ever
//! reaches a view. A bearer token guards every `/api` request when set.
#![warn(missing_docs)]

pub mod api;
mod assets;
pub mod check;
pub mod hub;

pub use api::{router, serve, WebConfig};
pub use hub::{Command, CommandError, Hub, View};
