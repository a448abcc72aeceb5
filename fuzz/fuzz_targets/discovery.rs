//! Discovery datagrams of every kind, decoded and re-encoded. The target and its invariants: `tuya_fuzz::discovery`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tuya_fuzz::discovery(data));
