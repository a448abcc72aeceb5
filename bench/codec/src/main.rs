//! Issue 13: encode+decode round trips of one status frame, tuya-proto vs rustuya-core 0.4.6.
//!
//! ```text
//! codec-bench [--secs S] [--runs R] [--no-check]  interop check, then frames/s (JSON on stdout)
//! codec-bench --check                        interop check only
//! codec-bench --callgrind <lib> <ver> <N>    exactly N round trips, for valgrind --tool=callgrind
//!                                            lib: tuyactl | rustuya-core, ver: 3.3 | 3.5
//! ```
//!
//! The frame: a device → client STATUS push (seq 42, return code 0) carrying the JSON that
//! `tuya_proto::payload::status` builds for 6 DPs (a switch, four integers, an enum). Both
//! libraries get the same JSON bytes; one "round trip" is the device encoding the frame and the
//! client decoding it back to the JSON bytes. 3.3 uses the local key (55AA, AES-ECB, CRC32),
//! 3.5 a session key (6699, AES-GCM) and a fresh random 12-byte nonce per frame, drawn from the
//! same kind of seeded `StdRng` for both libraries.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use rustuya_core::crypto::TuyaCipher;
use rustuya_core::frame as rf;
use rustuya_core::{message as rm, payload as rp, CommandType};
use tuya_proto::{payload, Codec, Command, DpId, DpValue, Dps, LocalKey, Message, Role, SessionKey};

const LOCAL_KEY: &[u8; 16] = b"0123456789abcdef";
const SESSION_KEY: &[u8; 16] = b"sessionkey123456";
const DEV_ID: &str = "bf0123456789abcdefgh";
const SEQ: u32 = 42;
const T: u64 = 1_700_000_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ver {
    V33,
    V35,
}

impl Ver {
    fn name(self) -> &'static str {
        match self {
            Ver::V33 => "3.3",
            Ver::V35 => "3.5",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "3.3" => Some(Ver::V33),
            "3.5" => Some(Ver::V35),
            _ => None,
        }
    }
    fn ours(self) -> tuya_proto::Version {
        match self {
            Ver::V33 => tuya_proto::Version::V33,
            Ver::V35 => tuya_proto::Version::V35,
        }
    }
    fn theirs(self) -> rustuya_core::Version {
        match self {
            Ver::V33 => rustuya_core::Version::V3_3,
            Ver::V35 => rustuya_core::Version::V3_5,
        }
    }
    /// The key status frames are sealed with: the local key on 3.3, the session key on 3.5.
    fn key(self) -> &'static [u8; 16] {
        match self {
            Ver::V33 => LOCAL_KEY,
            Ver::V35 => SESSION_KEY,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lib {
    Tuyactl,
    Rustuya,
}

impl Lib {
    fn name(self) -> &'static str {
        match self {
            Lib::Tuyactl => "tuyactl",
            Lib::Rustuya => "rustuya-core",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "tuyactl" | "tuya-proto" => Some(Lib::Tuyactl),
            "rustuya-core" | "rustuya" => Some(Lib::Rustuya),
            _ => None,
        }
    }
}

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

/// The JSON body of the status push, as a 3.x device sends it.
fn status_json(v: Ver) -> Vec<u8> {
    payload::status(v.ours(), DEV_ID, None, &typical_dps(), Some(T))
}

// ---------------------------------------------------------------------------------------------
// tuya-proto: one Codec per side, built once (all ciphers keyed once), encode into a reused
// buffer, decode to a Message. Exactly what crates/tuya-proto/benches/codec.rs measures.

struct Ours {
    dev: Codec,
    cli: Codec,
    msg: Message,
    buf: Vec<u8>,
}

impl Ours {
    fn new(v: Ver, seed: u64) -> Self {
        let pv = v.ours();
        let key = LocalKey::new(std::str::from_utf8(LOCAL_KEY).unwrap()).unwrap();
        let mut dev = Codec::with_entropy(pv, key.clone(), Role::Device, StdRng::seed_from_u64(seed));
        let mut cli = Codec::with_entropy(pv, key, Role::Client, StdRng::seed_from_u64(seed + 1));
        if v == Ver::V35 {
            let sk = SessionKey::from_bytes(*SESSION_KEY);
            dev.set_session_key(sk);
            cli.set_session_key(sk);
        }
        let msg = Message::reply(pv, SEQ, Command::Status, status_json(v));
        Self {
            dev,
            cli,
            msg,
            buf: Vec::with_capacity(512),
        }
    }

