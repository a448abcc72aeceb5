//! The connection task: one per device. It connects (detecting the version if needed), lets
//! the engine serve queued commands, and reconnects with backoff, keeping commands (bounded)
//! while disconnected. Protocol policy is the engine's ([`tuya_proto::client`]); this is
//! sockets, timers and channels.

use std::collections::VecDeque;
use std::sync::Arc;

use rand::Rng;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::{sleep_until, Instant};
use tuya_proto::client::{Attempt, ClientError, Memory, VersionProbe};
use tuya_proto::Version;

use crate::config::DeviceConfig;
use crate::device::{Request, Shared};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::link::{Link, Woke};

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
    let mut memory = {
        let st = shared.lock();
        Memory {
            device22: st.device22,
            ..Memory::default()
        }
    };
    loop {
        let permit = match &limiter {
            Some(s) => s.clone().acquire_owned().await.ok(),
            None => None,
        };
        // Boxed: connecting is transient, and an idle device should not carry its state.
        let opened = Box::pin(open(&cfg, &shared, &memory)).await.map(Box::new);
        drop(permit);
        match opened {
            Ok(mut link) => {
                delay = cfg.reconnect_min;
                let version = link.conn.version();
                {
                    let mut st = shared.lock();
                    st.connected = true;
                    st.version = Some(version);
                    st.last_error = None;
                    st.device22 = link.conn.memory().device22;
                    st.single_dp = link.conn.memory().single_dp;
                }
                shared.emit(Event::Connected { version }).await;
                if let Some(f) = first.take() {
                    let _ = f.send(Ok(()));
                }
                let end = Box::pin(serve(
                    &mut link,
                    &cfg,
                    &shared,
                    &mut rx,
                    &mut held,
                    &mut closed,
                ))
                .await;
                memory = link.conn.memory().clone();
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
            let next_deadline = held
                .iter()
                .filter_map(|r| r.deadline())
                .map(Instant::from_std)
                .min()
                .unwrap_or(until);
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

/// Connects with the known version, or detects it: each candidate on a fresh connection in
/// the engine's probe mode, in the engine's order.
async fn open(cfg: &DeviceConfig, shared: &Shared, memory: &Memory) -> Result<Link> {
    let known = shared.lock().version;
    if let Some(v) = known {
        return attempt(cfg, shared, memory, v, false)
            .await
            .map_err(|f| f.0);
    }
    let mut probe = VersionProbe::new(cfg.version_hint);
    while let Some(v) = probe.next_version() {
        match attempt(cfg, shared, memory, v, true).await {
            Ok(link) => {
                shared
                    .emit(Event::Notice(format!("detected protocol version {v}")))
                    .await;
                return Ok(link);
            }
            // Nothing to learn from other versions when the device is unreachable.
            Err((e, _)) if probe.failures() == 0 && e.is_unreachable() => return Err(e),
            Err((e, silent)) => {
                let how = match &e {
                    _ if silent => Attempt::Silent,
                    Error::Busy(detail) => Attempt::Busy(detail.clone()),
                    _ => Attempt::Other,
                };
                probe.failed(v, &e, how);
            }
        }
    }
    match probe.error() {
        // The engine knows no addresses: say which device stayed silent.
        e @ ClientError::Silent { .. } => Err(Error::Timeout(format!("{} {e}", cfg.addr))),
        e => Err(e.into()),
    }
}

/// Why an attempt failed, and whether the device stayed silent (accepted the connection, then
/// neither answered nor hung up).
type Failed = (Error, bool);

async fn attempt(
    cfg: &DeviceConfig,
    shared: &Shared,
    memory: &Memory,
    v: Version,
    probe: bool,
) -> std::result::Result<Link, Failed> {
    let link = Link::open(cfg, memory, v, probe)
        .await
        .map_err(|e| (e, false))?;
    link.establish(cfg, shared).await
}

/// Serves commands until the connection ends (`Some(reason)`) or every handle is gone and
/// nothing is left to answer (`None`).
async fn serve(
    link: &mut Link,
    cfg: &DeviceConfig,
    shared: &Shared,
    rx: &mut mpsc::Receiver<Box<Request>>,
    held: &mut VecDeque<Box<Request>>,
    closed: &mut bool,
) -> Option<Error> {
    while let Some(r) = held.pop_front() {
        link.submit(*r);
    }
    loop {
        if let Some(end) = link.drive(cfg, shared, held).await {
            return end;
        }
        if *closed && link.in_flight() == 0 {
            link.conn.close();
            continue;
        }
        let accept = !*closed && link.in_flight() < cfg.queue_capacity.max(1);
        match link.wait(accept.then_some(&mut *rx)).await {
            Woke::Io => {}
            Woke::Request(r) => link.submit(*r),
            Woke::HandlesGone => *closed = true,
        }
    }
}

/// Fails queued commands whose deadline passed or whose caller gave up.
fn expire(held: &mut VecDeque<Box<Request>>, shared: &Shared) {
    let now = Instant::now().into_std();
    let mut i = 0;
    while i < held.len() {
        let late = held[i].deadline().is_some_and(|d| d <= now);
        if held[i].reply.is_closed() || late {
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
        let (_tx, rx) = mpsc::channel(1);
        let fut = run(cfg, shared, rx, None, None);
        let size = std::mem::size_of_val(&fut);
        eprintln!(
            "connection task future: {size} bytes; link {} engine {}",
            std::mem::size_of::<Link>(),
            std::mem::size_of::<tuya_proto::client::Connection>(),
        );
        assert!(size < 4 * 1024, "connection task future is {size} bytes");
    }
}
