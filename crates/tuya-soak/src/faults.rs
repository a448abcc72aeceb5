//! The fault schedule: drawn up front from the seed (so a seed names a run), then played
//! against the simulator. Each device gets fault episodes of one or two kinds, a few seconds
//! each, separated by quiet gaps; the broker restarts are scheduled here too.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;
use serde::Serialize;
use tuya_proto::Version;
use tuya_sim::{DeviceHandle, Faults, Firmware, Quirks};

use crate::fleet_spec::{baseline_firmware, SoakDevice};

/// One kind of fault.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Every frame the device sends is delayed.
    Delay(Duration),
    /// Frames the device sends are dropped with this probability.
    Drop(f64),
    /// Connections are closed after this many frames (resets).
    Resets(u32),
    /// Garbage bytes before every frame.
    Garbage,
    /// Every frame's CRC / HMAC / tag is corrupted.
    BadIntegrity,
    /// Clients are dropped and new connections refused (a reboot, or a busy device).
    Refuse,
    /// The device is re-paired: a new key at once, given to the client after `lag`.
    KeyChange {
        /// The new key.
        key: String,
        /// How long the client keeps the old key.
        lag: Duration,
    },
    /// Every rule of Tuya's SDK: increasing sequence numbers, frames before a session key
    /// limited, bad frames closing the connection, a 0x00-led session key taken as none.
    StrictFirmware,
    /// The next `n` handshakes derive a 0x00-led session key, which the firmware takes as
    /// none (3.4/3.5); clients are dropped so that they negotiate.
    ZeroKey(u32),
    /// One LAN client at a time (old firmware); only on devices the bridge does not serve.
    OneClient,
    /// Sequence-number quirks of real firmware: replies numbered by the device's own counter
    /// (as 3.5 firmware does), pushes and heartbeat replies numbered 0, push headers carrying
    /// a counter.
    SeqQuirks,
}

impl Fault {
    /// The kind's name in the figures.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Delay(_) => "delay",
            Fault::Drop(_) => "drop",
            Fault::Resets(_) => "resets",
            Fault::Garbage => "garbage",
            Fault::BadIntegrity => "bad integrity",
            Fault::Refuse => "refuse",
            Fault::KeyChange { .. } => "key change",
            Fault::StrictFirmware => "strict firmware",
            Fault::ZeroKey(_) => "zero session key",
            Fault::OneClient => "one client",
            Fault::SeqQuirks => "seq quirks",
        }
    }
}

/// Faults on one device for a while.
#[derive(Debug, Clone)]
pub struct Episode {
    /// Start, from the start of the run.
    pub at: Duration,
    /// How long.
    pub len: Duration,
    /// Index of the device.
    pub device: usize,
    /// What.
    pub faults: Vec<Fault>,
}

/// A broker restart: killed at `at`, started again `down` later.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Restart {
    /// When it is killed, from the start of the run.
    #[serde(serialize_with = "secs")]
    pub at: Duration,
    /// How long it stays down.
    #[serde(serialize_with = "secs")]
    pub down: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Every fault of a run, in start order.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Device episodes, by start.
    pub episodes: Vec<Episode>,
    /// Broker restarts, by time.
    pub restarts: Vec<Restart>,
}

/// Faults that can be combined with another on the same episode.
fn light(rng: &mut StdRng) -> Fault {
    match rng.gen_range(0..4) {
        0 => Fault::Delay(Duration::from_millis(rng.gen_range(50..600))),
        1 => Fault::Drop(rng.gen_range(0.05..0.35)),
        2 => Fault::Resets(rng.gen_range(2..14)),
        _ => Fault::Garbage,
    }
}

fn primary(rng: &mut StdRng, d: &SoakDevice) -> Fault {
    let session = d.spec.version.uses_session_key();
    // Few devices can be re-keyed: give them key changes often enough to matter.
    if d.rekeyable() && rng.gen_bool(0.25) {
        return Fault::KeyChange {
            key: crate::fleet_spec::random_key(rng),
            lag: Duration::from_millis(rng.gen_range(200..3000)),
        };
    }
    loop {
        let f = match rng.gen_range(0..11) {
            0..=3 => light(rng),
            10 => Fault::SeqQuirks,
            4 => Fault::BadIntegrity,
            5 => Fault::Refuse,
            6 => Fault::StrictFirmware,
            7 if d.rekeyable() => Fault::KeyChange {
                key: crate::fleet_spec::random_key(rng),
                lag: Duration::from_millis(rng.gen_range(200..3000)),
            },
            8 if session => Fault::ZeroKey(rng.gen_range(1..4)),
            9 if !d.bridged => Fault::OneClient,
            _ => continue,
        };
        return f;
    }
}

