//! The capture decoder on arbitrary bytes: file headers, blocks, link layers, IP/TCP/UDP headers
//! and the Tuya streams inside them. Keys for two devices make the decryption paths reachable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tuya_capture::{decode_capture, KeyStore};

const DEVICES: &str = r#"[
  {"name": "a", "id": "a", "key": "0123456789abcdef", "ip": "127.0.0.1", "version": "3.4"},
  {"name": "b", "id": "b", "key": "fedcba9876543210", "ip": "::1"}
]"#;

fuzz_target!(|data: &[u8]| {
    let (keys, _) = KeyStore::from_devices_json(DEVICES).unwrap();
    let mut records = 0u64;
    if let Ok(summary) = decode_capture(data, keys, |_| records += 1) {
        assert_eq!(
            summary.decoded + summary.failed + summary.sessions_negotiated,
            records
        );
    }
});
