//! Frames a client receives: FrameSplitter in chunks, every version's client codec. The target and its invariants: `tuya_fuzz::stream_client`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tuya_fuzz::stream_client(data));