/// Draws the schedule of a fault phase of length `phase` for `devices`, with `restarts`
/// broker restarts spread over it.
pub fn draw(
    rng: &mut StdRng,
    devices: &[SoakDevice],
    phase: Duration,
    restarts: usize,
) -> Schedule {
    let mut episodes = Vec::new();
    // Faults end a little before the calm phase, so each episode's revert is its own.
    let end = phase.saturating_sub(Duration::from_millis(500));
    for (i, d) in devices.iter().enumerate() {
        let mut t = Duration::from_millis(rng.gen_range(1000..4000));
        while t + Duration::from_millis(500) < end {
            let len = Duration::from_millis(rng.gen_range(1000..5000)).min(end - t);
            let mut faults = vec![primary(rng, d)];
            if rng.gen_bool(0.3) {
                let extra = light(rng);
                if faults.iter().all(|f| f.kind() != extra.kind()) {
                    faults.push(extra);
                }
            }
            if let Some(Fault::KeyChange { lag, .. }) = faults.first_mut() {
                *lag = (*lag).min(len);
            }
            episodes.push(Episode {
                at: t,
                len,
                device: i,
                faults,
            });
            t += len + Duration::from_millis(rng.gen_range(2000..6000));
        }
    }
    episodes.sort_by_key(|e| e.at);
    let restarts = (0..restarts)
        .map(|k| {
            let frac = (k as f64 + 1.0) / (restarts as f64 + 1.0);
            let jitter = rng.gen_range(-0.05..0.05);
            Restart {
                at: phase.mul_f64((frac + jitter).clamp(0.1, 0.85)),
                down: Duration::from_millis(rng.gen_range(1000..3000)),
            }
        })
        .collect();
    Schedule { episodes, restarts }
}

/// Episodes per fault kind.
pub fn kinds(s: &Schedule) -> std::collections::BTreeMap<&'static str, u64> {
    let mut m = std::collections::BTreeMap::new();
    for e in &s.episodes {
        for f in &e.faults {
            *m.entry(f.kind()).or_default() += 1;
        }
    }
    m
}

/// Applies an episode's faults at the simulator (its key change's client side is the
/// caller's). `since_start`: time since the simulator started, for `refuse_for`;
/// `handshakes`: the device's negotiations so far, for `zero_key_handshakes`.
pub fn apply(
    dev: &DeviceHandle,
    faults: &[Fault],
    len: Duration,
    since_start: Duration,
    handshakes: u32,
) {
    let mut f = Faults::default();
    let mut fw = baseline_firmware();
    let mut close = false;
    let mut quirks = Quirks::default();
    for fault in faults {
        match fault {
            Fault::Delay(d) => f.delay = Some(*d),
            Fault::Drop(r) => f.drop_ratio = *r,
            Fault::Resets(n) => f.close_after_frames = Some(*n),
            Fault::Garbage => f.garbage = true,
            Fault::BadIntegrity => f.bad_integrity = true,
            Fault::Refuse => {
                f.refuse_for = Some(since_start + len);
                close = true;
            }
            Fault::KeyChange { key, .. } => dev.set_local_key(key),
            Fault::StrictFirmware => fw = Firmware::strict(),
            Fault::ZeroKey(n) => {
                fw = Firmware {
                    zero_key_is_no_key: true,
                    zero_key_handshakes: handshakes + n,
                    ..Firmware::strict()
                };
                close = true;
            }
            Fault::OneClient => fw.max_clients = 1,
            Fault::SeqQuirks => {
                quirks.own_seq = true;
                quirks.seq_zero_pushes = true;
                quirks.header_counter = true;
            }
        }
    }
    // Strict firmware keeps three clients; one-client episodes are never strict ones.
    if faults.contains(&Fault::OneClient) {
        fw.max_clients = 1;
    }
    dev.set_faults(f);
    dev.set_firmware(fw);
    dev.set_quirks(quirks);
    if close {
        dev.close_client();
    }
}

/// Ends every fault on the device (a new key stays: re-pairing is for good).
pub fn clear(dev: &DeviceHandle) {
    dev.set_faults(Faults::default());
    dev.set_firmware(baseline_firmware());
    dev.set_quirks(Quirks::default());
}

/// Whether zero-key faults mean anything on this version.
pub fn zero_key_applies(v: Version) -> bool {
    v.uses_session_key()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_seed_names_one_schedule_and_every_kind_appears() {
        let devs = crate::fleet_spec::build(12, 0, &mut StdRng::seed_from_u64(3));
        let a = draw(
            &mut StdRng::seed_from_u64(7),
            &devs,
            Duration::from_secs(60),
            2,
        );
        let b = draw(
            &mut StdRng::seed_from_u64(7),
            &devs,
            Duration::from_secs(60),
            2,
        );
        assert_eq!(format!("{:?}", a.episodes), format!("{:?}", b.episodes));
        let k = kinds(&a);
        assert!(k.len() >= 10, "{k:?}");
        assert_eq!(a.restarts.len(), 2);
        for e in &a.episodes {
            let d = &devs[e.device];
            assert!(e.at + e.len <= Duration::from_secs(60));
            for f in &e.faults {
                match f {
                    Fault::KeyChange { lag, .. } => assert!(d.rekeyable() && *lag <= e.len),
                    Fault::OneClient => assert!(!d.bridged),
                    Fault::ZeroKey(_) => assert!(zero_key_applies(d.spec.version)),
                    _ => {}
                }
            }
        }
    }
}
