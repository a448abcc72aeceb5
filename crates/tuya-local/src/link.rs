//! One TCP connection driven by the protocol engine: socket reads into
//! [`Connection::handle_input`], a timer from [`Connection::poll_timeout`], writes from
//! [`Connection::poll_transmit`], and the engine's events turned into the handle's state and
//! events. No protocol decision is made here.

use std::io::ErrorKind;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, timeout, Instant};
use tuya_proto::client::{
    self, ClientError, Connection, ConnectionConfig, Disconnect, Fallback, Memory, Output,
    RequestId,
};
use tuya_proto::Version;

use crate::config::DeviceConfig;
use crate::device::{Request, Shared};
use crate::error::{Error, Result};
use crate::event::Event;

/// Bytes read from the socket at a time (on the stack only while reading).
const READ_CHUNK: usize = 2048;

/// What one wait on the link produced, besides feeding the engine.
pub(crate) enum Woke {
    /// Socket or timer activity (already given to the engine).
    Io,
    /// A caller's request arrived.
    Request(Box<Request>),
    /// Every handle is gone.
    HandlesGone,
}

/// A TCP stream and the engine of the connection on it.
pub(crate) struct Link {
    stream: TcpStream,
    pub conn: Connection,
    waiters: Vec<(RequestId, oneshot::Sender<Result<Output>>)>,
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn disconnect_kind(e: &std::io::Error) -> Disconnect {
    match e.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            Disconnect::Reset
        }
        ErrorKind::UnexpectedEof => Disconnect::Closed,
        _ => Disconnect::Other,
    }
}

/// The engine's settings for this device.
fn engine_config(cfg: &DeviceConfig, v: Version, probe: bool) -> ConnectionConfig {
    let mut c = ConnectionConfig::new(cfg.id.clone(), cfg.key.clone(), v);
    c.gateway = cfg.gateway;
    c.probe = probe;
    c.known_dps = cfg.known_dps.clone();
    c.request_timeout = cfg.request_timeout;
    c.heartbeat_interval = cfg.heartbeat_interval;
    c.push_wait = cfg.push_wait;
    c.min_command_gap = cfg.min_command_gap;
    c.max_queue = cfg.queue_capacity.max(1) * 2;
    c
}

impl Link {
    /// Opens a TCP connection and starts the engine on it.
    pub async fn open(
        cfg: &DeviceConfig,
        memory: &Memory,
        v: Version,
        probe: bool,
    ) -> Result<Link> {
        let addr = cfg.addr;
        let stream = match timeout(cfg.connect_timeout, TcpStream::connect(addr)).await {
            Err(_) => {
                return Err(Error::Offline(format!(
                    "no answer from {addr} within {:.1} s (device off, or wrong IP)",
                    cfg.connect_timeout.as_secs_f32()
                )))
            }
            Ok(Err(e)) if e.kind() == ErrorKind::ConnectionRefused => {
                return Err(Error::Refused(format!(
                    "{addr} refused the connection (nothing listens there: check the IP; or the device is busy)"
                )))
            }
            Ok(Err(e)) => return Err(Error::Offline(format!("cannot connect to {addr}: {e}"))),
            Ok(Ok(s)) => s,
        };
        // Frames are small and latency-bound: never wait for Nagle.
        let _ = stream.set_nodelay(true);
        let conn = Connection::new(
            engine_config(cfg, v, probe),
            memory.clone(),
            now(),
            unix_now(),
            rand::rngs::OsRng,
        );
        Ok(Link {
            stream,
            conn,
            waiters: Vec::new(),
        })
    }

    /// Runs the engine until the connection is ready (`Ok`) or over (`Err`, after a graceful
    /// close, with whether the device stayed silent: no frame, no hang-up). Events on the way
    /// (the first state, fallbacks) reach the handle.
    pub async fn establish(
        mut self,
        cfg: &DeviceConfig,
        shared: &Shared,
    ) -> std::result::Result<Link, (Error, bool)> {
        loop {
            self.flush(cfg).await;
            while let Some(ev) = self.conn.poll_event() {
                match ev {
                    client::Event::Connected { .. } => return Ok(self),
                    client::Event::Closed { reason } => {
                        let heard = self.conn.heard_from_device();
                        self.close().await;
                        let e: Error = reason.into();
                        // Unanswered (a timeout, or a negotiation no frame verified): silence.
                        let silent = !heard
                            && matches!(
                                e,
                                Error::Timeout(_) | Error::WrongKey(_) | Error::Offline(_)
                            );
                        return Err((e, silent));
                    }
                    other => dispatch(other, shared).await,
                }
            }
            self.wait(None).await;
        }
    }

    /// Hands a caller's request to the engine.
    pub fn submit(&mut self, r: Request) {
        let Request { req, reply } = r;
        let id = self.conn.submit(req, now());
        self.waiters.push((id, reply));
    }

    /// Requests in the engine not yet answered.
    pub fn in_flight(&self) -> usize {
        self.waiters.len()
    }

