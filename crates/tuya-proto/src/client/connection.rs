//! The [`Connection`] state machine: inputs, outputs, negotiation, the request in flight.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::exchange::{device_error, status_of, Matcher, Stale, Wait};
use super::ops::{Purpose, Step, Task};
use super::{
    ClientError, ConnectionConfig, Disconnect, Event, Fallback, Memory, Request, RequestId,
    MAX_MISSES,
};
use crate::entropy::{random_bytes, Entropy};
use crate::frame::FrameSplitter;
use crate::payload::{StatusUpdate, Target};
use crate::session::ClientHandshake;
use crate::{Codec, Message, Role, Version};

/// Handshakes in a row whose session key started with 0x00 before we give up (1 in 2^32).
const MAX_NEGOTIATIONS: u8 = 4;

enum Phase {
    /// 3.4/3.5: waiting for SESS_KEY_NEG_RESP.
    Negotiating {
        // Boxed: it holds a keyed cipher only needed for one round trip.
        hs: Box<ClientHandshake>,
        deadline: Instant,
    },
    /// The first read (proof of key and version) is in flight.
    Starting,
    /// Serving requests.
    Ready,
    /// Over.
    Closed,
}

/// One client connection to one device, as a sans-IO state machine (see the
/// [module documentation](super)).
pub struct Connection {
    pub(super) cfg: ConnectionConfig,
    codec: Codec,
    split: FrameSplitter,
    phase: Phase,
    seq: u32,
    pub(super) now: Instant,
    unix_base: (u64, Instant),
    out: Vec<u8>,
    gated: VecDeque<(Instant, Vec<u8>)>,
    last_send: Option<Instant>,
    events: VecDeque<Event>,
    queue: VecDeque<(RequestId, Request)>,
    task: Option<Task>,
    wait: Option<Wait>,
    heartbeat_at: Instant,
    misses: u32,
    pub(super) frames_in: u64,
    decode_error: Option<ClientError>,
    stale: Stale,
    pub(super) mem: Memory,
    next_id: u64,
    negotiations: u8,
    unfinished: Vec<(RequestId, Request)>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("dev_id", &self.cfg.dev_id)
            .field("version", &self.cfg.version)
            .field("ready", &matches!(self.phase, Phase::Ready))
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Starts a connection at `now` (the transport is already open), remembering what earlier
    /// connections learnt. `unix_time` is the wall clock at `now`, in seconds (payloads carry
    /// it); `entropy` supplies negotiation and GCM nonces. The first frames (negotiation, or
    /// the initial status query) are ready in [`Connection::poll_transmit`] at once.
    pub fn new(
        cfg: ConnectionConfig,
        memory: Memory,
        now: Instant,
        unix_time: u64,
        entropy: impl Entropy + 'static,
    ) -> Self {
        let mut memory = memory;
        // 3.2 firmware refuses DP_QUERY: no need to learn it from a refusal.
        memory.device22 |= cfg.version.implies_device22();
        let mut codec = Codec::with_entropy(cfg.version, cfg.key.clone(), Role::Client, entropy);
        codec.set_max_len(cfg.max_frame_in);
        let mut c = Connection {
            split: FrameSplitter::with_max_len(cfg.max_frame_in),
            codec,
            phase: Phase::Starting,
            seq: 0,
            now,
            unix_base: (unix_time, now),
            out: Vec::new(),
            gated: VecDeque::new(),
            last_send: None,
            events: VecDeque::new(),
            queue: VecDeque::new(),
            task: None,
            wait: None,
            heartbeat_at: now + cfg.heartbeat_interval,
            misses: 0,
            frames_in: 0,
            decode_error: None,
            stale: Stale::default(),
            mem: memory,
            next_id: 0,
            negotiations: 0,
            unfinished: Vec::new(),
            cfg,
        };
        if c.cfg.version.uses_session_key() {
            c.negotiate();
        } else {
            c.start_initial();
        }
        c
    }

    // ---- inputs ----

