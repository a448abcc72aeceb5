//! bridge.toml and the configuration it becomes. The target and its invariants: `tuya_fuzz::bridge_config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tuya_fuzz::bridge_config(data));
