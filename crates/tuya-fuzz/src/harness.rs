//! The stable harness: replays the committed corpus and regressions of a target, then runs it
//! over inputs a deterministic mutator derives from them. Each input runs under
//! `catch_unwind` with the allocator's measure on ([`crate::alloc`]); a panic (a broken
//! invariant), an allocation above the target's limit or a run slower than the hang limit is a
//! [`Failure`] naming the input, which is saved for `fuzz/regressions/<target>/`.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::Target;

/// The seed used unless `TUYA_FUZZ_SEED` says otherwise.
pub const DEFAULT_SEED: u64 = 0x7475_7961_6675_7a7a;

/// Longest generated input: seeds are at most a few KiB, and longer inputs only slow the run.
pub const MAX_LEN: usize = 16 * 1024;

/// How long one input may take before it counts as a hang (generous: debug builds on a loaded
/// machine; real hangs run forever).
pub const HANG_LIMIT: Duration = Duration::from_secs(10);

/// How one harness run goes.
#[derive(Debug, Clone)]
pub struct Config {
    /// The mutator's seed.
    pub seed: u64,
    /// Generated inputs to run after the replay.
    pub iters: u32,
    /// Where failing inputs are written (`<dir>/<target>/<hash>`), if anywhere.
    pub save_to: Option<PathBuf>,
}

impl Config {
    /// `TUYA_FUZZ_SEED` (decimal or 0x-hex) and `TUYA_FUZZ_ITERS` from the environment, else
    /// [`DEFAULT_SEED`] and the target's own count.
    pub fn from_env(target: &Target) -> Result<Config, String> {
        let seed = match std::env::var("TUYA_FUZZ_SEED") {
            Ok(s) => parse_u64(&s).ok_or(format!("TUYA_FUZZ_SEED={s:?} is not a number"))?,
            Err(_) => DEFAULT_SEED,
        };
        let iters = match std::env::var("TUYA_FUZZ_ITERS") {
            Ok(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("TUYA_FUZZ_ITERS={s:?} is not a count"))?,
            Err(_) => target.iters,
        };
        Ok(Config {
            seed,
            iters,
            save_to: None,
        })
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// What a clean run went through.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Files replayed (corpus and regressions).
    pub replayed: usize,
    /// Generated inputs run.
    pub generated: u32,
    /// The mutator's seed.
    pub seed: u64,
    /// The largest single allocation of any input, in bytes (0 without the tracking allocator).
    pub largest_alloc: usize,
    /// The slowest input's time.
    pub slowest: Duration,
    /// The whole run's time.
    pub elapsed: Duration,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} files replayed, {} generated inputs (TUYA_FUZZ_SEED={:#x}), largest allocation \
             {} B, slowest input {:.1} ms, {:.2} s",
            self.replayed,
            self.generated,
            self.seed,
            self.largest_alloc,
            self.slowest.as_secs_f64() * 1e3,
            self.elapsed.as_secs_f64()
        )
    }
}

/// An input that broke the target.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The target.
    pub target: &'static str,
    /// Where the input came from: a file, or the generated input's number and seed.
    pub origin: String,
    /// What went wrong.
    pub message: String,
    /// The input.
    pub input: Vec<u8>,
    /// Where it was saved, if it was.
    pub saved: Option<PathBuf>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} failed on {}: {}",
            self.target, self.origin, self.message
        )?;
        let shown = &self.input[..self.input.len().min(512)];
        let hex: String = shown.iter().map(|b| format!("{b:02x}")).collect();
        let more = if shown.len() < self.input.len() {
            "…"
        } else {
            ""
        };
        writeln!(f, "input ({} bytes): {hex}{more}", self.input.len())?;
        match &self.saved {
            Some(p) => write!(
                f,
                "saved to {}: copy it into fuzz/regressions/{}/ once understood (and fixed)",
                p.display(),
                self.target
            ),
            None => write!(f, "not saved"),
        }
    }
}

/// The repository's `fuzz/` folder.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// `fuzz/corpus/<target>` and `fuzz/regressions/<target>`.
pub fn input_dirs(target: &str) -> [PathBuf; 2] {
    let f = fuzz_dir();
    [
        f.join("corpus").join(target),
        f.join("regressions").join(target),
    ]
}

