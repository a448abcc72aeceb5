//! devices.json and the imports of other tools' key files. The target and its invariants: `tuya_fuzz::devices_json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tuya_fuzz::devices_json(data));
