//! Frames a device receives: FrameSplitter in chunks, every version's device codec. The target and its invariants: `tuya_fuzz::stream_device`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tuya_fuzz::stream_device(data));
