//! The ledger: every command sent (with a value no other command of its target and DP uses),
//! its outcome, every physical change, and — counted at the simulator from its traffic log —
//! how many times each value was applied. "Lost" and "applied twice" are read from here.
//!
//! Why the traffic log is a faithful count of applications: the simulator logs a received
//! frame (`Rx`) once it has decoded and authenticated it, and under the settings this soak
//! uses (no `min_command_gap` quirk, multi-DP accepted, only existing children addressed)
//! every logged CONTROL / CONTROL_NEW that carries DP values is applied. Frames refused by the
//! firmware rules (sequence, pre-session) are logged as `Drop` and never applied.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::time::Instant;
use tuya_proto::payload::ControlRequest;
use tuya_proto::{DpId, DpValue};
use tuya_sim::{Direction, TrafficSink};

use crate::fleet_spec::{Target, FLEET_DP, MQTT_DP, PHYSICAL_BASE};

/// Which client sent a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The client fleet (`tuya_local::Fleet`).
    Fleet,
    /// MQTT, through the bridge.
    Mqtt,
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Not ended yet.
    Pending,
    /// Acknowledged (the client's `set` returned `Ok`; MQTT: `"ok":true` on `result`).
    Acked(Instant),
    /// Failed with a reason (the client said why, or it ran out of time).
    Failed(String),
    /// No outcome within the harness's own bound: the client hung.
    Hung,
}

/// One command.
#[derive(Debug, Clone)]
pub struct Command {
    /// Index into the targets.
    pub target: usize,
    /// The DP it sets.
    pub dp: DpId,
    /// The value it sets (unique for its target and DP).
    pub value: i64,
    /// Who sent it.
    pub via: Via,
    /// When.
    pub sent: Instant,
    /// How it ended.
    pub outcome: Outcome,
}

/// Identifies a command in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandId(usize);

/// Where a value was applied: device id, child, DP, value.
type AppliedKey = (String, Option<String>, u32, i64);

#[derive(Default)]
struct Book {
    commands: Vec<Command>,
    /// (target, dp, value, when).
    physical: Vec<(usize, DpId, i64, Instant)>,
    next_value: HashMap<(usize, u32), i64>,
    next_physical: i64,
}

/// The shared ledger of a soak run.
pub struct Ledger {
    /// When the ledger was made: times in descriptions count from here.
    origin: Instant,
    targets: Vec<Target>,
    book: Mutex<Book>,
    /// Times applied, and when first (the simulator logs a frame just before acting on it).
    applied: Mutex<HashMap<AppliedKey, (u32, Instant)>>,
    handshakes: Mutex<HashMap<String, u32>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere is counted by the panic hook; the figures must still come out.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The figures of one client path (or of all).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    /// Commands sent.
    pub sent: u64,
    /// Acknowledged.
    pub acknowledged: u64,
    /// Failed with a reason, by reason.
    pub failed: BTreeMap<String, u64>,
    /// Of the failed, how many the device applied all the same (a timeout or a lost
    /// connection after the device had acted: allowed, and accounted for).
    pub failed_but_applied: u64,
    /// Acknowledged but never applied.
    pub lost_acked_unapplied: u64,
    /// Neither acknowledged nor failed within the harness's bound (a hang).
    pub lost_no_outcome: u64,
    /// Values applied more than once.
    pub applied_twice: u64,
    /// Acknowledged before the device had the command: the client took another frame (a late
    /// reply to an earlier request) for this command's acknowledgement.
    pub acked_early: u64,
}

impl Figures {
    /// Failed commands, all reasons.
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Lost, both ways.
    pub fn lost(&self) -> u64 {
        self.lost_acked_unapplied + self.lost_no_outcome
    }
}

impl Ledger {
    /// An empty ledger for `targets`.
    pub fn new(targets: Vec<Target>) -> Arc<Ledger> {
        Arc::new(Ledger {
            origin: Instant::now(),
            targets,
            book: Mutex::new(Book {
                next_physical: PHYSICAL_BASE,
                ..Book::default()
            }),
            applied: Mutex::new(HashMap::new()),
            handshakes: Mutex::new(HashMap::new()),
        })
    }

