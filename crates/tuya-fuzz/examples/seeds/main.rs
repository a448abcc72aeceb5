//! Writes the seed corpora, `fuzz/corpus/<target>/`, deterministically (fixed seeds, fixed
//! nonces): real frames from the byte-exact vectors in crates/tuya-proto/vectors, frames of
//! every version and both roles for the common commands, whole handshakes, captures of them,
//! discovery datagrams, and the sample files of tuya-devices, tuya-bridge and tuya-cloud.
//!
//! `cargo run -p tuya-fuzz --example seeds` rewrites every corpus folder (files it no longer
//! makes are removed); commit the result. Regressions (`fuzz/regressions/`) are not touched.

mod files;
mod frames;

use std::collections::BTreeMap;
use std::path::Path;

use tuya_fuzz::harness;

/// One target's seeds, by file name.
type Corpus = BTreeMap<String, Vec<u8>>;

/// A file name from a description: letters, digits, `-` and `.` kept, the rest `-`.
fn name(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '.' {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out.trim_matches('-').to_string()
}

fn add(c: &mut Corpus, label: &str, bytes: Vec<u8>) {
    let n = name(label);
    assert!(c.insert(n.clone(), bytes).is_none(), "two seeds named {n}");
}

fn write(target: &str, corpus: &Corpus) -> std::io::Result<usize> {
    assert!(tuya_fuzz::target(target).is_some(), "no target {target}");
    let [dir, _] = harness::input_dirs(target);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let mut total = 0;
    for (n, bytes) in corpus {
        std::fs::write(dir.join(n), bytes)?;
        total += bytes.len();
    }
    let shown = dir.canonicalize().unwrap_or(dir);
    println!(
        "{target}: {} files, {total} bytes in {}",
        corpus.len(),
        shown.display()
    );
    Ok(total)
}

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let frames = frames::all(&root);
    let mut total = 0;
    total += write("stream_client", &frames::stream(&frames))?;
    total += write("stream_device", &frames::stream(&frames))?;
    total += write("discovery", &frames::discovery(&frames))?;
    total += write("device_session", &frames::sessions())?;
    total += write("connection", &frames::connections())?;
    total += write("pcap", &frames::captures())?;
    total += write("devices_json", &files::devices(&root)?)?;
    total += write("bridge_config", &files::bridge(&root)?)?;
    total += write("cloud_response", &files::cloud(&root)?)?;
    println!("{total} bytes in all");
    Ok(())
}
