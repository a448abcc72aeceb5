//! The fuzz targets as ordinary tests, on stable: one test per target replays every file of
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`, then runs the target over inputs
//! the harness's mutator derives from them (`TUYA_FUZZ_SEED` picks the seed,
//! `TUYA_FUZZ_ITERS` the count per target). Every allocation is measured. A failure prints
//! the input and saves it under this crate's target folder, for `fuzz/regressions/`.
//!
//! The last tests check the harness itself: a broken target must be reported, with its input.

use std::path::PathBuf;

use tuya_fuzz::harness::{self, Config, Failure};
use tuya_fuzz::{alloc, Target};

#[global_allocator]
static ALLOC: alloc::Tracking = alloc::Tracking;

fn config(t: &Target) -> Config {
    let mut cfg = Config::from_env(t).unwrap_or_else(|e| panic!("{e}"));
    cfg.save_to = Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures"));
    cfg
}

/// Replays a target's corpus and regressions, then fuzzes it from them.
fn fuzz(name: &str) {
    let t = tuya_fuzz::target(name).expect("a target of that name");
    let [corpus, regressions] = harness::input_dirs(name);
    let files = harness::load(&[corpus.clone(), regressions]).expect("the corpus reads");
    assert!(
        files.iter().any(|(p, _)| p.starts_with(&corpus)),
        "no seeds in {}: `cargo run -p tuya-fuzz --example seeds` writes them",
        corpus.display()
    );
    match harness::fuzz(t, &files, &config(t)) {
        Ok(report) => println!("{name}: {report}"),
        Err(failure) => panic!("{failure}"),
    }
}

#[test]
fn stream_client() {
    fuzz("stream_client");
}

#[test]
fn stream_device() {
    fuzz("stream_device");
}

#[test]
fn discovery() {
    fuzz("discovery");
}

#[test]
fn connection() {
    fuzz("connection");
}

#[test]
fn device_session() {
    fuzz("device_session");
}

#[test]
fn pcap() {
    fuzz("pcap");
}

#[test]
fn devices_json() {
    fuzz("devices_json");
}

#[test]
fn bridge_config() {
    fuzz("bridge_config");
}

#[test]
fn cloud_response() {
    fuzz("cloud_response");
}

/// A test above for every target, and a cargo-fuzz binary for each in fuzz/Cargo.toml.
#[test]
fn every_target_is_run() {
    let this = include_str!("fuzz.rs");
    let bins = std::fs::read_to_string(harness::fuzz_dir().join("Cargo.toml")).unwrap();
    for t in tuya_fuzz::TARGETS {
        assert!(
            this.contains(&format!("fuzz(\"{}\");", t.name)),
            "no test runs {}",
            t.name
        );
        let bin = format!(
            "name = \"{}\"\npath = \"fuzz_targets/{}.rs\"",
            t.name, t.name
        );
        assert!(
            bins.contains(&bin),
            "fuzz/Cargo.toml has no binary {}",
            t.name
        );
        let src = harness::fuzz_dir().join(format!("fuzz_targets/{}.rs", t.name));
        let src = std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        assert!(
            src.contains(&format!("tuya_fuzz::{}(data)", t.name)),
            "{}",
            t.name
        );
    }
}

/// The seeds get past the first checks: the engine connects and answers requests, and the
/// device session agrees keys and answers data under them, for every version.
#[test]
fn seeds_reach_deep_states() {
    let [dir, _] = harness::input_dirs("connection");
    let runs = harness::load(&[dir]).unwrap();
    let mut versions = std::collections::BTreeSet::new();
    for (p, data) in &runs {
        let st = tuya_fuzz::connection_stats(data);
        if st.ready && st.ok > 0 {
            versions.insert(data[0] % 5);
        }
        assert!(
            !p.ends_with("config-0") || st.ok >= 3,
            "{}: {st:?}",
            p.display()
        );
    }
    assert_eq!(versions.len(), 5, "connected and answered: {versions:?}");

    let [dir, _] = harness::input_dirs("device_session");
    let mut agreed = [0, 0];
    for (_, data) in harness::load(&[dir]).unwrap() {
        let st = tuya_fuzz::device_session_stats(&data);
        if st.agreed > 0 && st.answered > 0 && st.rejected > 0 {
            agreed[usize::from(data[0] & 1)] += 1;
        }
    }
    assert!(
        agreed.iter().all(|&n| n > 0),
        "3.4 and 3.5 sessions: {agreed:?}"
    );
}

fn probe(name: &'static str, run: fn(&[u8]), seeds: &[&[u8]], iters: u32) -> Box<Failure> {
    let t = Target {
        name,
        run,
        iters,
        max_alloc: 1 << 20,
    };
    let files: Vec<(PathBuf, Vec<u8>)> = seeds
        .iter()
        .enumerate()
        .map(|(i, s)| (PathBuf::from(format!("seed{i}")), s.to_vec()))
        .collect();
    let mut cfg = config(&t);
    cfg.iters = iters;
    harness::fuzz(&t, &files, &cfg).expect_err("the broken target is caught")
}

fn panics_on_a5(data: &[u8]) {
    assert!(!data.contains(&0xA5), "found the byte");
}

/// A panic in a generated input is reported with that input, which is saved.
#[test]
fn harness_reports_a_panicking_input() {
    let f = probe("probe_panic", panics_on_a5, &[b"hello", b"world"], 100_000);
    assert!(f.origin.starts_with("generated input #"), "{f}");
    assert!(f.message.contains("found the byte"), "{f}");
    assert!(f.input.contains(&0xA5), "{f}");
    let saved = f.saved.as_ref().expect("saved");
    assert_eq!(std::fs::read(saved).unwrap(), f.input);
    assert!(
        f.to_string().contains("fuzz/regressions/probe_panic/"),
        "{f}"
    );
}

/// A corpus file that breaks the target is named before any input is generated.
#[test]
fn harness_reports_a_failing_seed() {
    let f = probe("probe_seed", panics_on_a5, &[b"fine", b"\xa5"], 10);
    assert_eq!((f.origin.as_str(), &f.input[..]), ("seed1", &b"\xa5"[..]));
}

fn allocates_on_ff(data: &[u8]) {
    if data.first() == Some(&0xFF) {
        std::hint::black_box(vec![0u8; 64 << 20]);
    }
}

/// An allocation far above what the input calls for is a failure, though nothing panicked.
#[test]
fn harness_reports_a_large_allocation() {
    assert!(alloc::installed(), "the tracking allocator measures");
    let f = probe("probe_alloc", allocates_on_ff, &[b"\x00ok"], 100_000);
    assert!(
        f.message.contains("allocated 67108864 bytes at once"),
        "{f}"
    );
    assert_eq!(f.input.first(), Some(&0xFF));
}

/// The same seed gives the same inputs, another seed others.
#[test]
fn the_mutator_is_deterministic() {
    let seeds: [&[u8]; 2] = [
        b"\x00\x00\x55\xaa\x00\x00\x00\x01\x00\x00\x00\x0a\x00\x00\x00\x08",
        b"{}",
    ];
    let gen = |seed| {
        let mut m = harness::Mutator::new(seed);
        (0..200).map(|_| m.generate(&seeds)).collect::<Vec<_>>()
    };
    assert_eq!(gen(1), gen(1));
    assert_ne!(gen(1), gen(2));
    assert!(gen(1).iter().all(|i| i.len() <= harness::MAX_LEN));
}