    /// Bytes received from the device.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        self.tick(now);
        if self.is_closed() {
            return;
        }
        self.split.feed(data);
        while let Some(frame) = self.split.next_frame() {
            // Garbage and oversized frames: the splitter skips them and resynchronises.
            let Ok(frame) = frame else { continue };
            self.frames_in += 1;
            match self.codec.decode(&frame) {
                Ok(m) => {
                    self.misses = 0;
                    self.on_message(m);
                }
                Err(e) => self.on_undecodable(&e),
            }
            if self.is_closed() {
                return;
            }
        }
        if self.split.pending() == 0 {
            // Idle devices are the common case in a fleet: give the read buffer back.
            self.split = FrameSplitter::with_max_len(self.cfg.max_frame_in);
        }
        self.pump();
    }

    /// Time passed: call at (or after) [`Connection::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        while self.gated.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, f)) = self.gated.pop_front() {
                self.out.extend_from_slice(&f);
            }
        }
        if let Phase::Negotiating { deadline, .. } = &self.phase {
            if *deadline <= now {
                let v = self.cfg.version;
                let e = self.decode_error.take().unwrap_or_else(|| ClientError::WrongKey {
                    detail: format!(
                        "no answer to {v} session negotiation; devices ignore frames they cannot verify (less likely: it does not speak {v}, or is busy)"
                    ),
                    source: None,
                });
                self.close_with(e);
                return;
            }
        }
        if self.is_closed() {
            return;
        }
        if self.wait.as_ref().is_some_and(|w| w.deadline() <= now) {
            if let (Some(w), Some(mut task)) = (self.wait.take(), self.task.take()) {
                let step = match w {
                    Wait::Reply { seq, cmd, wait, .. } => {
                        self.stale.push(seq);
                        let (e, fatal) = self.missed(cmd.name(), wait);
                        task.on_fail(self, e, fatal)
                    }
                    Wait::Pushes { cid, want, .. } => {
                        let missing = self.mem.missing(cid.as_deref(), &want);
                        task.on_pushes(self, missing)
                    }
                };
                self.run(task, step);
            }
        }
        self.expire_queue();
        if matches!(self.phase, Phase::Ready)
            && self.task.is_none()
            && self.queue.is_empty()
            && self.heartbeat_at <= now
        {
            let mut task = Task::heartbeat();
            let step = task.start(self);
            self.run(task, step);
        }
        self.pump();
    }

    /// The transport ended (end of stream, reset, a stalled write).
    pub fn handle_disconnect(&mut self, how: Disconnect, now: Instant) {
        self.tick(now);
        let e = if let Phase::Negotiating { .. } = self.phase {
            let v = self.cfg.version;
            ClientError::Busy {
                detail: format!(
                    "the device dropped the connection during {v} session negotiation ({}); or it does not speak {v}",
                    ClientError::ConnectionLost(how)
                ),
            }
        } else {
            ClientError::ConnectionLost(how)
        };
        self.close_with(e);
    }

    /// Queues a request; its outcome comes as [`Event::Reply`] with the returned id.
    pub fn submit(&mut self, req: Request, now: Instant) -> RequestId {
        self.tick(now);
        self.next_id += 1;
        let id = RequestId(self.next_id);
        if self.is_closed() {
            self.unfinished.push((id, req));
        } else if self.queue.len() >= self.cfg.max_queue.max(1) {
            self.events.push_back(Event::Reply {
                id,
                result: Err(ClientError::QueueFull(self.queue.len())),
            });
        } else {
            self.queue.push_back((id, req));
            self.pump();
        }
        id
    }

    /// Ends the connection from our side.
    pub fn close(&mut self) {
        self.close_with(ClientError::Closed);
    }

    // ---- outputs ----

    /// Bytes to write to the device, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.out.is_empty()).then(|| std::mem::take(&mut self.out))
    }

    /// When to call [`Connection::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut at = |x: Instant| t = Some(t.map_or(x, |t| t.min(x)));
        match &self.phase {
            Phase::Closed => return None,
            Phase::Negotiating { deadline, .. } => at(*deadline),
            Phase::Ready if self.task.is_none() && self.queue.is_empty() => at(self.heartbeat_at),
            _ => {}
        }
        if let Some(w) = &self.wait {
            at(w.deadline());
        }
        if let Some((g, _)) = self.gated.front() {
            at(*g);
        }
        if let Some(d) = self.queue.iter().filter_map(|(_, r)| r.deadline).min() {
            at(d);
        }
        t
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        let e = self.events.pop_front();
        if e.is_none() && self.events.capacity() > 0 {
            // Drained: an idle connection (the common case in a fleet) keeps no buffer.
            self.events = VecDeque::new();
        }
        e
    }

    /// Requests that were never answered because the connection closed: queued ones, and the
    /// one in flight if it only reads. They can be submitted again on the next connection.
    pub fn take_unfinished(&mut self) -> Vec<(RequestId, Request)> {
        std::mem::take(&mut self.unfinished)
    }

    /// What this connection learnt (fallbacks, DP state): hand it to the next one.
    pub fn memory(&self) -> &Memory {
        &self.mem
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.cfg.version
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Whether requests are being served (negotiated and first read done).
    pub fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready)
    }

    /// Whether the device has sent at least one frame on this connection.
    pub fn heard_from_device(&self) -> bool {
        self.frames_in > 0
    }

    // ---- for the operations ----

    pub(super) fn target<'a>(&'a self, cid: Option<&'a str>) -> Target<'a> {
        let elapsed = self.now.saturating_duration_since(self.unix_base.1);
        Target {
            version: self.cfg.version,
            dev_id: &self.cfg.dev_id,
            cid,
            t: self.unix_base.0 + elapsed.as_secs(),
        }
    }

    pub(super) fn merge(&mut self, u: StatusUpdate, pushed: bool) {
        let changed = self.mem.merge(&u);
        if !changed.is_empty() {
            self.events.push_back(Event::Update {
                cid: u.cid,
                changed,
                pushed,
            });
        }
    }

    pub(super) fn learn(&mut self, fallback: Fallback, reason: String) {
        match fallback {
            Fallback::Device22 => self.mem.device22 = true,
            Fallback::SingleDp => self.mem.single_dp = true,
        }
        self.events
            .push_back(Event::FallbackLearnt { fallback, reason });
    }

    pub(super) fn notice(&mut self, text: String) {
        self.events.push_back(Event::Notice(text));
    }

    /// A frame that is not the reply waited for: pushes become updates.
    pub(super) fn unsolicited(&mut self, m: Message) {
        if let Some(text) = device_error(&m) {
            self.events
                .push_back(Event::DeviceError { cmd: m.cmd, text });
            return;
        }
        if let Some(u) = status_of(&m) {
            self.merge(u, true);
        }
    }

    // ---- internals ----

    fn tick(&mut self, now: Instant) {
        // Time never goes backwards for the machine, whatever the driver passes.
        self.now = self.now.max(now);
    }

    fn next_seq(&mut self) -> u32 {
        // Strictly increasing on the connection: firmware drops a frame whose seq does not
        // exceed the previous one's, and closes the connection.
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// Encodes and queues a frame, keeping the minimum gap; returns when it goes out.
    fn send_msg(&mut self, msg: &Message) -> Result<Instant, ClientError> {
        let wire = self
            .codec
            .encode(msg)
            .map_err(|source| ClientError::Encode {
                cmd: msg.cmd,
                source,
            })?;
        if wire.len() > self.cfg.max_frame_out {
            return Err(ClientError::TooLarge {
                cmd: msg.cmd.name(),
                len: wire.len(),
                limit: self.cfg.max_frame_out,
            });
        }
        let mut at = self.now;
        if let (Some(gap), Some(last)) = (self.cfg.min_command_gap, self.last_send) {
            at = at.max(last + gap);
        }
        if at > self.now || !self.gated.is_empty() {
            self.gated.push_back((at, wire));
        } else {
            self.out.extend_from_slice(&wire);
        }
        self.last_send = Some(at);
        Ok(at)
    }

    fn negotiate(&mut self) {
        let v = self.cfg.version;
        let Some(nonce) = self.codec_entropy() else {
            self.close_with(ClientError::Negotiation("no entropy source".into()));
            return;
        };
        let seq = self.next_seq();
        self.next_seq(); // SESS_KEY_NEG_FINISH goes out as seq + 1
        let hs = match ClientHandshake::new(v, self.cfg.key.clone(), nonce, seq) {
            Ok(h) => h,
            Err(e) => return self.close_with(ClientError::Negotiation(e.to_string())),
        };
        let mut hs = Box::new(hs);
        let start = hs.start();
        match self.send_msg(&start) {
            Ok(at) => {
                self.decode_error = None;
                self.phase = Phase::Negotiating {
                    hs,
                    deadline: at + self.cfg.request_timeout,
                };
            }
            Err(e) => self.close_with(e),
        }
    }

    fn codec_entropy(&mut self) -> Option<[u8; 16]> {
        self.codec.entropy().map(random_bytes)
    }

    fn on_negotiation_reply(&mut self, m: &Message) {
        let Phase::Negotiating { hs, .. } = &mut self.phase else {
            return;
        };
        match hs.on_response(m) {
            Ok((finish, key)) => {
                if let Err(e) = self.send_msg(&finish) {
                    return self.close_with(e);
                }
                let zero = key.as_bytes()[0] == 0;
                self.codec.set_session_key(key);
                if zero {
                    // Firmware takes a key starting with 0x00 for "no key" and would ignore
                    // everything we send under it: negotiate again at once.
                    self.negotiations += 1;
                    if self.negotiations >= MAX_NEGOTIATIONS {
                        return self.close_with(ClientError::Negotiation(format!(
                            "{MAX_NEGOTIATIONS} session keys in a row started with 0x00"
                        )));
                    }
                    self.notice(
                        "the session key starts with 0x00, which firmware takes for no key: negotiating again".into(),
                    );
                    return self.negotiate();
                }
                self.events.push_back(Event::SessionEstablished);
                self.start_initial();
            }
            Err(e) => {
                let e = match e {
                    crate::Error::Negotiation(why) => ClientError::Negotiation(why.into()),
                    e => ClientError::from_decode(self.cfg.version, &e),
                };
                self.close_with(e);
            }
        }
    }

    fn start_initial(&mut self) {
        self.phase = Phase::Starting;
        let session = self.cfg.version.uses_session_key();
        if self.cfg.gateway && (session || !self.cfg.probe) {
            // A gateway answers no cid-less query: the negotiation (or nothing) is the proof.
            return self.ready();
        }
        let mut task = Task::initial(self.cfg.probe);
        let step = task.start(self);
        self.run(task, step);
    }

    fn ready(&mut self) {
        self.phase = Phase::Ready;
        self.heartbeat_at = self.now + self.cfg.heartbeat_interval;
        self.events.push_back(Event::Connected {
            version: self.cfg.version,
        });
        self.pump();
    }

    fn on_undecodable(&mut self, e: &crate::Error) {
        let e = ClientError::from_decode(self.cfg.version, e);
        self.events.push_back(Event::FrameDropped(e.clone()));
        if let Phase::Negotiating { .. } = self.phase {
            // A negotiation reply that does not verify with the local key.
            return self.close_with(e);
        }
        self.decode_error = Some(e);
    }

    fn on_message(&mut self, m: Message) {
        if let Phase::Negotiating { .. } = self.phase {
            if m.cmd == crate::Command::SessKeyNegResp {
                self.on_negotiation_reply(&m);
            }
            return;
        }
        if let Some(Wait::Reply { seq, matcher, .. }) = &self.wait {
            let (seq, matcher): (u32, Matcher) = (*seq, *matcher);
            if !self.stale.is_late(&m, seq) && matcher.accepts(&m, seq) {
                self.wait = None;
                if let Some(mut task) = self.task.take() {
                    let step = task.on_reply(self, m);
                    self.run(task, step);
                }
                return;
            }
        }
        self.unsolicited(m);
        if let Some(Wait::Pushes { cid, want, .. }) = &self.wait {
            let missing = self.mem.missing(cid.as_deref(), want);
            if missing.is_empty() {
                self.wait = None;
                if let Some(mut task) = self.task.take() {
                    let step = task.on_pushes(self, missing);
                    self.run(task, step);
                }
            }
        }
    }

    /// A reply did not come: a timeout for the request, or the end of the connection.
    fn missed(&mut self, cmd: &'static str, wait: Duration) -> (ClientError, bool) {
        self.misses += 1;
        if let Some(e) = self.decode_error.take() {
            // A wrong key never heals; corrupt frames end the session once they cost two replies.
            let fatal = e.is_permanent() || self.misses >= MAX_MISSES;
            return (e, fatal);
        }
        let hint = if self.frames_in == 0 {
            " (the device never answered on this connection: wrong local key or protocol version?)"
        } else if self.cfg.version == Version::V31 && cmd == "CONTROL" {
            // 3.1 reads are plaintext: a wrong key only shows when a command is ignored.
            " (3.1 devices silently ignore commands encrypted with a wrong local key)"
        } else {
            ""
        };
        let e = ClientError::Timeout {
            cmd,
            millis: wait.as_millis() as u64,
            hint,
        };
        if self.misses >= MAX_MISSES {
            let e = ClientError::Unresponsive {
                misses: self.misses,
                last: Box::new(e),
            };
            (e, true)
        } else {
            (e, false)
        }
    }

    /// Carries a task through its steps until it waits or ends.
    fn run(&mut self, mut task: Task, mut step: Step) {
        loop {
            step = match step {
                Step::Send {
                    cmd,
                    body,
                    wait,
                    matcher,
                } => {
                    let seq = self.next_seq();
                    let msg = Message::request(self.cfg.version, seq, cmd, body);
                    match self.send_msg(&msg) {
                        Ok(at) => {
                            self.decode_error = None;
                            self.wait = Some(Wait::Reply {
                                seq,
                                cmd,
                                matcher,
                                deadline: at + wait,
                                wait,
                            });
                            self.task = Some(task);
                            return;
                        }
                        Err(e) => task.on_fail(self, e, false),
                    }
                }
                Step::AwaitPushes { cid, want } => {
                    let missing = self.mem.missing(cid.as_deref(), &want);
                    if missing.is_empty() {
                        task.on_pushes(self, missing)
                    } else {
                        self.wait = Some(Wait::Pushes {
                            cid,
                            want,
                            deadline: self.now + self.cfg.push_wait,
                        });
                        self.task = Some(task);
                        return;
                    }
                }
                Step::Done(result) => return self.finish(task, result),
                Step::CloseConn(e) => {
                    self.task = Some(task);
                    return self.close_with(e);
                }
            }
        }
    }

    fn finish(&mut self, task: Task, result: Result<super::Output, ClientError>) {
        self.heartbeat_at = self.now + self.cfg.heartbeat_interval;
        match task.purpose {
            Purpose::Caller(id, _) => self.events.push_back(Event::Reply { id, result }),
            Purpose::Heartbeat => {
                if result.is_err() {
                    self.events.push_back(Event::HeartbeatMissed {
                        misses: self.misses,
                    });
                }
            }
            Purpose::Initial => match result {
                Ok(_) => return self.ready(),
                Err(e) => match self.initial_failure(e) {
                    Some(e) => return self.close_with(e),
                    None => return self.ready(),
                },
            },
        }
        self.pump();
    }

    /// Whether a failed first read ends the connection (`Some`) or it is usable anyway.
    fn initial_failure(&self, e: ClientError) -> Option<ClientError> {
        if self.cfg.probe {
            // Probing 3.4/3.5, the negotiation proved key and version; ≤3.3 needs the read.
            return (!self.cfg.version.uses_session_key()).then_some(e);
        }
        // Replies that do not verify mean nothing this session says can be trusted; not a
        // single frame back means a wrong key (≤3.3 devices ignore what they cannot decrypt),
        // a wrong version, or not a Tuya device. A gateway refusing a cid-less query or a slow
        // device leave the session usable.
        let fatal =
            e.is_permanent() || matches!(e, ClientError::Corrupt { .. }) || self.frames_in == 0;
        fatal.then_some(e)
    }

    /// Starts the next queued request if nothing is in flight.
    fn pump(&mut self) {
        while matches!(self.phase, Phase::Ready) && self.task.is_none() {
            self.expire_queue();
            let Some((id, req)) = self.queue.pop_front() else {
                self.queue = VecDeque::new();
                return;
            };
            let mut task = Task::caller(id, req);
            let step = task.start(self);
            self.run(task, step);
        }
    }

    fn expire_queue(&mut self) {
        let now = self.now;
        let mut kept = VecDeque::with_capacity(self.queue.len());
        for (id, req) in self.queue.drain(..) {
            if req.deadline.is_some_and(|d| d <= now) {
                self.events.push_back(Event::Reply {
                    id,
                    result: Err(ClientError::Expired),
                });
            } else {
                kept.push_back((id, req));
            }
        }
        self.queue = kept;
    }

    pub(super) fn close_with(&mut self, e: ClientError) {
        if self.is_closed() {
            return;
        }
        let e = match e {
            // Dropped before the device said anything: another client holds it.
            ClientError::ConnectionLost(d) if self.frames_in == 0 => ClientError::Busy {
                detail: format!("{} right after connecting", ClientError::ConnectionLost(d)),
            },
            e => e,
        };
        self.phase = Phase::Closed;
        self.wait = None;
        // Nothing more goes out on a connection that is over.
        self.gated.clear();
        self.out.clear();
        if let Some(task) = self.task.take() {
            if let Purpose::Caller(id, req) = task.purpose {
                if req.op.idempotent() {
                    self.unfinished.push((id, req));
                } else {
                    let err = match &e {
                        ClientError::ConnectionLost(d) => ClientError::MaybeApplied(*d),
                        other => other.clone(),
                    };
                    self.events.push_back(Event::Reply {
                        id,
                        result: Err(err),
                    });
                }
            }
        }
        self.unfinished.extend(self.queue.drain(..));
        self.events.push_back(Event::Closed { reason: e });
    }
}
