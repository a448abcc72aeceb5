//! The stream decoder and every version's frame decoder on arbitrary bytes, in arbitrary chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tuya_proto::frame::FrameSplitter;
use tuya_proto::{Codec, LocalKey, Role, Sender, SessionKey, Version};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else { return };
    let chunk = (chunk as usize % 64) + 1;
    let key = LocalKey::new("0123456789abcdef").unwrap();
    let codecs: Vec<Codec> = Version::ALL
        .iter()
        .map(|&v| {
            let mut c = Codec::with_entropy(v, key.clone(), Role::Client, test_rng());
            c.set_session_key(SessionKey::from_bytes([7; 16]));
            c
        })
        .collect();
    let mut split = FrameSplitter::with_max_len(8192);
    for piece in rest.chunks(chunk) {
        split.feed(piece);
        while let Some(r) = split.next_frame() {
            if let Ok(frame) = r {
                for c in &codecs {
                    let _ = c.decode_from(&frame, Sender::Unknown);
                }
            }
        }
    }
    assert!(split.pending() <= 8192 + 18 + 4 + chunk);
});

/// A deterministic, per-codec-distinct entropy source for tests.
fn test_rng() -> rand::rngs::StdRng {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    rand::SeedableRng::seed_from_u64(N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}
