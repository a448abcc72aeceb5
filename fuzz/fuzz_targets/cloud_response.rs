//! Cloud replies and stored logins. The target and its invariants: `tuya_fuzz::cloud_response`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tuya_fuzz::cloud_response(data));
