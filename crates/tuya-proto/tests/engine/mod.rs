//! Harness for the client engine tests: a scripted device built on tuya-proto's device role, and
//! a rig carrying frames between it and a [`Connection`] in virtual time (one `Instant`, moved
//! forward by adding durations; no sockets, no sleeping, seeded randomness).
#![allow(dead_code)]

pub mod drive;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tuya_proto::client::{
    ClientError, Connection, ConnectionConfig, Event, Memory, Output, Request, RequestId,
};
use tuya_proto::frame::FrameSplitter;
use tuya_proto::payload::{self, ControlRequest};
use tuya_proto::session::{self, DeviceHandshake};
use tuya_proto::{Codec, Command, DpId, DpValue, Dps, LocalKey, Message, Role, Version};

pub const KEY: &str = "0123456789abcdef";
pub const OTHER_KEY: &str = "fedcba9876543210";
pub const DEV_ID: &str = "bf0123456789abcdefgh";
pub const UNIX: u64 = 1_700_000_000;

pub fn key() -> LocalKey {
    LocalKey::new(KEY).unwrap()
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// DPs from `(id, value)` pairs.
pub fn dps<V: Into<DpValue> + Clone>(pairs: &[(u32, V)]) -> Dps {
    pairs
        .iter()
        .map(|(k, v)| (DpId(*k), v.clone().into()))
        .collect()
}

pub fn cfg(v: Version) -> ConnectionConfig {
    ConnectionConfig::new(DEV_ID, key(), v)
}

/// How the device numbers the frames it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqMode {
    /// Replies echo the request's seq; pushes carry 0.
    Echo,
    /// Every frame carries the device's own counter (3.5 firmware: a global counter).
    Own,
    /// Every frame carries 0.
    Zero,
}

/// The device side: decodes what the client sends, negotiates, and builds answers.
pub struct ScriptedDevice {
    pub version: Version,
    pub codec: Codec,
    split: FrameSplitter,
    hs: Option<DeviceHandshake>,
    rng: StdRng,
    /// Key the device uses in the negotiation HMACs (another key: a wrong-key device).
    pub hs_key: LocalKey,
    /// Answer SESS_KEY_NEG_START / FINISH by itself.
    pub negotiate: bool,
    /// Handshakes left in which the device picks its nonce so the session key starts with 0x00.
    pub zero_keys: u32,
    pub seq_mode: SeqMode,
    own_seq: u32,
    pub dps: Dps,
    pub children: BTreeMap<String, Dps>,
    /// Every message the client sent, decoded (negotiation included), in order.
    pub log: Vec<Message>,
    /// Every frame the client sent, as bytes.
    pub wire: Vec<Vec<u8>>,
    /// Client frames the device could not decode.
    pub undecodable: usize,
    /// Session keys installed, in order.
    pub session_keys: Vec<[u8; 16]>,
}

impl ScriptedDevice {
    pub fn new(version: Version, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let codec_rng = StdRng::seed_from_u64(rng.gen());
        let codec = Codec::with_entropy(version, key(), Role::Device, codec_rng);
        Self {
            version,
            codec,
            split: FrameSplitter::new(),
            hs: None,
            rng,
            hs_key: key(),
            negotiate: true,
            zero_keys: 0,
            seq_mode: SeqMode::Echo,
            own_seq: 1000,
            dps: Dps::new(),
            children: BTreeMap::new(),
            log: Vec::new(),
            wire: Vec::new(),
            undecodable: 0,
            session_keys: Vec::new(),
        }
    }

    /// Splits and decodes client bytes. Returns the data messages, and the negotiation replies
    /// to send back (when `negotiate`).
    pub fn receive(&mut self, bytes: &[u8]) -> (Vec<Message>, Vec<Message>) {
        self.split.feed(bytes);
        let (mut data, mut neg) = (Vec::new(), Vec::new());
        while let Some(frame) = self.split.next_frame() {
            let frame = frame.expect("the client sends well-formed frames");
            self.wire.push(frame.clone());
            let m = match self.codec.decode(&frame) {
                Ok(m) => m,
                Err(_) => {
                    self.undecodable += 1;
                    continue;
                }
            };
            self.log.push(m.clone());
            match m.cmd {
                Command::SessKeyNegStart if self.negotiate => neg.extend(self.neg_start(&m)),
                Command::SessKeyNegFinish if self.negotiate => self.neg_finish(&m),
                _ => data.push(m),
            }
        }
        (data, neg)
    }

