//! The [`Connection`] state machine: its state, inputs and outputs. Negotiation is in
//! `handshake`, the request in flight and the connection's end in `flow`.

mod flow;
mod handshake;

use std::collections::VecDeque;
use std::time::Instant;

use super::exchange::{device_error, status_of, Stale, Wait};
use super::ops::Task;
use super::{
    ClientError, ConnectionConfig, Disconnect, Event, Fallback, Memory, Request, RequestId,
};
use crate::entropy::Entropy;
use crate::frame::FrameSplitter;
use crate::payload::{StatusUpdate, Target};
use crate::session::ClientHandshake;
use crate::{Codec, Message, Role, Version};

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
    /// What `mem` holds, counted against [`super::MAX_STATE_BYTES`].
    state_bytes: usize,
    /// Kinds of [`Event::Ignored`] already said on this connection.
    ignored_said: u8,
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
            state_bytes: super::state::state_bytes(&memory),
            ignored_said: 0,
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
            // Oversized and malformed frames: the splitter skips them and resynchronises; a
            // reply missed meanwhile is blamed on them rather than on silence.
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    self.on_bad_frame(e);
                    continue;
                }
            };
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
        let (changed, ignored) = self.mem.merge(&u, &mut self.state_bytes);
        for i in ignored {
            if self.ignored_said & i.kind_bit() == 0 {
                self.ignored_said |= i.kind_bit();
                self.events.push_back(Event::Ignored(i));
            }
        }
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
}