    /// Runs the engine's outputs: writes, then events. Returns the reason once it is closed
    /// (`None`: closed by us), putting unanswered requests back into `held`.
    pub async fn drive(
        &mut self,
        cfg: &DeviceConfig,
        shared: &Shared,
        held: &mut std::collections::VecDeque<Box<Request>>,
    ) -> Option<Option<Error>> {
        self.flush(cfg).await;
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                client::Event::Reply { id, result } => {
                    if let Some(i) = self.waiters.iter().position(|(w, _)| *w == id) {
                        let (_, tx) = self.waiters.swap_remove(i);
                        let _ = tx.send(result.map_err(Error::from));
                    }
                }
                client::Event::Closed { reason } => {
                    for (id, req) in self.conn.take_unfinished() {
                        if let Some(i) = self.waiters.iter().position(|(w, _)| *w == id) {
                            let (_, reply) = self.waiters.swap_remove(i);
                            held.push_back(Box::new(Request { req, reply }));
                        }
                    }
                    return Some(match reason {
                        ClientError::Closed => None,
                        r => Some(r.into()),
                    });
                }
                other => dispatch(other, shared).await,
            }
        }
        None
    }

    /// Waits for socket data, the engine's next deadline or (with `rx`) a request.
    pub async fn wait(&mut self, rx: Option<&mut mpsc::Receiver<Box<Request>>>) -> Woke {
        let deadline = self.conn.poll_timeout().map(Instant::from_std);
        let far = Instant::now() + Duration::from_secs(3600);
        let accept = rx.is_some();
        let recv = async {
            match rx {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = self.stream.readable() => {
                match r {
                    Err(e) => self.conn.handle_disconnect(disconnect_kind(&e), now()),
                    Ok(()) => self.read_ready(),
                }
                Woke::Io
            }
            _ = sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => {
                self.conn.handle_timeout(now());
                Woke::Io
            }
            r = recv, if accept => match r {
                Some(req) => Woke::Request(req),
                None => Woke::HandlesGone,
            },
        }
    }

    fn read_ready(&mut self) {
        let mut buf = [0u8; READ_CHUNK];
        match self.stream.try_read(&mut buf) {
            Ok(0) => self.conn.handle_disconnect(Disconnect::Closed, now()),
            Ok(n) => self.conn.handle_input(&buf[..n], now()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => self.conn.handle_disconnect(disconnect_kind(&e), now()),
        }
    }

    async fn flush(&mut self, cfg: &DeviceConfig) {
        while let Some(bytes) = self.conn.poll_transmit() {
            match timeout(cfg.request_timeout, self.stream.write_all(&bytes)).await {
                Err(_) => self.conn.handle_disconnect(Disconnect::WriteStalled, now()),
                Ok(Err(e)) => self.conn.handle_disconnect(disconnect_kind(&e), now()),
                Ok(Ok(())) => {}
            }
        }
    }

    /// Closes the connection and waits (bounded) for the device to hang up too: devices serve
    /// few clients, so the next attempt must not race the device's cleanup.
    pub async fn close(mut self) {
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
}

/// Turns an engine event into the handle's state and events.
async fn dispatch(ev: client::Event, shared: &Shared) {
    match ev {
        client::Event::Update {
            cid,
            changed,
            pushed,
        } => {
            {
                let mut st = shared.lock();
                let map = match &cid {
                    None => &mut st.dps,
                    Some(c) => st.children.entry(c.clone()).or_default(),
                };
                map.extend(changed.iter().map(|(k, v)| (*k, v.clone())));
            }
            shared
                .emit(Event::Update {
                    cid,
                    changed,
                    pushed,
                })
                .await;
        }
        client::Event::FallbackLearnt { fallback, reason } => {
            {
                let mut st = shared.lock();
                match fallback {
                    Fallback::Device22 => st.device22 = true,
                    Fallback::SingleDp => st.single_dp = true,
                }
            }
            if fallback == Fallback::SingleDp {
                tracing::warn!(device = %shared.id, "{reason}");
            }
            shared.emit(Event::Notice(reason)).await;
        }
        client::Event::Notice(n) => shared.emit(Event::Notice(n)).await,
        client::Event::Ignored(i) => {
            // Once per kind per connection (the engine's rule): a hostile device cannot flood
            // the log, and the user learns why some of its state is missing.
            tracing::warn!(device = %shared.id, "ignored {i}");
            shared.emit(Event::Notice(format!("ignored {i}"))).await;
        }
        client::Event::FrameDropped(e) => {
            let e = Error::from(e);
            tracing::debug!(device = %shared.id, error = %e, "undecodable frame");
            shared
                .emit(Event::Error(format!("dropped a frame: {e}")))
                .await;
        }
        client::Event::DeviceError { cmd, text } => {
            shared
                .emit(Event::Error(format!(
                    "device said {text:?} ({})",
                    cmd.name()
                )))
                .await
        }
        client::Event::HeartbeatMissed { misses } => {
            tracing::debug!(device = %shared.id, misses, "heartbeat unanswered");
        }
        client::Event::SessionEstablished => {
            tracing::debug!(device = %shared.id, "session key negotiated");
        }
        // Handled by the caller.
        client::Event::Connected { .. }
        | client::Event::Reply { .. }
        | client::Event::Closed { .. } => {}
    }
}