    /// SESS_KEY_NEG_RESP for a START, with a nonce chosen per `zero_keys`.
    pub fn neg_start(&mut self, m: &Message) -> Option<Message> {
        let mut cn = [0u8; 16];
        cn.copy_from_slice(m.payload.get(..16)?);
        let want_zero = self.zero_keys > 0;
        let mut dn = [0u8; 16];
        for _ in 0..100_000 {
            self.rng.fill(&mut dn);
            let k = session::derive_session_key(self.version, &key(), &cn, &dn).ok()?;
            if (k.as_bytes()[0] == 0) == want_zero {
                break;
            }
        }
        if want_zero {
            let k = session::derive_session_key(self.version, &key(), &cn, &dn).unwrap();
            assert_eq!(k.as_bytes()[0], 0, "no nonce gives a 0x00-first key");
            self.zero_keys -= 1;
        }
        let mut hs = DeviceHandshake::new(self.version, self.hs_key.clone(), dn).ok()?;
        self.codec.clear_session();
        let mut resp = hs.on_start(m).ok()?;
        resp.seq = self.reply_seq(m.seq);
        self.hs = Some(hs);
        Some(resp)
    }

    pub fn neg_finish(&mut self, m: &Message) {
        let Some(mut hs) = self.hs.take() else {
            return;
        };
        if let Ok(k) = hs.on_finish(m) {
            self.session_keys.push(*k.as_bytes());
            self.codec.set_session_key(k);
        }
    }

    /// The seq of a reply to a request numbered `req`.
    pub fn reply_seq(&mut self, req: u32) -> u32 {
        match self.seq_mode {
            SeqMode::Echo => req,
            SeqMode::Own => {
                self.own_seq += 1;
                self.own_seq
            }
            SeqMode::Zero => 0,
        }
    }

    fn push_seq(&mut self) -> u32 {
        match self.seq_mode {
            SeqMode::Own => self.reply_seq(0),
            _ => 0,
        }
    }

    pub fn encode(&mut self, msgs: &[Message]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in msgs {
            self.codec.encode_into(m, &mut out).expect("device encodes");
        }
        out
    }

    /// A status reply with `cmd`, to the request numbered `req`.
    pub fn status(&mut self, cmd: Command, req: u32, cid: Option<&str>, d: &Dps) -> Message {
        let seq = self.reply_seq(req);
        let body = payload::status(self.version, DEV_ID, cid, d, None);
        Message::reply(self.version, seq, cmd, body)
    }

    /// A STATUS push.
    pub fn push(&mut self, cid: Option<&str>, d: &Dps) -> Message {
        let seq = self.push_seq();
        let body = payload::status(self.version, DEV_ID, cid, d, Some(UNIX));
        Message::reply(self.version, seq, Command::Status, body)
    }

    /// An empty acknowledgement (no header, nothing encrypted on ≤3.4).
    pub fn ack(&mut self, cmd: Command, req: u32) -> Message {
        let seq = self.reply_seq(req);
        Message {
            plaintext: true,
            header: None,
            ..Message::reply(self.version, seq, cmd, Vec::new())
        }
    }

    /// A plaintext error string with retcode 1.
    pub fn error(&mut self, cmd: Command, req: u32, text: &str) -> Message {
        let seq = self.reply_seq(req);
        Message::device_error(seq, cmd, text)
    }

