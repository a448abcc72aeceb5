//! The connection task: one per device. It connects (detecting the version if needed),
//! negotiates the session, serves queued commands one at a time, sends heartbeats, turns
//! pushes into events and reconnects with backoff.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::{sleep_until, timeout, timeout_at, Instant};
use tuya_proto::frame::FrameSplitter;
use tuya_proto::session::ClientHandshake;
use tuya_proto::{Codec, Command, Message, Role, Version};

use crate::config::DeviceConfig;
use crate::detect::REFUSED;
use crate::device::{Request, Shared};
use crate::error::{Error, Result};
use crate::event::Event;

/// Largest frame we accept from a device: status JSON of big devices stays far below.
const MAX_FRAME: usize = 16 * 1024;
/// Consecutive unanswered requests after which the connection is considered dead.
const MAX_MISSES: u32 = 2;

/// How a request failed: the request alone, or the whole connection.
pub(crate) enum Fail {
    /// The request failed; the connection is fine.
    Req(Error),
    /// The connection is unusable.
    Conn(Error),
}

pub(crate) type R<T> = std::result::Result<T, Fail>;

pub(crate) async fn run(
    cfg: Arc<DeviceConfig>,
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Box<Request>>,
    mut first: Option<oneshot::Sender<Result<()>>>,
    limiter: Option<Arc<Semaphore>>,
) {
    let mut held: VecDeque<Box<Request>> = VecDeque::new();
    let mut closed = false;
    let mut delay = cfg.reconnect_min;
    loop {
        let permit = match &limiter {
            Some(s) => s.clone().acquire_owned().await.ok(),
            None => None,
        };
        // Boxed: connecting is transient, and an idle device should not carry its state.
        let opened = Box::pin(Session::open(&cfg, &shared)).await.map(Box::new);
        drop(permit);
        match opened {
            Ok(mut s) => {
                delay = cfg.reconnect_min;
                {
                    let mut st = shared.lock();
                    st.connected = true;
                    st.version = Some(s.version);
                    st.last_error = None;
                }
                shared.emit(Event::Connected { version: s.version }).await;
                if let Some(f) = first.take() {
                    let _ = f.send(Ok(()));
                }
                let end = s.serve(&mut rx, &mut held, &mut closed).await;
                let end = end.map(|e| s.busy_if_silent(e));
                {
                    let mut st = shared.lock();
                    st.connected = false;
                    st.last_error = end.clone();
                }
                let reason = match end {
                    Some(e) => e.to_string(),
                    None => "closed by the client".into(),
                };
                shared.emit(Event::Disconnected { reason }).await;
                if closed && held.is_empty() {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(device = %cfg.id, error = %e, "connect failed");
                shared.lock().last_error = Some(e.clone());
                shared
                    .emit(Event::Error(format!("connect failed: {e}")))
                    .await;
                if let Some(f) = first.take() {
                    let _ = f.send(Err(e));
                }
            }
        }
        // Back off, with jitter so a fleet does not reconnect in lockstep; keep accepting
        // (bounded) and expiring commands meanwhile.
        let jitter = rand::thread_rng().gen_range(0.75..1.25);
        let until = Instant::now() + delay.mul_f64(jitter);
        delay = (delay * 2).min(cfg.reconnect_max);
        loop {
            expire(&mut held, &shared);
            if closed && held.is_empty() {
                return;
            }
            let next_deadline = held.iter().map(|r| r.deadline).min().unwrap_or(until);
            tokio::select! {
                _ = sleep_until(until) => break,
                _ = sleep_until(next_deadline), if next_deadline < until => {}
                r = rx.recv(), if !closed && held.len() < cfg.queue_capacity.max(1) => match r {
                    Some(req) => held.push_back(req),
                    None => closed = true,
                },
            }
        }
    }
}

/// Fails queued commands whose deadline passed or whose caller gave up.
fn expire(held: &mut VecDeque<Box<Request>>, shared: &Shared) {
    let now = Instant::now();
    let mut i = 0;
    while i < held.len() {
        if held[i].reply.is_closed() || held[i].deadline <= now {
            if let Some(r) = held.remove(i) {
                let e = {
                    let st = shared.lock();
                    match (&st.last_error, st.connected) {
                        (_, true) => Error::Timeout("the command waited past its deadline".into()),
                        (Some(e), false) => Error::Offline(e.to_string()),
                        (None, false) => Error::Offline("not connected".into()),
                    }
                };
                let _ = r.reply.send(Err(e));
            }
        } else {
            i += 1;
        }
    }
}

/// One TCP connection with its codec.
pub(crate) struct Session<'a> {
    pub cfg: &'a DeviceConfig,
    pub shared: &'a Shared,
    pub version: Version,
    pub codec: Codec,
    stream: TcpStream,
    split: FrameSplitter,
    seq: u32,
    last_send: Option<Instant>,
    pub misses: u32,
    pub decode_error: Option<Error>,
    pub frames: u64,
    /// Sequence numbers of requests that timed out: a late reply to one of them must not be
    /// taken for the reply to the request in flight.
    stale: [u32; 4],
}