/// Every file of `dirs` (a missing folder is empty), by path.
pub fn load(dirs: &[PathBuf]) -> std::io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut out = Vec::new();
    for d in dirs {
        let rd = match std::fs::read_dir(d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in rd {
            let p = entry?.path();
            if p.is_file() {
                let bytes = std::fs::read(&p)?;
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Runs `target` on one input: `Err` with what went wrong, else the largest allocation and
/// the time taken.
pub fn check(target: &Target, input: &[u8]) -> Result<(usize, Duration), String> {
    let t0 = Instant::now();
    let run = AssertUnwindSafe(|| (target.run)(input));
    let (r, largest) = crate::alloc::guarded(input, || catch_unwind(run));
    let took = t0.elapsed();
    if let Err(payload) = r {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".into());
        return Err(format!("panicked: {msg}"));
    }
    let limit = target.max_alloc + 4 * input.len();
    if largest > limit {
        return Err(format!(
            "allocated {largest} bytes at once (the limit for a {} byte input is {limit})",
            input.len()
        ));
    }
    if took > HANG_LIMIT {
        return Err(format!(
            "took {took:?} (a hang: the limit is {HANG_LIMIT:?})"
        ));
    }
    Ok((largest, took))
}

/// Replays `files`, then runs `cfg.iters` inputs generated from them.
pub fn fuzz(
    target: &Target,
    files: &[(PathBuf, Vec<u8>)],
    cfg: &Config,
) -> Result<Report, Box<Failure>> {
    let t0 = Instant::now();
    let mut report = Report {
        seed: cfg.seed,
        ..Report::default()
    };
    let note = |report: &mut Report, (alloc, took): (usize, Duration)| {
        report.largest_alloc = report.largest_alloc.max(alloc);
        report.slowest = report.slowest.max(took);
    };
    let fail = |origin: String, message: String, input: &[u8]| {
        let saved = cfg
            .save_to
            .as_ref()
            .and_then(|d| save(d, target.name, input));
        Box::new(Failure {
            target: target.name,
            origin,
            message,
            input: input.to_vec(),
            saved,
        })
    };
    for (path, input) in files {
        let r = check(target, input).map_err(|m| fail(path.display().to_string(), m, input))?;
        note(&mut report, r);
        report.replayed += 1;
    }
    let seeds: Vec<&[u8]> = files.iter().map(|(_, b)| &b[..]).collect();
    let mut m = Mutator::new(cfg.seed);
    for i in 0..cfg.iters {
        let input = m.generate(&seeds);
        let origin = || format!("generated input #{i} of TUYA_FUZZ_SEED={:#x}", cfg.seed);
        let r = check(target, &input).map_err(|msg| fail(origin(), msg, &input))?;
        note(&mut report, r);
        report.generated += 1;
    }
    report.elapsed = t0.elapsed();
    Ok(report)
}

/// Writes `input` under `dir/<target>/`, named by its hash (so a rerun overwrites, not adds).
fn save(dir: &Path, target: &str, input: &[u8]) -> Option<PathBuf> {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).ok()?;
    let p = d.join(format!("{:016x}", fnv1a(input)));
    std::fs::write(&p, input).ok()?;
    Some(p)
}

/// FNV-1a, 64 bits: a stable name for an input.
pub fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Derives inputs from seeds: stacked bit flips, byte sets and interesting bytes, inserts,
/// deletes, truncation, splices of two seeds, borrowed slices, interesting integers written
/// over frame length fields, frame prefixes and JSON/TOML tokens; now and then pure random
/// bytes. The same seed gives the same inputs.
pub struct Mutator {
    rng: StdRng,
}

/// Integers that probe limits: zero, one, the smallest frame lengths, powers of two around
/// the caps, and the top of the range.
const INTERESTING: [u32; 14] = [
    0,
    1,
    7,
    8,
    27,
    28,
    0x7F,
    0xFF,
    0x1000,
    0xFFFF,
    0x1_0000,
    0x7FFF_FFFF,
    u32::MAX - 1,
    u32::MAX,
];

/// Tokens of the text formats (JSON, TOML, JavaScript literals).
const TOKENS: [&str; 16] = [
    "\"", "{", "}", "[", "]", ",", ":", "=", "\\u0000", "null", "true", "1e999", "-1", "\n", "[[",
    "'",
];

impl Mutator {
    /// A mutator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The next input.
    pub fn generate(&mut self, seeds: &[&[u8]]) -> Vec<u8> {
        if seeds.is_empty() || self.rng.gen_ratio(1, 16) {
            let n = self.rng.gen_range(0..=512);
            return (0..n).map(|_| self.rng.gen()).collect();
        }
        let mut d = seeds[self.rng.gen_range(0..seeds.len())].to_vec();
        for _ in 0..self.rng.gen_range(1..=4) {
            self.mutate(&mut d, seeds);
        }
        d.truncate(MAX_LEN);
        d
    }

    fn at(&mut self, d: &[u8]) -> usize {
        self.rng.gen_range(0..=d.len())
    }

    fn mutate(&mut self, d: &mut Vec<u8>, seeds: &[&[u8]]) {
        let op = self.rng.gen_range(0..11);
        if d.is_empty() && op < 2 {
            d.push(self.rng.gen());
            return;
        }
        match op {
            0 => {
                let i = self.rng.gen_range(0..d.len());
                d[i] ^= 1 << self.rng.gen_range(0..8);
            }
            1 => {
                let i = self.rng.gen_range(0..d.len());
                d[i] = match self.rng.gen_range(0..6) {
                    0 => 0,
                    1 => 0xFF,
                    2 => 0x7F,
                    3 => 0x80,
                    4 => 1,
                    _ => self.rng.gen(),
                };
            }
            2 => {
                let i = self.at(d);
                let n = self.rng.gen_range(1..=8);
                let bytes: Vec<u8> = (0..n).map(|_| self.rng.gen()).collect();
                d.splice(i..i, bytes);
            }
            3 => {
                let i = self.at(d);
                let end = (i + self.rng.gen_range(1..=16)).min(d.len());
                d.drain(i..end);
            }
            4 => {
                let i = self.at(d);
                d.truncate(i);
            }
            5 => {
                let other = seeds[self.rng.gen_range(0..seeds.len())];
                let (i, j) = (self.at(d), self.rng.gen_range(0..=other.len()));
                d.truncate(i);
                d.extend_from_slice(&other[j..]);
            }
            6 => {
                let other = seeds[self.rng.gen_range(0..seeds.len())];
                let j = self.rng.gen_range(0..=other.len());
                let end = (j + self.rng.gen_range(1..=32)).min(other.len());
                let i = self.at(d);
                d.splice(i..i, other[j..end].iter().copied());
            }
            7 => self.length_field(d),
            8 => {
                let i = self.at(d);
                let end = (i + self.rng.gen_range(1..=64)).min(d.len());
                let copy = d[i..end].to_vec();
                let j = self.at(d);
                d.splice(j..j, copy);
            }
            9 => {
                let magic: [u8; 4] = if self.rng.gen() {
                    [0, 0, 0x55, 0xAA]
                } else {
                    [0, 0, 0x66, 0x99]
                };
                let i = self.at(d);
                d.splice(i..i, magic);
            }
            _ => {
                let t = TOKENS[self.rng.gen_range(0..TOKENS.len())];
                let i = self.at(d);
                d.splice(i..i, t.bytes());
            }
        }
    }

    /// An interesting integer (or one near the input's length) over the length field of a
    /// frame found in `d`, else anywhere.
    fn length_field(&mut self, d: &mut [u8]) {
        let frames: Vec<usize> = (0..d.len().saturating_sub(3))
            .filter_map(|i| match d[i..i + 4] {
                [0, 0, 0x55, 0xAA] => Some(i + 12),
                [0, 0, 0x66, 0x99] => Some(i + 14),
                _ => None,
            })
            .filter(|&at| at + 4 <= d.len())
            .collect();
        let at = if frames.is_empty() || self.rng.gen_ratio(1, 4) {
            if d.len() < 4 {
                return;
            }
            self.rng.gen_range(0..=d.len() - 4)
        } else {
            frames[self.rng.gen_range(0..frames.len())]
        };
        let x = if self.rng.gen_ratio(1, 3) {
            (d.len() as u32)
                .wrapping_add(self.rng.gen_range(0..64))
                .wrapping_sub(32)
        } else {
            INTERESTING[self.rng.gen_range(0..INTERESTING.len())]
        };
        let bytes = if self.rng.gen_ratio(1, 4) {
            x.to_le_bytes()
        } else {
            x.to_be_bytes()
        };
        d[at..at + 4].copy_from_slice(&bytes);
    }
}