    /// Seconds from the ledger's creation to `t`.
    pub fn since_origin(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.origin).as_secs_f64()
    }

    /// The targets.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// The simulator's traffic sink feeding this ledger: applied CONTROL values and 3.4/3.5
    /// handshakes started, per device.
    pub fn sink(self: &Arc<Self>) -> TrafficSink {
        let me = Arc::downgrade(self);
        Arc::new(move |ev| {
            if ev.dir != Direction::Rx {
                return;
            }
            let Some(me) = me.upgrade() else { return };
            match ev.cmd.as_str() {
                "CONTROL" | "CONTROL_NEW" => {
                    let Some(req) = ControlRequest::parse_bytes(ev.payload.as_bytes()) else {
                        return;
                    };
                    let now = Instant::now();
                    let mut applied = lock(&me.applied);
                    for (dp, v) in &req.dps {
                        if let (true, DpValue::Integer(v)) = (*dp == FLEET_DP || *dp == MQTT_DP, v)
                        {
                            applied
                                .entry((ev.device.clone(), req.cid.clone(), dp.0, *v))
                                .or_insert((0, now))
                                .0 += 1;
                        }
                    }
                }
                "SESS_KEY_NEG_START" => {
                    *lock(&me.handshakes).entry(ev.device.clone()).or_default() += 1;
                }
                _ => {}
            }
        })
    }

    /// 3.4/3.5 negotiations the device has seen started.
    pub fn handshakes(&self, device_id: &str) -> u32 {
        lock(&self.handshakes).get(device_id).copied().unwrap_or(0)
    }

    /// Records a command about to be sent, with a fresh value for its target and DP.
    pub fn send(&self, target: usize, dp: DpId, via: Via) -> (CommandId, i64) {
        let mut b = lock(&self.book);
        let n = b.next_value.entry((target, dp.0)).or_insert(0);
        *n += 1;
        let value = *n;
        b.commands.push(Command {
            target,
            dp,
            value,
            via,
            sent: Instant::now(),
            outcome: Outcome::Pending,
        });
        (CommandId(b.commands.len() - 1), value)
    }

    /// Records how a command ended (only the first outcome counts).
    pub fn end(&self, id: CommandId, outcome: Outcome) {
        let mut b = lock(&self.book);
        if let Some(c) = b.commands.get_mut(id.0) {
            if c.outcome == Outcome::Pending {
                c.outcome = outcome;
            }
        }
    }

    /// A fresh value for a physical change, recorded now (call just before applying it).
    pub fn physical(&self, target: usize, dp: DpId) -> i64 {
        let mut b = lock(&self.book);
        b.next_physical += 1;
        let v = b.next_physical;
        b.physical.push((target, dp, v, Instant::now()));
        v
    }

    /// An estimate of the ledger's own heap, KiB: it grows with every command by design, so
    /// the memory check takes it out of the process's resident memory.
    pub fn heap_kib(&self) -> u64 {
        let b = lock(&self.book);
        let commands = b.commands.capacity() * std::mem::size_of::<Command>();
        let reasons: usize = b
            .commands
            .iter()
            .map(|c| match &c.outcome {
                Outcome::Failed(r) => r.capacity(),
                _ => 0,
            })
            .sum();
        let physical = b.physical.capacity() * std::mem::size_of::<(usize, DpId, i64, Instant)>();
        drop(b);
        let applied = lock(&self.applied);
        // Key, value and the table's control byte, with the device id and cid strings.
        let entry = std::mem::size_of::<(AppliedKey, (u32, Instant))>() + 1 + 40;
        let applied = applied.capacity() * entry;
        ((commands + reasons + physical + applied) / 1024) as u64
    }

    /// Physical changes made so far.
    pub fn physical_count(&self) -> usize {
        lock(&self.book).physical.len()
    }

    /// A copy of every command.
    pub fn commands(&self) -> Vec<Command> {
        lock(&self.book).commands.clone()
    }

    /// How many times the simulator applied `value` on `target`'s `dp`.
    pub fn applied(&self, target: usize, dp: DpId, value: i64) -> u32 {
        self.applied_at(target, dp, value).map_or(0, |a| a.0)
    }

    /// How many times, and when first.
    fn applied_at(&self, target: usize, dp: DpId, value: i64) -> Option<(u32, Instant)> {
        let t = &self.targets[target];
        lock(&self.applied)
            .get(&(t.device_id.clone(), t.cid.clone(), dp.0, value))
            .copied()
    }

    /// The value each (target, DP) must end with: the latest of its acknowledged commands (by
    /// acknowledgement) and physical changes. A pair with neither keeps its initial 0 and is
    /// not in the map. One pass over the ledger.
    pub fn expected(&self) -> HashMap<(usize, DpId), i64> {
        let b = lock(&self.book);
        let mut latest: HashMap<(usize, DpId), (Instant, i64)> = HashMap::new();
        let mut offer = |k: (usize, DpId), at: Instant, v: i64| {
            let e = latest.entry(k).or_insert((at, v));
            if at >= e.0 {
                *e = (at, v);
            }
        };
        for c in &b.commands {
            if let Outcome::Acked(at) = c.outcome {
                offer((c.target, c.dp), at, c.value);
            }
        }
        for p in &b.physical {
            offer((p.0, p.1), p.3, p.2);
        }
        latest.into_iter().map(|(k, (_, v))| (k, v)).collect()
    }

    /// The first acknowledgement at or after `since` of each (target, path) that had one. One
    /// pass over the ledger.
    pub fn first_acks_after(&self, since: Instant) -> HashMap<(usize, Via), Instant> {
        let mut first: HashMap<(usize, Via), Instant> = HashMap::new();
        for c in &lock(&self.book).commands {
            if let Outcome::Acked(at) = c.outcome {
                if at >= since {
                    let e = first.entry((c.target, c.via)).or_insert(at);
                    *e = (*e).min(at);
                }
            }
        }
        first
    }

    /// The figures of `via` (`None`: every command), and a description of each lost or twice
    /// applied command (the first few).
    pub fn figures(&self, via: Option<Via>) -> (Figures, Vec<String>) {
        let mut f = Figures::default();
        let mut bad = Vec::new();
        for c in self.commands() {
            if via.is_some_and(|v| v != c.via) {
                continue;
            }
            f.sent += 1;
            let applied = self.applied_at(c.target, c.dp, c.value);
            let n = applied.map_or(0, |a| a.0);
            let what = || {
                format!(
                    "{:?} command {} = {} to {} sent at {:.1} s",
                    c.via,
                    c.dp.0,
                    c.value,
                    self.targets[c.target].label(),
                    self.since_origin(c.sent)
                )
            };
            match &c.outcome {
                Outcome::Acked(at) => {
                    f.acknowledged += 1;
                    if n == 0 {
                        f.lost_acked_unapplied += 1;
                        bad.push(format!("lost: {} acknowledged, never applied", what()));
                    } else if applied.is_some_and(|a| a.1 > *at) {
                        f.acked_early += 1;
                        bad.push(format!(
                            "early: {} acknowledged at {:.3} s, reached the device at {:.3} s",
                            what(),
                            self.since_origin(*at),
                            applied.map_or(0.0, |a| self.since_origin(a.1))
                        ));
                    }
                }
                Outcome::Failed(reason) => {
                    *f.failed.entry(reason.clone()).or_default() += 1;
                    if n > 0 {
                        f.failed_but_applied += 1;
                    }
                }
                Outcome::Pending | Outcome::Hung => {
                    f.lost_no_outcome += 1;
                    bad.push(format!("lost: {} never ended", what()));
                }
            }
            if n > 1 {
                f.applied_twice += 1;
                bad.push(format!("twice: {} applied {n} times", what()));
            }
        }
        bad.truncate(20);
        (f, bad)
    }
}

/// A failure reason for the figures: the kind of a `tuya_local::Error`.
pub fn reason_of(e: &tuya_local::Error) -> String {
    use tuya_local::Error as E;
    let r = match e {
        E::WrongKey(_) => "key",
        E::WrongVersion { .. } | E::UnknownVersion(_) => "version",
        E::Corrupt(_) => "corrupt",
        E::Refused(_) => "refused",
        E::Negotiation(_) => "negotiation",
        E::Busy(_) => "busy",
        E::Timeout(_) => "timeout",
        E::Offline(_) => "offline",
        E::ConnectionLost(_) => "connection lost",
        E::Device(_) => "device error",
        E::Config(_) => "config",
        E::Closed => "closed",
        _ => "other",
    };
    r.to_string()
}