impl<'a> Session<'a> {
    pub(crate) async fn connect(
        cfg: &'a DeviceConfig,
        shared: &'a Shared,
        v: Version,
    ) -> Result<Session<'a>> {
        let addr = cfg.addr;
        let stream = match timeout(cfg.connect_timeout, TcpStream::connect(addr)).await {
            Err(_) => {
                return Err(Error::Offline(format!(
                    "no answer from {addr} within {:.1} s (device off, or wrong IP)",
                    cfg.connect_timeout.as_secs_f32()
                )))
            }
            Ok(Err(e)) if e.kind() == ErrorKind::ConnectionRefused => {
                return Err(Error::Busy(format!(
                    "{addr} {REFUSED} (or nothing listens there: check the IP)"
                )))
            }
            Ok(Err(e)) => return Err(Error::Offline(format!("cannot connect to {addr}: {e}"))),
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        let mut codec = Codec::with_entropy(v, cfg.key.clone(), Role::Client, rand::rngs::OsRng);
        codec.set_max_len(MAX_FRAME);
        let mut s = Session {
            cfg,
            shared,
            version: v,
            codec,
            stream,
            split: FrameSplitter::with_max_len(MAX_FRAME),
            seq: 0,
            last_send: None,
            misses: 0,
            decode_error: None,
            frames: 0,
            stale: [0; 4],
        };
        if v.uses_session_key() {
            if let Err(e) = s.negotiate().await {
                s.close().await;
                return Err(e);
            }
        }
        Ok(s)
    }

