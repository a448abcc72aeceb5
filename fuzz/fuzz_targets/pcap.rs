//! The capture reader and decoder. The target and its invariants: `tuya_fuzz::pcap`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tuya_fuzz::pcap(data));
