//! The capture decoder on arbitrary bytes: file headers, blocks, link layers, IP/TCP/UDP headers
//! and the Tuya streams inside them. Keys for two devices make the decryption paths reachable.
//!
//! Half of the inputs are taken as a whole file; the other half are wrapped in a valid pcap
//! header and cut into packets, so mutations reach the link, IP, TCP and Tuya layers quickly.
//! Half follow TCP connections on any port.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tuya_capture::{decode_with, CaptureDecoder, KeyStore};

const DEVICES: &str = r#"[
  {"name": "a", "id": "a", "key": "0123456789abcdef", "ip": "127.0.0.1", "version": "3.4"},
  {"name": "b", "id": "b", "key": "fedcba9876543210", "ip": "::1"}
]"#;

const LINKS: [u32; 8] = [0, 1, 101, 108, 113, 276, 228, 229];

fn wrapped(data: &[u8]) -> Vec<u8> {
    let link = LINKS[usize::from(data.first().copied().unwrap_or(0)) % LINKS.len()];
    let mut out = Vec::with_capacity(data.len() + 64);
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0; 8]);
    out.extend(65_535u32.to_le_bytes());
    out.extend(link.to_le_bytes());
    let mut rest = data.get(1..).unwrap_or_default();
    let mut t = 0u32;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (pkt, more) = tail.split_at(n);
        t += 1;
        out.extend(t.to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend((pkt.len() as u32).to_le_bytes());
        out.extend((pkt.len() as u32).to_le_bytes());
        out.extend_from_slice(pkt);
        rest = more;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let input = if mode & 1 == 0 {
        body.to_vec()
    } else {
        wrapped(body)
    };
    let (keys, _) = KeyStore::from_devices_json(DEVICES).unwrap();
    // Bit 1 follows TCP on every port, so random packets reach the stream decoder.
    let ports = if mode & 2 == 0 { vec![6668] } else { vec![] };
    let dec = CaptureDecoder::new(keys).with_device_ports(ports);
    let mut records = 0u64;
    if let Ok(summary) = decode_with(&input[..], dec, |_| records += 1) {
        assert_eq!(
            summary.decoded + summary.failed + summary.sessions_negotiated,
            records
        );
    }
});
