//! One driver for the client engine under arbitrary input, shared by the proptest
//! (`tests/engine_fuzz.rs`) and the `connection` fuzz target (`crates/tuya-fuzz`, which
//! includes this harness by path): a [`Connection`] of any version fed garbage, valid device
//! frames mixed with garbage in arbitrary chunks, time steps, requests, disconnects and closes,
//! with its invariants checked after every action.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use tuya_proto::client::{
    Connection, ConnectionConfig, Disconnect, Event, Memory, Op, Request, RequestId,
    DEVICE_MAX_FRAME, MAX_CHILDREN, MAX_DPS,
};
use tuya_proto::{Command, DpId, DpValue, Dps, Message, Version};

use super::{ScriptedDevice, DEV_ID, UNIX};

/// Events one action may produce (the largest inputs here report a few hundred changes).
pub const MAX_EVENTS: usize = 1000;
/// Bytes the client may write in one step.
pub const MAX_OUT: usize = 64 * 1024;

/// A DP value to set.
#[derive(Debug, Clone)]
pub enum Val {
    Bool(bool),
    Int(i64),
    /// `n` copies of a character: long ones force a split, or do not fit at all.
    Str(char, u16),
}

/// A request to submit.
#[derive(Debug, Clone)]
pub struct Req {
    /// 0: status, 1: set, 2: refresh, 3: raw.
    pub kind: u8,
    pub cid: Option<u8>,
    pub dps: Vec<(u8, Val)>,
    pub raw_cmd: u8,
    /// Deadline in ms from now.
    pub deadline: Option<u16>,
}

/// A frame the device sends.
#[derive(Debug, Clone)]
pub enum DevMsg {
    /// A status (reply or push) with a command picked by `cmd`.
    Status {
        cmd: u8,
        seq: u8,
        cid: Option<u8>,
        dps: Vec<(u8, i64)>,
    },
    /// An error string with retcode 1.
    Error { cmd: u8, seq: u8, text: u8 },
    /// An empty acknowledgement.
    Ack { cmd: u8, seq: u8 },
    /// Any command, any payload.
    Raw { cmd: u8, seq: u8, payload: Vec<u8> },
    /// Pushes for `n` distinct children, or one status with ids `0..n` when `n` is odd.
    Flood { n: u16 },
}

/// One step of the run.
#[derive(Debug, Clone)]
pub enum Action {
    Garbage(Vec<u8>),
    Frames {
        msgs: Vec<DevMsg>,
        garbage: Vec<u8>,
        chunk: u8,
    },
    /// The device answers what the client sent, as a well-behaved device would.
    Serve,
    Advance {
        ms: u32,
        serve: bool,
    },
    Submit(Req),
    Disconnect(u8),
    Close,
}

fn cmd_of(sel: u8, v: Version) -> Command {
    match sel % 8 {
        0 => v.query_command(),
        1 => Command::Status,
        2 => v.control_command(),
        3 => Command::ControlNew,
        4 => Command::HeartBeat,
        5 => Command::UpdateDps,
        6 => Command::SessKeyNegResp,
        _ => Command::from(u32::from(sel)),
    }
}

const TEXTS: [&str; 5] = [
    "json obj data unvalid",
    "data format error",
    "devid not found",
    "",
    "query dp failed",
];

/// The configuration picked by `sel`'s bits.
pub fn config(v: Version, sel: u8) -> ConnectionConfig {
    let mut c = ConnectionConfig::new(DEV_ID, super::key(), v);
    c.gateway = sel & 1 != 0;
    c.probe = sel & 2 != 0;
    if sel & 4 != 0 {
        c.min_command_gap = Some(Duration::from_millis(300));
    }
    if sel & 8 != 0 {
        c.max_queue = 3;
    }
    if sel & 16 != 0 {
        c.request_timeout = Duration::from_secs(1);
        c.push_wait = Duration::from_millis(200);
    }
    if sel & 32 != 0 {
        c.known_dps = vec![DpId(1), DpId(101)];
    }
    c
}

/// What a run went through.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// The connection was ready at some point.
    pub ready: bool,
    pub ok: usize,
    pub failed: usize,
    /// The failures, by error variant.
    pub errors: std::collections::BTreeMap<String, usize>,
    /// Debug text of the reason the connection closed.
    pub closed: Option<String>,
    pub frames_out: usize,
}

struct Run {
    conn: Connection,
    dev: ScriptedDevice,
    now: Instant,
    /// Client data messages the device has not answered.
    pending: Vec<Message>,
    submitted: BTreeSet<RequestId>,
    outcomes: BTreeSet<RequestId>,
    closed_seen: bool,
    stats: Stats,
}

