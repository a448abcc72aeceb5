//! The capture decoder: file headers, blocks, link layers, IP/TCP/UDP headers and the Tuya
//! streams inside them.
//!
//! The first byte is a mode. Bit 0 clear: the rest is a whole file. Bit 0 set: the rest is
//! wrapped in a valid pcap header (of the link type the next byte picks) and cut into
//! packets, so mutations reach the link, IP, TCP and Tuya layers instead of dying in the file
//! header. Bit 1 follows TCP on every port, so random packets reach the stream decoder.

use tuya_capture::{decode_with, CaptureDecoder, KeyStore};

/// The devices of the seed captures, one per version at its own address (3.4 and 3.5 with
/// the handshake in the capture), and one without a version under another key.
pub const DEVICES: &str = r#"[
  {"name": "v31", "id": "d31", "key": "0123456789abcdef", "ip": "127.0.0.31", "version": "3.1"},
  {"name": "v33", "id": "d33", "key": "0123456789abcdef", "ip": "127.0.0.33", "version": "3.3"},
  {"name": "v34", "id": "d34", "key": "0123456789abcdef", "ip": "127.0.0.34", "version": "3.4"},
  {"name": "v35", "id": "d35", "key": "0123456789abcdef", "ip": "127.0.0.35", "version": 3.5},
  {"name": "any", "id": "dx", "key": "fedcba9876543210", "ip": "::1"}
]"#;

/// Link types the wrapped mode picks from: the ones the reader knows and a few it does not.
const LINKS: [u32; 8] = [0, 1, 101, 108, 113, 276, 228, 229];

/// `data` as a pcap file: its first byte picks the link type, then each packet is a length
/// byte and that many bytes.
pub fn wrap_pcap(data: &[u8]) -> Vec<u8> {
    let link = LINKS[usize::from(data.first().copied().unwrap_or(0)) % LINKS.len()];
    let mut out = Vec::with_capacity(data.len() * 2 + 64);
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0; 8]);
    out.extend(65_535u32.to_le_bytes());
    out.extend(link.to_le_bytes());
    let mut rest = data.get(1..).unwrap_or_default();
    let mut t = 0u32;
    while let Some((&len, tail)) = rest.split_first() {
        let (pkt, more) = tail.split_at(usize::from(len).min(tail.len()));
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

pub(crate) fn run(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let input = if mode & 1 == 0 {
        body.to_vec()
    } else {
        wrap_pcap(body)
    };
    let (keys, skipped) = KeyStore::from_devices_json(DEVICES).expect("the key table parses");
    assert!(skipped.is_empty());
    let ports = if mode & 2 == 0 { vec![6668] } else { vec![] };
    let dec = CaptureDecoder::new(keys).with_device_ports(ports);
    let mut records = 0u64;
    let Ok(summary) = decode_with(&input[..], dec, |_| records += 1) else {
        return;
    };
    assert_eq!(
        summary.decoded + summary.failed + summary.sessions_negotiated,
        records,
        "records and summary disagree"
    );
    // A packet takes a record header of 16 bytes at least (a pcapng block 12 and more), and
    // every record stands for bytes of its own: a frame (24 bytes at least), a datagram, a
    // skipped prefix (4), a packet's gap or a flow's end. Output never outgrows the input.
    assert!(summary.packets <= input.len() as u64 / 12, "{summary:?}");
    assert!(
        records <= input.len() as u64,
        "{records} records from {summary:?}"
    );
}
