//! The discovery datagram decoder on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = tuya_proto::discovery::decode(data) {
        let _ = d.announcement();
    }
});