/// Runs `actions` on a connection of version `v`; panics when an invariant breaks.
pub fn run(v: Version, cfg_sel: u8, seed: u64, actions: &[Action]) -> Stats {
    let t0 = Instant::now();
    let mut dev = ScriptedDevice::new(v, seed ^ 0x5eed);
    dev.zero_keys = u32::from(cfg_sel & 64 != 0);
    dev.dps = [(DpId(1), DpValue::Bool(true))].into_iter().collect();
    let conn = Connection::new(
        config(v, cfg_sel),
        Memory::default(),
        t0,
        UNIX,
        StdRng::seed_from_u64(seed),
    );
    let mut r = Run {
        conn,
        dev,
        now: t0,
        pending: Vec::new(),
        submitted: BTreeSet::new(),
        outcomes: BTreeSet::new(),
        closed_seen: false,
        stats: Stats::default(),
    };
    r.after(false);
    for a in actions {
        r.act(a);
    }
    r.conn.close();
    r.after(false);
    for (id, _) in r.conn.take_unfinished() {
        assert!(r.outcomes.insert(id), "{id:?} both answered and unfinished");
    }
    assert_eq!(
        r.submitted, r.outcomes,
        "every request has exactly one outcome"
    );
    let seqs = r.dev.wire_seqs();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seq not increasing: {seqs:?}"
    );
    r.stats.frames_out = seqs.len();
    r.stats
}

impl Run {
    fn act(&mut self, a: &Action) {
        match a {
            Action::Garbage(b) => self.conn.handle_input(b, self.now),
            Action::Frames {
                msgs,
                garbage,
                chunk,
            } => {
                let mut bytes = Vec::new();
                for (i, m) in msgs.iter().enumerate() {
                    let g = garbage.len().min(i * 3);
                    bytes.extend_from_slice(&garbage[g..garbage.len().min(g + 3)]);
                    for m in self.build(m) {
                        if let Ok(f) = self.dev.codec.encode(&m) {
                            bytes.extend(f);
                        }
                    }
                }
                for piece in bytes.chunks(usize::from(*chunk).max(1)) {
                    self.conn.handle_input(piece, self.now);
                }
            }
            Action::Serve => self.serve(),
            Action::Advance { ms, serve } => {
                let target = self.now + Duration::from_millis(u64::from(*ms));
                let mut steps = 0;
                if *serve {
                    self.serve();
                }
                while let Some(t) = self.conn.poll_timeout() {
                    if t > target {
                        break;
                    }
                    assert!(t >= self.now, "poll_timeout in the past");
                    self.now = t;
                    self.conn.handle_timeout(t);
                    if let Some(next) = self.conn.poll_timeout() {
                        assert!(next > t, "handle_timeout left a timer due");
                    }
                    self.after(false);
                    if *serve {
                        self.serve();
                    }
                    steps += 1;
                    assert!(steps < 10_000, "timers do not move forward");
                }
                self.now = target;
                self.conn.handle_timeout(target);
            }
            Action::Submit(req) => {
                let id = self.conn.submit(self.request(req), self.now);
                assert!(self.submitted.insert(id), "{id:?} given twice");
            }
            Action::Disconnect(k) => {
                let how = match k % 4 {
                    0 => Disconnect::Closed,
                    1 => Disconnect::Reset,
                    2 => Disconnect::WriteStalled,
                    _ => Disconnect::Other,
                };
                self.conn.handle_disconnect(how, self.now);
            }
            Action::Close => self.conn.close(),
        }
        self.after(matches!(a, Action::Advance { .. }));
    }

