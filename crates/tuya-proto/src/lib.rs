//! # tuya-proto
//!
//! The sans-IO core of the Tuya LAN protocol, versions 3.1 to 3.5: frames, payload crypto,
//! session-key negotiation for both roles, discovery datagrams and DP types. No sockets, no
//! clock, no randomness of its own: time and nonces come in as arguments.
//!
//! ```
//! use tuya_proto::{payload, Codec, Command, LocalKey, Message, Role, Version};
//! use tuya_proto::frame::FrameSplitter;
//! let key = LocalKey::new("0123456789abcdef").unwrap();
//! let mut client = Codec::new(Version::V33, key.clone(), Role::Client);
//! let t = payload::Target { version: Version::V33, dev_id: "dev1", cid: None, t: 1700000000 };
//! let (cmd, body) = payload::query(&t);
//! let wire = client.encode(&Message::request(Version::V33, 1, cmd, body)).unwrap();
//!
//! // the device side splits the stream and decodes
//! let device = Codec::new(Version::V33, key, Role::Device);
//! let mut split = FrameSplitter::new();
//! split.feed(&wire);
//! let frame = split.next_frame().unwrap().unwrap();
//! let msg = device.decode(&frame).unwrap();
//! assert_eq!(msg.cmd, Command::DpQuery);
//! ```
#![warn(missing_docs)]

pub mod cipher;
pub mod client;
pub mod codec;
pub mod command;
pub mod discovery;
pub mod dp;
pub mod entropy;
pub mod error;
pub mod frame;
pub mod key;
pub mod payload;
pub mod session;
pub mod version;

pub use codec::{Codec, Message, Role, Sender};
pub use command::Command;
pub use dp::{DpId, DpValue, Dps};
pub use entropy::Entropy;
pub use error::{Error, Result};
pub use key::{LocalKey, SessionKey};
pub use version::{Framing, Version};