    /// What a well-behaved device answers to `m`.
    pub fn answer(&mut self, m: &Message) -> Vec<Message> {
        let cid = payload::parse_query_cid(&m.payload);
        match m.cmd {
            Command::DpQuery | Command::DpQueryNew => {
                let d = self.state(cid.as_deref()).clone();
                vec![self.status(m.cmd, m.seq, cid.as_deref(), &d)]
            }
            Command::Control | Command::ControlNew => {
                let Some(req) = ControlRequest::parse_bytes(&m.payload) else {
                    return Vec::new();
                };
                let ack = self.ack(m.cmd, m.seq);
                let cid = req.cid.clone();
                let st = self.state(cid.as_deref());
                let changed: Dps = if req.dps.is_empty() {
                    req.queried
                        .iter()
                        .filter_map(|id| st.get(id).map(|v| (*id, v.clone())))
                        .collect()
                } else {
                    st.extend(req.dps.clone());
                    req.dps
                };
                let mut out = vec![ack];
                if !changed.is_empty() {
                    out.push(self.push(cid.as_deref(), &changed));
                }
                out
            }
            Command::HeartBeat => vec![self.ack(Command::HeartBeat, m.seq)],
            Command::UpdateDps => {
                let ids = payload::parse_refresh(&m.payload);
                let st = self.state(cid.as_deref());
                let found: Dps = ids
                    .iter()
                    .filter_map(|id| st.get(id).map(|v| (*id, v.clone())))
                    .collect();
                let mut out = vec![self.ack(m.cmd, m.seq)];
                if !found.is_empty() {
                    out.push(self.push(cid.as_deref(), &found));
                }
                out
            }
            _ => Vec::new(),
        }
    }

    fn state(&mut self, cid: Option<&str>) -> &mut Dps {
        match cid {
            None => &mut self.dps,
            Some(c) => self.children.entry(c.to_string()).or_default(),
        }
    }

    /// Sequence numbers of every frame the client sent, from the raw headers.
    pub fn wire_seqs(&self) -> Vec<u32> {
        self.wire
            .iter()
            .map(|f| {
                let at = if f[2] == 0x66 { 6 } else { 4 };
                u32::from_be_bytes(f[at..at + 4].try_into().unwrap())
            })
            .collect()
    }
}

/// A connection and its device in virtual time.
pub struct Rig {
    pub conn: Connection,
    pub dev: ScriptedDevice,
    pub t0: Instant,
    pub now: Instant,
    pub events: Vec<Event>,
}

impl Rig {
    pub fn new(cfg: ConnectionConfig) -> Self {
        let dev = ScriptedDevice::new(cfg.version, 7);
        Self::with(cfg, Memory::default(), dev)
    }

    pub fn with(cfg: ConnectionConfig, mem: Memory, dev: ScriptedDevice) -> Self {
        let t0 = Instant::now();
        let conn = Connection::new(cfg, mem, t0, UNIX, StdRng::seed_from_u64(99));
        Self {
            conn,
            dev,
            t0,
            now: t0,
            events: Vec::new(),
        }
    }

    fn pull(&mut self) {
        while let Some(e) = self.conn.poll_event() {
            self.events.push(e);
        }
    }