    /// Invariants after every action (`timed`: timers up to `now` were all handled).
    fn after(&mut self, timed: bool) {
        let mut out = 0;
        for _ in 0..100 {
            let Some(bytes) = self.conn.poll_transmit() else {
                break;
            };
            assert!(!self.conn.is_closed(), "transmits after close");
            out += bytes.len();
            let first = self.dev.wire.len();
            let (data, neg) = self.dev.receive(&bytes);
            for f in &self.dev.wire[first..] {
                assert!(f.len() <= DEVICE_MAX_FRAME, "a {} byte frame", f.len());
            }
            self.pending.extend(data);
            let mut wire = Vec::new();
            for m in neg {
                if let Ok(f) = self.dev.codec.encode(&m) {
                    wire.extend(f);
                }
            }
            if !wire.is_empty() {
                self.conn.handle_input(&wire, self.now);
            }
        }
        assert!(out < MAX_OUT, "{out} bytes out in one step");
        assert!(
            self.conn.poll_transmit().is_none(),
            "the client never stops"
        );

        let mut n = 0;
        while let Some(e) = self.conn.poll_event() {
            n += 1;
            assert!(n < MAX_EVENTS, "too many events");
            assert!(!self.closed_seen, "event after Closed: {e:?}");
            match e {
                Event::Reply { id, result } => {
                    assert!(self.submitted.contains(&id), "reply to unknown {id:?}");
                    assert!(self.outcomes.insert(id), "{id:?} answered twice");
                    match result {
                        Ok(_) => self.stats.ok += 1,
                        Err(e) => {
                            self.stats.failed += 1;
                            let name = format!("{e:?}");
                            let name = name.split([' ', '(']).next().unwrap_or("").to_string();
                            *self.stats.errors.entry(name).or_default() += 1;
                        }
                    }
                }
                Event::Connected { .. } => self.stats.ready = true,
                Event::Closed { reason } => {
                    self.closed_seen = true;
                    if self.stats.closed.is_none() {
                        self.stats.closed = Some(format!("{reason:?}"));
                    }
                }
                _ => {}
            }
        }
        let mem = self.conn.memory();
        assert!(mem.dps.len() <= MAX_DPS, "{} DPs", mem.dps.len());
        assert!(
            mem.children.len() <= MAX_CHILDREN,
            "{} children",
            mem.children.len()
        );
        assert!(mem.children.values().all(|d| d.len() <= MAX_DPS));
        assert_eq!(self.conn.is_closed(), self.closed_seen);
        if self.closed_seen {
            assert_eq!(self.conn.poll_timeout(), None);
            assert!(!self.conn.is_ready());
        } else if let Some(t) = self.conn.poll_timeout() {
            if timed {
                assert!(t > self.now, "a timer due after handle_timeout");
            } else {
                assert!(t >= self.now, "a timer in the past");
            }
        }
        for (id, _) in self.conn.take_unfinished() {
            assert!(self.submitted.contains(&id));
            assert!(self.outcomes.insert(id), "{id:?} answered and unfinished");
        }
    }

    /// Answers what the client sent, and what it sends in return, until it is quiet.
    fn serve(&mut self) {
        for _ in 0..1000 {
            self.after(false);
            if self.pending.is_empty() {
                return;
            }
            let mut wire = Vec::new();
            for m in std::mem::take(&mut self.pending) {
                for a in self.dev.answer(&m) {
                    if let Ok(f) = self.dev.codec.encode(&a) {
                        wire.extend(f);
                    }
                }
            }
            self.conn.handle_input(&wire, self.now);
        }
        panic!("the client never stops talking");
    }

    fn seq(&self, sel: u8) -> u32 {
        let last = self.dev.wire_seqs().last().copied().unwrap_or(0);
        match sel % 5 {
            0 => 0,
            1 => last,
            2 => last.wrapping_sub(1),
            3 => last.wrapping_add(1000),
            _ => u32::from(sel) << 8,
        }
    }

    fn build(&mut self, m: &DevMsg) -> Vec<Message> {
        let v = self.dev.version;
        let cid = |c: &Option<u8>| c.map(|c| format!("cid{c}"));
        match m {
            DevMsg::Status {
                cmd,
                seq,
                cid: c,
                dps,
            } => {
                let d: Dps = dps
                    .iter()
                    .map(|(k, x)| (DpId(u32::from(*k)), DpValue::Integer(*x)))
                    .collect();
                let seq = self.seq(*seq);
                let mut s = self.dev.status(cmd_of(*cmd, v), 0, cid(c).as_deref(), &d);
                s.seq = seq;
                vec![s]
            }
            DevMsg::Error { cmd, seq, text } => {
                let t = TEXTS[usize::from(*text) % TEXTS.len()];
                vec![Message::device_error(self.seq(*seq), cmd_of(*cmd, v), t)]
            }
            DevMsg::Ack { cmd, seq } => {
                let mut a = self.dev.ack(cmd_of(*cmd, v), 0);
                a.seq = self.seq(*seq);
                vec![a]
            }
            DevMsg::Raw { cmd, seq, payload } => {
                vec![Message::reply(
                    v,
                    self.seq(*seq),
                    cmd_of(*cmd, v),
                    payload.clone(),
                )]
            }
            DevMsg::Flood { n } => {
                let n = u32::from(*n % 300);
                if n % 2 == 1 {
                    let d: Dps = (0..=n).map(|i| (DpId(i), DpValue::Integer(1))).collect();
                    vec![self.dev.push(None, &d)]
                } else {
                    let d: Dps = [(DpId(1), DpValue::Integer(1))].into_iter().collect();
                    (0..n)
                        .map(|i| self.dev.push(Some(&format!("flood{i}")), &d))
                        .collect()
                }
            }
        }
    }