    /// Encodes with a fixed nonce (3.5), for the byte comparison.
    fn encode_with_iv(&mut self, iv: [u8; 12]) -> Vec<u8> {
        let mut m = self.msg.clone();
        if self.dev.version() == tuya_proto::Version::V35 {
            m.iv = Some(iv);
        }
        self.dev.encode(&m).expect("tuya-proto encode")
    }

    #[inline(never)]
    fn round_trip(&mut self) -> usize {
        self.buf.clear();
        self.dev
            .encode_into(black_box(&self.msg), &mut self.buf)
            .expect("tuya-proto encode");
        let m = self.cli.decode(black_box(&self.buf)).expect("tuya-proto decode");
        m.payload.len()
    }
}

// ---------------------------------------------------------------------------------------------
// rustuya-core 0.4.6. It has no device role, so the device side is what its own tests do for a
// device reply: payload::encode_payload (ECB + header on 3.3, header only on 3.5), the 4-byte
// return code in front, then frame::pack_55aa (CRC32) or frame::pack_6699 (GCM, caller's IV).
//
// Keying: the TuyaCipher is built once and held (encode_payload / decode_payload take it by
// reference). The API allows no more than that: TuyaCipher::ecb_encrypt/ecb_decrypt build a
// fresh ecb Encryptor/Decryptor (an AES key expansion) from the raw key on every call, and
// frame::pack_6699/unpack_6699 take the raw key and build a new TuyaCipher (AES + GCM key
// setup) per frame. message::decode_message (what rustuya's Device calls for every received
// frame) also builds a TuyaCipher per call; that variant is measured as "message API" too.

struct Theirs {
    v: Ver,
    cipher: TuyaCipher,
    json: Vec<u8>,
    rng: StdRng,
    via_message_api: bool,
}

impl Theirs {
    fn new(v: Ver, seed: u64, via_message_api: bool) -> Self {
        Self {
            v,
            cipher: TuyaCipher::new(v.key()).expect("16-byte key"),
            json: status_json(v),
            rng: StdRng::seed_from_u64(seed),
            via_message_api,
        }
    }

    fn encode_with_iv(&self, iv: &[u8; 12]) -> Vec<u8> {
        let cmd = CommandType::Status as u32;
        let body = rp::encode_payload(self.v.theirs(), cmd, &self.json, &self.cipher)
            .expect("rustuya encode_payload");
        let mut plain = Vec::with_capacity(4 + body.len());
        plain.extend_from_slice(&0u32.to_be_bytes()); // return code 0
        plain.extend_from_slice(&body);
        match self.v {
            Ver::V33 => rf::pack_55aa(SEQ, cmd, &plain, rf::Integrity::Crc32),
            Ver::V35 => rf::pack_6699(SEQ, cmd, &plain, self.v.key(), iv).expect("rustuya pack_6699"),
        }
    }

    /// Decodes a device frame (return code present) to (seq, cmd, retcode, payload).
    fn decode(&self, wire: &[u8]) -> Result<(u32, u32, Option<u32>, Vec<u8>), rustuya_core::CoreError> {
        if self.via_message_api {
            let m = rm::decode_message(self.v.theirs(), wire, self.v.key(), true)?;
            return Ok((m.seqno, m.cmd, m.retcode, m.payload));
        }
        let raw = match self.v {
            Ver::V33 => rf::unpack_55aa(wire, rf::Integrity::Crc32)?,
            Ver::V35 => rf::unpack_6699(wire, self.v.key())?,
        };
        let (rc, body) = if raw.body.len() >= 4 {
            let b = &raw.body;
            (Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]])), &raw.body[4..])
        } else {
            (None, &raw.body[..])
        };
        let p = rp::decode_payload(self.v.theirs(), body, &self.cipher)?;
        Ok((raw.seqno, raw.cmd, rc, p))
    }

    #[inline(never)]
    fn round_trip(&mut self) -> usize {
        let mut iv = [0u8; 12];
        if self.v == Ver::V35 {
            self.rng.fill_bytes(&mut iv);
        }
        let wire = self.encode_with_iv(black_box(&iv));
        let (_, _, _, p) = self.decode(black_box(&wire)).expect("rustuya decode");
        p.len()
    }
}

enum Runner {
    Ours(Ours),
    Theirs(Theirs),
}

