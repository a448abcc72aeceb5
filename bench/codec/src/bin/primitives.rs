//! What bounds the codec: the cryptographic primitives of one 3.3 / 3.5 status-frame round trip,
//! alone, keyed once. Context for NOTES.md, not one of issue 13's figures.
//!
//! ```text
//! primitives                       ns per op, median of 5 x 1 s, every case
//! primitives --callgrind <case> N  exactly N ops of one case (instructions: see NOTES.md)
//! ```
//!
//! Cases (one "op" = what one encode+decode round trip of the status frame needs):
//! - `gcm-0.10`  seal + open of the 3.5 plaintext (122 bytes, 14 bytes AAD) with aes-gcm 0.10
//!               (what tuya-proto uses), keyed once;
//! - `gcm-0.11`  the same with aes-gcm 0.11 / aes 0.9 / polyval 0.7 (what rustuya-core uses);
//! - `gcm-ring`  the same with ring 0.17 (`LessSafeKey`, assembly AES-GCM);
//! - `ecb-3.3`   tuya-proto's `KeyedCipher::ecb_encrypt_into` + `ecb_decrypt` of the 3.3 JSON
//!               (112 bytes);
//! - `crc-3.3`   crc32fast over the 3.3 frame's 151 CRC'd bytes, twice (encode and check).

use std::hint::black_box;
use std::time::{Duration, Instant};

use aes_gcm::aead::{AeadInPlace as _, KeyInit as _};

const KEY: [u8; 16] = *b"sessionkey123456";
const NONCE: [u8; 12] = [0x5a; 12];
const AAD: [u8; 14] = [0; 14];
const GCM_PLAIN: usize = 122;
const ECB_PLAIN: usize = 112;
const CRC_LEN: usize = 151;

trait Op {
    fn op(&mut self) -> u8;
}

struct Gcm010(aes_gcm::Aes128Gcm, Vec<u8>);
impl Op for Gcm010 {
    fn op(&mut self) -> u8 {
        let n = aes_gcm::Nonce::from_slice(&NONCE);
        let tag = self.0.encrypt_in_place_detached(n, &AAD, &mut self.1).unwrap();
        self.0
            .decrypt_in_place_detached(n, black_box(&AAD), black_box(&mut self.1), &tag)
            .unwrap();
        self.1[0]
    }
}

struct Gcm011(aes_gcm_011::Aes128Gcm, Vec<u8>);
impl Op for Gcm011 {
    fn op(&mut self) -> u8 {
        use aes_gcm_011::AeadInOut as _;
        let n: &aes_gcm_011::Nonce<_> = (&NONCE).into();
        let tag = self
            .0
            .encrypt_inout_detached(n, &AAD, self.1.as_mut_slice().into())
            .unwrap();
        self.0
            .decrypt_inout_detached(n, black_box(&AAD), black_box(self.1.as_mut_slice()).into(), &tag)
            .unwrap();
        self.1[0]
    }
}

struct GcmRing(ring::aead::LessSafeKey, Vec<u8>);
impl Op for GcmRing {
    fn op(&mut self) -> u8 {
        use ring::aead::{Aad, Nonce};
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(NONCE), Aad::from(&AAD), &mut self.1)
            .unwrap();
        self.0
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(NONCE),
                Aad::from(black_box(&AAD)),
                tag,
                black_box(&mut self.1),
                0..,
            )
            .unwrap();
        self.1[0]
    }
}

struct Ecb(tuya_proto::cipher::KeyedCipher, Vec<u8>, Vec<u8>);
impl Op for Ecb {
    fn op(&mut self) -> u8 {
        self.2.clear();
        self.0.ecb_encrypt_into(&self.1, &mut self.2);
        let p = self.0.ecb_decrypt(black_box(&self.2), tuya_proto::Version::V33).unwrap();
        p[0]
    }
}

struct Crc(Vec<u8>);
impl Op for Crc {
    fn op(&mut self) -> u8 {
        let a = crc32fast::hash(&self.0);
        let b = crc32fast::hash(black_box(&self.0));
        (a ^ b) as u8
    }
}

fn make(case: &str) -> Option<Box<dyn Op>> {
    Some(match case {
        "gcm-0.10" => Box::new(Gcm010(aes_gcm::Aes128Gcm::new(&KEY.into()), vec![b'x'; GCM_PLAIN])),
        "gcm-0.11" => {
            use aes_gcm_011::KeyInit as _;
            Box::new(Gcm011(aes_gcm_011::Aes128Gcm::new((&KEY).into()), vec![b'x'; GCM_PLAIN]))
        }
        "gcm-ring" => {
            let k = ring::aead::UnboundKey::new(&ring::aead::AES_128_GCM, &KEY).unwrap();
            Box::new(GcmRing(ring::aead::LessSafeKey::new(k), vec![b'x'; GCM_PLAIN]))
        }
        "ecb-3.3" => Box::new(Ecb(
            tuya_proto::cipher::KeyedCipher::new(&KEY),
            vec![b'x'; ECB_PLAIN],
            Vec::with_capacity(256),
        )),
        "crc-3.3" => Box::new(Crc(vec![b'x'; CRC_LEN])),
        _ => return None,
    })
}

const CASES: [&str; 5] = ["gcm-0.10", "gcm-0.11", "gcm-ring", "ecb-3.3", "crc-3.3"];

fn rate(o: &mut dyn Op, secs: f64) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    let mut s = 0u8;
    loop {
        for _ in 0..1000 {
            s ^= o.op();
        }
        n += 1000;
        let e = start.elapsed();
        if e >= Duration::from_secs_f64(secs) {
            black_box(s);
            return e.as_secs_f64() * 1e9 / n as f64;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--callgrind") {
        let mut o = make(&args[1]).expect("unknown case");
        let n: u64 = args[2].parse().expect("N");
        let mut s = 0u8;
        for _ in 0..n {
            s ^= o.op();
        }
        black_box(s);
        return;
    }
    let mut ops: Vec<Box<dyn Op>> = CASES.iter().map(|c| make(c).unwrap()).collect();
    for o in &mut ops {
        rate(o.as_mut(), 0.2);
    }
    let mut ns = vec![Vec::new(); CASES.len()];
    for _ in 0..5 {
        for (i, o) in ops.iter_mut().enumerate() {
            ns[i].push(rate(o.as_mut(), 1.0));
        }
    }
    for (i, c) in CASES.iter().enumerate() {
        let mut v = ns[i].clone();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("{c:<10} {:>7.0} ns/op (median of 5; runs {:.0}..{:.0})", v[2], v[0], v[4]);
    }
}
