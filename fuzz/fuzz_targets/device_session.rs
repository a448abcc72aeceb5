//! The 3.4/3.5 device-role session machine fed client frames. The target and its invariants: `tuya_fuzz::device_session`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tuya_fuzz::device_session(data));
