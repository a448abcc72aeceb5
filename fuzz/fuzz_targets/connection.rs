//! The client engine (`tuya_proto::client::Connection`) of every version driven by actions
//! decoded from the input: garbage, valid device frames mixed with garbage in arbitrary chunks,
//! time steps of 0-40 s, requests, disconnects and closes. The driver (shared with the stable
//! proptest `crates/tuya-proto/tests/engine_fuzz.rs`) panics when an invariant breaks: bounded
//! events and output, capped memory, no timer in the past, a closed connection stays closed and
//! silent, every request gets exactly one outcome, sequence numbers strictly increase.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/tuya-proto/tests/engine/mod.rs"]
mod engine;

fuzz_target!(|data: &[u8]| {
    engine::drive::run_bytes(data);
});
