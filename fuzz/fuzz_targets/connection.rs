//! The client engine driven by frames, time steps, requests and disconnects. The target and its invariants: `tuya_fuzz::connection`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tuya_fuzz::connection(data));