    /// Connects and reads the initial state (which also proves the key on ≤3.3).
    pub(crate) async fn connect_and_query(
        cfg: &'a DeviceConfig,
        shared: &'a Shared,
        v: Version,
    ) -> Result<Session<'a>> {
        let mut s = Self::connect(cfg, shared, v).await?;
        let e = match s.initial_query().await {
            Ok(()) => return Ok(s),
            Err(Fail::Conn(e)) => s.busy_if_silent(e),
            // Replies that do not verify mean nothing this session says can be trusted.
            Err(Fail::Req(e)) if e.is_permanent() || matches!(e, Error::Corrupt(_)) => e,
            // Not a single frame back: a wrong key (≤3.3 devices ignore what they cannot
            // decrypt), a wrong version, or not a Tuya device.
            Err(Fail::Req(e)) if s.frames == 0 => e,
            // A gateway refusing a cid-less query, a slow device: the session is still usable.
            Err(Fail::Req(_)) => return Ok(s),
        };
        s.close().await;
        Err(e)
    }

    /// A connection dropped before the device said anything looks like a device serving
    /// another client (or with local control disabled).
    pub(crate) fn busy_if_silent(&self, e: Error) -> Error {
        match e {
            Error::ConnectionLost(d) if self.frames == 0 => {
                Error::Busy(format!("{d} right after connecting"))
            }
            e => e,
        }
    }

    async fn negotiate(&mut self) -> Result<()> {
        let v = self.version;
        let nonce: [u8; 16] = rand::random();
        let seq = self.next_seq();
        self.seq += 1; // FINISH uses seq + 1
        let mut hs = ClientHandshake::new(v, self.cfg.key.clone(), nonce, seq)
            .map_err(|e| Error::Config(e.to_string()))?;
        let start = hs.start();
        let closed_early = |e: Error| {
            match e {
            Error::ConnectionLost(d) => Error::Busy(format!(
                "the device dropped the connection during {v} session negotiation ({d}); or it does not speak {v}"
            )),
            e => e,
        }
        };
        self.send(&start).await.map_err(closed_early)?;
        let deadline = Instant::now() + self.cfg.request_timeout;
        let resp = loop {
            match timeout_at(deadline, self.recv()).await {
                Err(_) => {
                    return Err(match self.decode_error.take() {
                        Some(e) => e,
                        // Devices ignore a negotiation frame whose HMAC does not verify:
                        // silence is what a wrong key looks like.
                        None => Error::WrongKey(format!(
                            "no answer to {v} session negotiation; devices ignore frames they cannot verify (less likely: it does not speak {v}, or is busy)"
                        )),
                    });
                }
                Ok(Err(e)) => return Err(closed_early(e)),
                Ok(Ok(None)) => {
                    // A negotiation reply that does not verify with the local key.
                    if let Some(e) = self.decode_error.take() {
                        return Err(e);
                    }
                }
                Ok(Ok(Some(m))) if m.cmd == Command::SessKeyNegResp => break m,
                Ok(Ok(Some(_))) => {}
            }
        };
        let (finish, key) = hs
            .on_response(&resp)
            .map_err(|e| Error::from_proto(v, &e))?;
        self.send(&finish).await.map_err(closed_early)?;
        self.codec.set_session_key(key);
        Ok(())
    }

    /// Closes the connection and waits (bounded) for the device to hang up too: devices serve
    /// one client at a time, so the next attempt must not race the device's cleanup.
    pub(crate) async fn close(mut self) {
        let _ = self.stream.shutdown().await;
        let mut buf = [0u8; 256];
        let _ = timeout(Duration::from_secs(1), async {
            while let Ok(n) = self.stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }

    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends one frame, keeping the configured minimum gap since the previous one.
    pub async fn send(&mut self, msg: &Message) -> Result<()> {
        if let (Some(gap), Some(last)) = (self.cfg.min_command_gap, self.last_send) {
            sleep_until(last + gap).await;
        }
        let wire = self
            .codec
            .encode(msg)
            .map_err(|e| Error::Config(e.to_string()))?;
        match timeout(self.cfg.request_timeout, self.stream.write_all(&wire)).await {
            Err(_) => {
                return Err(Error::ConnectionLost(
                    "the device stopped reading (send timed out)".into(),
                ))
            }
            Ok(Err(e)) => return Err(io_lost(&e)),
            Ok(Ok(())) => {}
        }
        self.last_send = Some(Instant::now());
        Ok(())
    }

    /// The next frame: `Ok(None)` for a frame that did not decode (recorded in
    /// `decode_error` and reported as an event), `Err` when the connection is gone.
    /// Cancel-safe: bytes read are kept in the splitter.
    pub async fn recv(&mut self) -> Result<Option<Message>> {
        loop {
            match self.split.next_frame() {
                Some(Ok(frame)) => {
                    self.frames += 1;
                    return match self.codec.decode(&frame) {
                        Ok(m) => {
                            self.misses = 0;
                            Ok(Some(m))
                        }
                        Err(e) => {
                            let e = Error::from_proto(self.version, &e);
                            tracing::debug!(device = %self.cfg.id, error = %e, "undecodable frame");
                            self.shared
                                .emit(Event::Error(format!("dropped a frame: {e}")))
                                .await;
                            self.decode_error = Some(e);
                            Ok(None)
                        }
                    };
                }
                // Garbage: the splitter skips it and resynchronises.
                Some(Err(_)) => continue,
                None => {}
            }
            let mut buf = [0u8; 1024];
            let n = self.stream.read(&mut buf).await.map_err(|e| io_lost(&e))?;
            if n == 0 {
                return Err(Error::ConnectionLost(
                    "the device closed the connection".into(),
                ));
            }
            self.split.feed(&buf[..n]);
        }
    }

    /// Serves commands until the connection fails (`Some(reason)`) or every handle is gone
    /// (`None`).
    async fn serve(
        &mut self,
        rx: &mut mpsc::Receiver<Box<Request>>,
        held: &mut VecDeque<Box<Request>>,
        closed: &mut bool,
    ) -> Option<Error> {
        let interval = self.cfg.heartbeat_interval;
        let mut hb = Instant::now() + interval;
        loop {
            expire(held, self.shared);
            if let Some(req) = held.pop_front() {
                let res = Box::pin(self.execute(&req.op, req.cid.as_deref())).await;
                hb = Instant::now() + interval;
                match res {
                    Ok(out) => {
                        let _ = req.reply.send(Ok(out));
                    }
                    Err(Fail::Req(e)) => {
                        let _ = req.reply.send(Err(e));
                    }
                    Err(Fail::Conn(e)) => {
                        if req.op.idempotent() {
                            held.push_front(req);
                        } else {
                            let _ = req.reply.send(Err(Error::ConnectionLost(format!(
                                "{e}; the command may or may not have been applied"
                            ))));
                        }
                        return Some(e);
                    }
                }
                continue;
            }
            if *closed {
                return None;
            }
            if self.split.pending() == 0 {
                // Idle devices are the common case in a fleet: give the read buffer back.
                self.split = FrameSplitter::with_max_len(MAX_FRAME);
            }
            tokio::select! {
                r = self.recv() => match r {
                    Err(e) => return Some(e),
                    Ok(Some(m)) => self.on_frame(m, true).await,
                    Ok(None) => {}
                },
                r = rx.recv() => match r {
                    Some(req) => held.push_back(req),
                    None => *closed = true,
                },
                _ = sleep_until(hb) => {
                    if let Err(Fail::Conn(e)) = Box::pin(self.heartbeat()).await {
                        return Some(e);
                    }
                    hb = Instant::now() + interval;
                }
            }
        }
    }

    /// Sends a request and waits for the frame `is_reply` accepts; every other frame is
    /// handled as unsolicited (pushes become events).
    pub async fn request(
        &mut self,
        cmd: Command,
        payload: Vec<u8>,
        wait: Duration,
        mut is_reply: impl FnMut(&Message, u32) -> bool,
    ) -> R<Message> {
        let seq = self.next_seq();
        let msg = Message::request(self.version, seq, cmd, payload);
        self.send(&msg).await.map_err(Fail::Conn)?;
        self.decode_error = None;
        let deadline = Instant::now() + wait;
        loop {
            let m = match timeout_at(deadline, self.recv()).await {
                Err(_) => {
                    self.stale.rotate_right(1);
                    self.stale[0] = seq;
                    return Err(self.missed(cmd, wait));
                }
                Ok(Err(e)) => return Err(Fail::Conn(e)),
                Ok(Ok(None)) => continue,
                Ok(Ok(Some(m))) => m,
            };
            let late = m.seq != 0 && m.seq != seq && self.stale.contains(&m.seq);
            if !late && is_reply(&m, seq) {
                return Ok(m);
            }
            self.on_frame(m, true).await;
        }
    }

    fn missed(&mut self, cmd: Command, wait: Duration) -> Fail {
        self.misses += 1;
        if let Some(e) = self.decode_error.take() {
            // A wrong key never heals; corrupt frames end the session once they cost two replies.
            return if e.is_permanent() || self.misses >= MAX_MISSES {
                Fail::Conn(e)
            } else {
                Fail::Req(e)
            };
        }
        let hint = if self.frames == 0 {
            " (the device never answered on this connection: wrong local key or protocol version?)"
        } else if self.version == Version::V31 && cmd == Command::Control {
            // 3.1 reads are plaintext: a wrong key only shows when a command is ignored.
            " (3.1 devices silently ignore commands encrypted with a wrong local key)"
        } else {
            ""
        };
        let e = Error::Timeout(format!(
            "no reply to {} within {:.1} s{hint}",
            cmd.name(),
            wait.as_secs_f32()
        ));
        if self.misses >= MAX_MISSES {
            Fail::Conn(Error::Offline(format!(
                "{MAX_MISSES} requests in a row went unanswered (last: {e})"
            )))
        } else {
            Fail::Req(e)
        }
    }

    async fn heartbeat(&mut self) -> R<()> {
        let t = crate::ops::target(self.cfg, self.version, None);
        let (cmd, body) = tuya_proto::payload::heartbeat(&t);
        let wait = self.cfg.request_timeout.min(self.cfg.heartbeat_interval);
        self.request(cmd, body, wait, |m, _| m.cmd == Command::HeartBeat)
            .await
            .map(|_| ())
    }
}

fn io_lost(e: &std::io::Error) -> Error {
    match e.kind() {
        ErrorKind::ConnectionReset => Error::ConnectionLost(
            "the device reset the connection (busy with another client, or local control disabled)"
                .into(),
        ),
        _ => Error::ConnectionLost(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::State;
    use std::sync::Mutex;
    use tokio::sync::broadcast;
    use tuya_proto::LocalKey;

    /// Fleets of 10,000 devices need a small connection task: its future is allocated once per
    /// device, so its size is most of a device's fixed cost.
    #[test]
    fn connection_task_is_small() {
        let cfg = Arc::new(DeviceConfig::new(
            "x",
            LocalKey::new("0123456789abcdef").unwrap(),
            "127.0.0.1:6668".parse().unwrap(),
        ));
        let shared = Arc::new(Shared {
            id: Arc::from("x"),
            state: Mutex::new(State::default()),
            events: broadcast::channel(1).0,
            sink: None,
        });
        let (cfg2, shared2) = (cfg.clone(), shared.clone());
        let (_tx, rx) = mpsc::channel(1);
        let fut = run(cfg, shared, rx, None, None);
        let size = std::mem::size_of_val(&fut);
        eprintln!(
            "connection task future: {size} bytes; session {} codec {} splitter {} sleep {}",
            std::mem::size_of::<Session<'static>>(),
            std::mem::size_of::<Codec>(),
            std::mem::size_of::<FrameSplitter>(),
            std::mem::size_of::<tokio::time::Sleep>()
        );
        eprintln!(
            "event {} state {} config {} open future {}",
            std::mem::size_of::<Event>(),
            std::mem::size_of::<State>(),
            std::mem::size_of::<DeviceConfig>(),
            std::mem::size_of_val(&Session::open(&cfg2, &shared2)),
        );
        assert!(size < 4 * 1024, "connection task future is {size} bytes");
    }
}
