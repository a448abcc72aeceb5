//! # tuya-fuzz
//!
//! Fuzz targets for everything that reads bytes from outside: the frame stream decoder of
//! both roles, the discovery decoder, the client engine, the device-role session machine, the
//! capture reader, and the devices.json, bridge.toml and cloud-response loaders.
//!
//! Each target is a `pub fn <target>(data: &[u8])` that never panics on any input unless one
//! of its invariants breaks (bounded buffers and output, round trips, authentication, errors
//! instead of panics), so a panic is a bug. The same functions run
//!
//! - on stable, as ordinary tests (`tests/fuzz.rs`): every file of `fuzz/corpus/<target>/`
//!   and `fuzz/regressions/<target>/` replayed, then a bounded number of inputs derived from
//!   them by [`harness::Mutator`], under an allocator that measures every request
//!   ([`alloc`]);
//! - under cargo-fuzz (`fuzz/`, nightly), one one-line binary per target.
//!
//! See `docs/fuzzing.md`.
#![warn(missing_docs)]

pub mod alloc;
mod capture;
mod cloud;
mod discovery;
mod files;
pub mod harness;
mod input;
mod session;
mod stream;

// The client engine's driver and scripted device live with the engine's tests in
// tuya-proto, which run them under proptest; this includes the same files (one copy of the
// code) so the fuzz target drives the engine exactly as those tests do.
#[allow(missing_docs)]
#[path = "../../tuya-proto/tests/engine/mod.rs"]
mod engine;

pub use capture::{wrap_pcap, DEVICES};
pub use cloud::REQUEST_KEYS;
pub use engine::drive::Stats as ConnectionStats;
pub use session::SessionStats;
pub use stream::{KeySet, KEYS, MAX_FRAME};

use tuya_proto::Role;

/// Frames as a device's client receives them: the first byte picks the chunk size (1-64),
/// the rest is a byte stream split by `FrameSplitter` and decoded by every version's
/// client-role codec under every key of [`KEYS`].
pub fn stream_client(data: &[u8]) {
    stream::run(Role::Client, data);
}

/// [`stream_client`] on the device's side: device-role codecs, frames from a client.
pub fn stream_device(data: &[u8]) {
    stream::run(Role::Device, data);
}

/// A discovery datagram of any kind (6666 plain, 6667 ECB, 3.5 GCM, REQ_DEVINFO): decoded,
/// and what decodes re-encoded in every form.
pub fn discovery(data: &[u8]) {
    discovery::run(data);
}

/// The client engine (`tuya_proto::client::Connection`) of a version the input picks, driven
/// by actions decoded from it: garbage, device frames mixed with garbage in arbitrary chunks,
/// time steps of up to 40 s, requests, disconnects and closes. The driver checks after every
/// action that events and output stay bounded, memory is capped, no timer is in the past, a
/// closed connection stays closed and silent, every request gets exactly one outcome and
/// sequence numbers increase.
pub fn connection(data: &[u8]) {
    connection_stats(data);
}

/// [`connection`], telling what the run reached.
pub fn connection_stats(data: &[u8]) -> ConnectionStats {
    engine::drive::run_bytes(data)
}

/// The device-role session machine of 3.4 and 3.5 (`DeviceHandshake` with a device-role
/// codec) fed client frames: real handshakes, data, garbage, forgeries, corrupted and
/// replayed frames, reconnects.
pub fn device_session(data: &[u8]) {
    device_session_stats(data);
}

/// [`device_session`], telling what the run reached.
pub fn device_session_stats(data: &[u8]) -> SessionStats {
    session::run(data)
}

/// The capture reader and decoder on a pcap/pcapng file, or (first byte odd) on packets
/// wrapped in a pcap file by [`wrap_pcap`]; keys from [`DEVICES`].
pub fn pcap(data: &[u8]) {
    capture::run(data);
}

/// devices.json as a user or another tool wrote it: `DevicesFile::parse` (read, written back
/// and read again, gateways resolved), the capture decoder's key table, and the imports of
/// tinytuya's and tuya-cli's files.
pub fn devices_json(data: &[u8]) {
    files::devices_json(data);
}

/// bridge.toml: `FileConfig::parse`, the merge into a `BridgeConfig`, and the Home Assistant
/// discovery of a device with the file's per-DP overrides.
pub fn bridge_config(data: &[u8]) {
    files::bridge_config(data);
}

/// A cloud reply or stored login as JSON: the records and stored login deserialized, devices
/// turned into devices.json entries and merged, error codes, sealed app-API results opened
/// with [`REQUEST_KEYS`], and tinytuya's import of the raw reply.
pub fn cloud_response(data: &[u8]) {
    cloud::run(data);
}

/// A target as the harness runs it.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Its name: the function's, the folders' under `fuzz/corpus/` and `fuzz/regressions/`,
    /// and the cargo-fuzz binary's.
    pub name: &'static str,
    /// The function.
    pub run: fn(&[u8]),
    /// Generated inputs per stable test run: sized so the whole test binary takes about
    /// 20 s in a debug build on a loaded 2-core machine.
    pub iters: u32,
    /// The largest single allocation an input may make, besides 4 bytes per input byte.
    pub max_alloc: usize,
}

/// A MiB.
const MIB: usize = 1 << 20;

/// Every target.
pub const TARGETS: [Target; 9] = [
    Target {
        name: "stream_client",
        run: stream_client,
        iters: 8000,
        max_alloc: MIB,
    },
    Target {
        name: "stream_device",
        run: stream_device,
        iters: 8000,
        max_alloc: MIB,
    },
    Target {
        name: "discovery",
        run: discovery,
        iters: 20000,
        max_alloc: MIB,
    },
    Target {
        name: "connection",
        run: connection,
        iters: 1500,
        max_alloc: MIB,
    },
    Target {
        name: "device_session",
        run: device_session,
        iters: 5000,
        max_alloc: MIB,
    },
    Target {
        name: "pcap",
        run: pcap,
        iters: 1500,
        // The capture reader grows its block buffer up to 4 MiB for a block that says it
        // is that large (and doubles into it).
        max_alloc: 8 * MIB,
    },
    Target {
        name: "devices_json",
        run: devices_json,
        iters: 8000,
        max_alloc: MIB,
    },
    Target {
        name: "bridge_config",
        run: bridge_config,
        iters: 15000,
        max_alloc: MIB,
    },
    Target {
        name: "cloud_response",
        run: cloud_response,
        iters: 15000,
        max_alloc: MIB,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
