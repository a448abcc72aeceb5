//! Encode + decode of a typical status frame, per version (device → client).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tuya_proto::frame::FrameSplitter;
use tuya_proto::{
    payload, Codec, Command, DpId, DpValue, Dps, LocalKey, Message, Role, SessionKey, Version,
};

fn typical_dps() -> Dps {
    [
        (DpId(1), DpValue::Bool(true)),
        (DpId(9), DpValue::Integer(0)),
        (DpId(18), DpValue::Integer(235)),
        (DpId(19), DpValue::Integer(512)),
        (DpId(20), DpValue::Integer(2301)),
        (DpId(38), DpValue::String("memory".into())),
    ]
    .into_iter()
    .collect()
}

fn codecs(v: Version) -> (Codec, Codec) {
    let key = LocalKey::new("0123456789abcdef").unwrap();
    let mut dev = Codec::with_entropy(v, key.clone(), Role::Device, test_rng());
    let mut cli = Codec::with_entropy(v, key, Role::Client, test_rng());
    let sk = SessionKey::from_bytes(*b"sessionkey123456");
    dev.set_session_key(sk);
    cli.set_session_key(sk);
    (dev, cli)
}

fn bench(c: &mut Criterion) {
    let dps = typical_dps();
    let mut g = c.benchmark_group("status_frame");
    g.throughput(Throughput::Elements(1));
    for v in Version::ALL {
        let body = payload::status(v, "bf0123456789abcdefgh", None, &dps, Some(1_700_000_000));
        let msg = Message::reply(v, 42, Command::Status, body);
        let (mut dev, cli) = codecs(v);
        let mut buf = Vec::with_capacity(512);
        g.bench_function(format!("encode+decode/{v}"), |b| {
            b.iter(|| {
                buf.clear();
                dev.encode_into(black_box(&msg), &mut buf).unwrap();
                let m = cli.decode(black_box(&buf)).unwrap();
                black_box(m.payload.len())
            })
        });
        let wire = dev.encode(&msg).unwrap();
        g.bench_function(format!("decode/{v}"), |b| {
            b.iter(|| black_box(cli.decode(black_box(&wire)).unwrap().payload.len()))
        });
        g.bench_function(format!("split+decode/{v}"), |b| {
            let mut s = FrameSplitter::new();
            b.iter(|| {
                s.feed(black_box(&wire));
                let f = s.next_frame().unwrap().unwrap();
                black_box(cli.decode(&f).unwrap().payload.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

/// A deterministic, per-codec-distinct entropy source for tests.
fn test_rng() -> rand::rngs::StdRng {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    rand::SeedableRng::seed_from_u64(N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}