impl Runner {
    fn new(lib: Lib, v: Ver, message_api: bool) -> Self {
        match lib {
            Lib::Tuyactl => Runner::Ours(Ours::new(v, 1)),
            Lib::Rustuya => Runner::Theirs(Theirs::new(v, 1, message_api)),
        }
    }
    #[inline(always)]
    fn round_trip(&mut self) -> usize {
        match self {
            Runner::Ours(o) => o.round_trip(),
            Runner::Theirs(t) => t.round_trip(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Interop check.

/// Checks, per version, that each library decodes the other's frame to the same JSON, and
/// whether the two encoders produce the same bytes. Returns false on any failure.
fn check(v: Ver) -> bool {
    let json = status_json(v);
    let iv = [0x5a_u8; 12];
    let mut ours = Ours::new(v, 7);
    let theirs = Theirs::new(v, 7, false);
    let theirs_msg = Theirs::new(v, 7, true);
    let a = ours.encode_with_iv(iv);
    let b = theirs.encode_with_iv(&iv);
    let mut ok = true;
    eprintln!(
        "check {}: JSON {} bytes; tuyactl frame {} bytes, rustuya-core frame {} bytes",
        v.name(),
        json.len(),
        a.len(),
        b.len()
    );
    if a == b {
        eprintln!("  same content (and the same nonce on 3.5) -> byte-identical frames");
    } else {
        let first = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
        eprintln!("  frames DIFFER from byte {first}");
    }
    // rustuya-core decodes ours (both its ways).
    for (name, t) in [("frame+payload API", &theirs), ("decode_message", &theirs_msg)] {
        match t.decode(&a) {
            Ok((seq, cmd, rc, p)) => {
                let good = seq == SEQ && cmd == 8 && rc == Some(0) && p == json;
                ok &= good;
                eprintln!(
                    "  rustuya-core ({name}) decodes tuyactl's frame: seq {seq} cmd {cmd} rc {rc:?}, payload {}",
                    if p == json { "== JSON" } else { "!= JSON" }
                );
            }
            Err(e) => {
                ok = false;
                eprintln!("  rustuya-core ({name}) cannot decode tuyactl's frame: {e:?}");
            }
        }
    }
    // ours decodes rustuya-core's.
    match ours.cli.decode(&b) {
        Ok(m) => {
            let good = m.seq == SEQ && m.cmd == Command::Status && m.retcode == Some(0) && m.payload == json;
            ok &= good;
            eprintln!(
                "  tuyactl decodes rustuya-core's frame: seq {} cmd {:?} rc {:?} header {:?}, payload {}",
                m.seq,
                m.cmd,
                m.retcode,
                m.header.map(|h| String::from_utf8_lossy(&h[..3]).into_owned()),
                if m.payload == json { "== JSON" } else { "!= JSON" }
            );
        }
        Err(e) => {
            ok = false;
            eprintln!("  tuyactl cannot decode rustuya-core's frame: {e}");
        }
    }
    // And each its own round trip, with the random nonces the benchmark uses.
    let mut r = Runner::new(Lib::Tuyactl, v, false);
    let mut s = Runner::new(Lib::Rustuya, v, false);
    let (x, y) = (r.round_trip(), s.round_trip());
    ok &= x == json.len() && y == json.len();
    eprintln!("  round trips with random nonces: payload {x} / {y} bytes");
    ok
}

// ---------------------------------------------------------------------------------------------
// Timing.

/// Round trips per second over about `secs` seconds.
fn measure(r: &mut Runner, secs: f64) -> f64 {
    const BATCH: u64 = 2000;
    let budget = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut n = 0u64;
    let mut sink = 0usize;
    loop {
        for _ in 0..BATCH {
            sink = sink.wrapping_add(r.round_trip());
        }
        n += BATCH;
        let el = start.elapsed();
        if el >= budget {
            black_box(sink);
            return n as f64 / el.as_secs_f64();
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn features() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        format!(
            "x86_64 aes={} pclmulqdq={} sse4.1={} avx2={}",
            std::is_x86_feature_detected!("aes"),
            std::is_x86_feature_detected!("pclmulqdq"),
            std::is_x86_feature_detected!("sse4.1"),
            std::is_x86_feature_detected!("avx2")
        )
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH.to_string()
    }
}

fn bench(secs: f64, runs: usize) {
    eprintln!("CPU features seen at run time: {}", features());
    let cases: Vec<(Ver, Lib, bool, &str)> = vec![
        (Ver::V33, Lib::Tuyactl, false, "tuyactl"),
        (Ver::V33, Lib::Rustuya, false, "rustuya-core"),
        (Ver::V33, Lib::Rustuya, true, "rustuya-core message API"),
        (Ver::V35, Lib::Tuyactl, false, "tuyactl"),
        (Ver::V35, Lib::Rustuya, false, "rustuya-core"),
        (Ver::V35, Lib::Rustuya, true, "rustuya-core message API"),
    ];
    let mut runners: Vec<Runner> = cases.iter().map(|&(v, l, m, _)| Runner::new(l, v, m)).collect();
    // Warm-up: caches, branch predictors, the CPU clock.
    for r in &mut runners {
        measure(r, 0.3);
    }
    let mut rates = vec![Vec::new(); cases.len()];
    // Interleaved: run k of every case, then run k+1, so drift of a noisy machine hits all.
    for k in 0..runs {
        for (i, r) in runners.iter_mut().enumerate() {
            let x = measure(r, secs);
            eprintln!("  run {}/{runs} {} {:<26} {:>10.0} frames/s", k + 1, cases[i].0.name(), cases[i].3, x);
            rates[i].push(x);
        }
        // Same-run ratios.
        for (vi, base) in [(0usize, "3.3"), (3usize, "3.5")] {
            eprintln!(
                "  run {}/{runs} {base}: tuyactl / rustuya-core = {:.2}x (message API: {:.2}x)",
                k + 1,
                rates[vi][k] / rates[vi + 1][k],
                rates[vi][k] / rates[vi + 2][k]
            );
        }
    }
    let med: Vec<f64> = rates.iter().map(|r| median(r.clone())).collect();
    for (i, c) in cases.iter().enumerate() {
        let (lo, hi) = rates[i].iter().fold((f64::MAX, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
        eprintln!(
            "median {} {:<26} {:>10.0} frames/s  ({:.0} ns/round trip; runs {:.0}..{:.0})",
            c.0.name(),
            c.3,
            med[i],
            1e9 / med[i],
            lo,
            hi
        );
    }
    for (vi, v) in [(0usize, Ver::V33), (3usize, Ver::V35)] {
        eprintln!(
            "ratio {}: tuyactl / rustuya-core = {:.2}x (vs its message API: {:.2}x); target 5x",
            v.name(),
            med[vi] / med[vi + 1],
            med[vi] / med[vi + 2]
        );
    }
    for (i, c) in cases.iter().enumerate() {
        if c.2 {
            continue; // the message-API variant is context, on stderr only
        }
        println!(
            "{{\"figure\": \"codec_{}_per_sec\", \"tool\": \"{}\", \"value\": {:.0}, \"unit\": \"frames/s\"}}",
            c.0.name(),
            c.1.name(),
            med[i]
        );
    }
}

/// Exactly `n` round trips (plus nothing else that scales with `n`), for callgrind.
fn callgrind(lib: Lib, v: Ver, n: u64, message_api: bool) {
    eprintln!("CPU features seen at run time: {}", features());
    let mut r = Runner::new(lib, v, message_api);
    let mut sink = 0usize;
    for _ in 0..n {
        sink = sink.wrapping_add(r.round_trip());
    }
    black_box(sink);
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: codec-bench [--secs S] [--runs R] [--no-check] | --check | --callgrind <tuyactl|rustuya-core|rustuya-core-message> <3.3|3.5> <N>"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut secs = 3.0;
    let mut runs = 5;
    let mut do_check = true;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--callgrind" if args.len() >= i + 4 => {
                let (lib, message_api) = match args[i + 1].as_str() {
                    "rustuya-core-message" => (Lib::Rustuya, true),
                    s => match Lib::parse(s) {
                        Some(l) => (l, false),
                        None => return usage(),
                    },
                };
                let (Some(v), Ok(n)) = (Ver::parse(&args[i + 2]), args[i + 3].parse()) else {
                    return usage();
                };
                callgrind(lib, v, n, message_api);
                return ExitCode::SUCCESS;
            }
            "--check" => {
                let ok = check(Ver::V33) & check(Ver::V35);
                return if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE };
            }
            "--no-check" => do_check = false,
            "--secs" if i + 1 < args.len() => {
                secs = args[i + 1].parse().unwrap_or(secs);
                i += 1;
            }
            "--runs" if i + 1 < args.len() => {
                runs = args[i + 1].parse().unwrap_or(runs);
                i += 1;
            }
            _ => return usage(),
        }
        i += 1;
    }
    let ok = !do_check || check(Ver::V33) & check(Ver::V35);
    if !ok {
        eprintln!("interop check FAILED (see above); measuring anyway");
    }
    bench(secs, runs.max(1));
    ExitCode::SUCCESS
}