    fn request(&self, r: &Req) -> Request {
        let dps: Dps = r
            .dps
            .iter()
            .map(|(k, x)| {
                let x = match x {
                    Val::Bool(b) => DpValue::Bool(*b),
                    Val::Int(i) => DpValue::Integer(*i),
                    Val::Str(c, n) => DpValue::String(c.to_string().repeat(usize::from(*n))),
                };
                (DpId(u32::from(*k)), x)
            })
            .collect();
        let op = match r.kind % 4 {
            0 => Op::Status,
            1 => Op::Set(dps),
            2 => Op::Refresh(dps.keys().copied().collect()),
            _ => Op::Raw(cmd_of(r.raw_cmd, self.dev.version), b"{}".to_vec()),
        };
        let mut req = Request::new(op);
        if let Some(c) = r.cid {
            req = req.child(format!("cid{c}"));
        }
        if let Some(ms) = r.deadline {
            req = req.deadline(self.now + Duration::from_millis(u64::from(ms)));
        }
        req
    }
}

/// Bytes to actions, for the fuzzer: every input is some run.
pub fn run_bytes(data: &[u8]) -> Stats {
    let mut b = Bytes(data);
    let v = Version::ALL[usize::from(b.u8()) % Version::ALL.len()];
    let cfg_sel = b.u8();
    let seed = u64::from(b.u8());
    let mut actions = Vec::new();
    while !b.0.is_empty() && actions.len() < 64 {
        actions.push(match b.u8() % 8 {
            0 => Action::Garbage(b.take(64)),
            1 | 2 => {
                let n = b.u8() % 4 + 1;
                let msgs = (0..n).map(|_| b.dev_msg()).collect();
                Action::Frames {
                    msgs,
                    garbage: b.take(16),
                    chunk: b.u8(),
                }
            }
            3 => Action::Serve,
            4 => Action::Advance {
                ms: u32::from(b.u16()) * 40_000 / 65_535,
                serve: b.u8() & 1 == 1,
            },
            5 => Action::Submit(b.req()),
            6 => Action::Disconnect(b.u8()),
            _ => {
                if b.u8() < 32 {
                    Action::Close
                } else {
                    Action::Serve
                }
            }
        });
    }
    run(v, cfg_sel, seed, &actions)
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((x, rest)) => {
                self.0 = rest;
                *x
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from(self.u8()) << 8 | u16::from(self.u8())
    }

    fn take(&mut self, max: u8) -> Vec<u8> {
        let n = usize::from(self.u8() % max).min(self.0.len());
        let (a, rest) = self.0.split_at(n);
        self.0 = rest;
        a.to_vec()
    }

    fn opt(&mut self) -> Option<u8> {
        let x = self.u8();
        (x & 1 == 1).then_some(x >> 5)
    }

    fn dev_msg(&mut self) -> DevMsg {
        let (cmd, seq) = (self.u8(), self.u8());
        match self.u8() % 6 {
            0 | 1 => DevMsg::Status {
                cmd,
                seq,
                cid: self.opt(),
                dps: (0..self.u8() % 4)
                    .map(|_| (self.u8(), i64::from(self.u8())))
                    .collect(),
            },
            2 => DevMsg::Error {
                cmd,
                seq,
                text: self.u8(),
            },
            3 => DevMsg::Ack { cmd, seq },
            4 => DevMsg::Raw {
                cmd,
                seq,
                payload: self.take(48),
            },
            _ => DevMsg::Flood { n: self.u16() },
        }
    }

    fn req(&mut self) -> Req {
        let kind = self.u8();
        let cid = self.opt();
        let dps = (0..self.u8() % 12)
            .map(|_| {
                let k = self.u8();
                let x = match self.u8() % 3 {
                    0 => Val::Bool(self.u8() & 1 == 1),
                    1 => Val::Int(i64::from(self.u16())),
                    _ => Val::Str('a', self.u16() % 5000),
                };
                (k, x)
            })
            .collect();
        let raw_cmd = self.u8();
        let deadline = self.opt().map(|x| u16::from(x) * 1000);
        Req {
            kind,
            cid,
            dps,
            raw_cmd,
            deadline,
        }
    }
}