    /// Events so far, emptied.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.pull();
        std::mem::take(&mut self.events)
    }

    /// What the client sent: negotiation is answered by the device on the spot (when it does
    /// so), the data messages are returned.
    pub fn client_frames(&mut self) -> Vec<Message> {
        let mut data = Vec::new();
        while let Some(bytes) = self.conn.poll_transmit() {
            let (d, neg) = self.dev.receive(&bytes);
            data.extend(d);
            if !neg.is_empty() {
                self.deliver(&neg);
            }
        }
        self.pull();
        data
    }

    /// Exactly one data message from the client.
    pub fn one_frame(&mut self) -> Message {
        let mut f = self.client_frames();
        assert_eq!(f.len(), 1, "expected one frame, got {f:?}");
        f.remove(0)
    }

    pub fn deliver(&mut self, msgs: &[Message]) {
        let bytes = self.dev.encode(msgs);
        self.deliver_bytes(&bytes);
    }

    pub fn deliver_bytes(&mut self, bytes: &[u8]) {
        self.conn.handle_input(bytes, self.now);
        self.pull();
    }

    /// The device's frames, in chunks of random sizes.
    pub fn deliver_chunked(&mut self, msgs: &[Message], rng: &mut StdRng) {
        let bytes = self.dev.encode(msgs);
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = rng.gen_range(1..=rest.len().min(40));
            self.deliver_bytes(&rest[..n]);
            rest = &rest[n..];
        }
    }

    /// Moves time forward by `d`, calling `handle_timeout` at every instant it asks for.
    pub fn advance(&mut self, d: Duration) {
        self.advance_with(d, false);
    }

    /// Same, with the device answering everything the client sends on the way.
    pub fn advance_serving(&mut self, d: Duration) {
        self.advance_with(d, true);
    }

    fn advance_with(&mut self, d: Duration, serve: bool) {
        let target = self.now + d;
        for _ in 0..100_000 {
            if serve {
                self.serve();
            }
            match self.conn.poll_timeout() {
                Some(t) if t <= target => {
                    assert!(t >= self.now, "poll_timeout in the past");
                    self.now = t;
                    self.conn.handle_timeout(t);
                    self.pull();
                    if let Some(next) = self.conn.poll_timeout() {
                        assert!(
                            next > t,
                            "handle_timeout({t:?}) left a timer due at {next:?}"
                        );
                    }
                }
                _ => {
                    self.now = target;
                    return;
                }
            }
        }
        panic!("timers never reach the target");
    }

    /// The device answers what the client sent, until the client says nothing more.
    pub fn serve(&mut self) {
        for _ in 0..1000 {
            let frames = self.client_frames();
            if frames.is_empty() {
                return;
            }
            for f in frames {
                let ans = self.dev.answer(&f);
                self.deliver(&ans);
            }
        }
        panic!("the client never stops talking");
    }

    /// Serves until `Connected`; returns the events up to it.
    pub fn connect(&mut self) -> Vec<Event> {
        self.serve();
        let ev = self.take_events();
        assert!(
            ev.iter().any(|e| matches!(e, Event::Connected { .. })),
            "not connected: {ev:?}"
        );
        ev
    }

    /// Asserts which requests the closed connection hands back, in order.
    pub fn assert_unfinished(&mut self, ids: &[RequestId]) {
        let back: Vec<RequestId> = self
            .conn
            .take_unfinished()
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(back, ids);
    }

    /// A rig whose connection is already up.
    pub fn connected(cfg: ConnectionConfig) -> Rig {
        let mut rig = Rig::new(cfg);
        rig.connect();
        rig
    }

    /// Asserts the events since the last look are the first state, then `Connected`.
    pub fn assert_connected_with(&mut self, want: &Dps, v: Version) {
        assert_eq!(
            self.take_events(),
            vec![
                Event::Update {
                    cid: None,
                    changed: want.clone(),
                    pushed: false
                },
                Event::Connected { version: v },
            ],
            "{v}"
        );
    }

    pub fn submit(&mut self, req: Request) -> RequestId {
        let id = self.conn.submit(req, self.now);
        self.pull();
        id
    }

    /// The result of request `id` among the events seen so far (taking it out).
    pub fn reply(&mut self, id: RequestId) -> Option<Result<Output, ClientError>> {
        self.pull();
        let at = self
            .events
            .iter()
            .position(|e| matches!(e, Event::Reply { id: i, .. } if *i == id))?;
        match self.events.remove(at) {
            Event::Reply { result, .. } => Some(result),
            _ => unreachable!(),
        }
    }

    /// The DP map of a request that succeeded.
    pub fn reply_dps(&mut self, id: RequestId) -> Dps {
        match self.reply(id) {
            Some(Ok(Output::Dps(d))) => d,
            other => panic!("request {id:?}: {other:?}"),
        }
    }

    pub fn closed_reason(&mut self) -> Option<ClientError> {
        self.pull();
        self.events.iter().find_map(|e| match e {
            Event::Closed { reason } => Some(reason.clone()),
            _ => None,
        })
    }

    /// Asserts the connection is closed and inert.
    pub fn assert_inert(&mut self) {
        assert!(self.conn.is_closed());
        assert_eq!(self.conn.poll_transmit(), None, "transmits after close");
        assert_eq!(self.conn.poll_timeout(), None, "timer after close");
        let later = self.now + secs(60);
        self.conn.handle_timeout(later);
        self.conn.handle_input(&[0, 0, 0x55, 0xaa, 1, 2, 3], later);
        assert_eq!(self.conn.poll_transmit(), None, "transmits after close");
        assert_eq!(self.conn.poll_event(), None, "events after close");
    }
}

/// The commands of messages, in order.
pub fn cmds(msgs: &[Message]) -> Vec<Command> {
    msgs.iter().map(|m| m.cmd).collect()
}

/// `Update` events as `(cid, changed, pushed)`.
pub fn updates(ev: &[Event]) -> Vec<(Option<String>, Dps, bool)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Update {
                cid,
                changed,
                pushed,
            } => Some((cid.clone(), changed.clone(), *pushed)),
            _ => None,
        })
        .collect()
}
