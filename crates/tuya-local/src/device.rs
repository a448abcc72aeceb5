//! The device handle: a cheap clone that talks to one connection task.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc, oneshot, Semaphore};
use tokio::time::{timeout_at, Instant};
use tuya_proto::client::{self, Op, Output};
use tuya_proto::{Command, DpId, DpValue, Dps, Version};

use crate::config::DeviceConfig;
use crate::conn;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::sink::Sink;

/// A device event tagged with the id of the device it came from (see [`crate::Fleet`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TaggedEvent {
    /// Device id.
    pub id: Arc<str>,
    /// What happened.
    pub event: Event,
}

pub use tuya_proto::client::RawReply;

/// What the connection knows about the device, shared with every handle.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub connected: bool,
    pub version: Option<Version>,
    pub device22: bool,
    pub single_dp: bool,
    pub dps: Dps,
    pub children: BTreeMap<String, Dps>,
    pub last_error: Option<Error>,
}

pub(crate) struct Shared {
    pub id: Arc<str>,
    pub state: Mutex<State>,
    pub events: broadcast::Sender<Event>,
    /// A fleet's merged stream, which never makes the connection task wait.
    pub sink: Option<Sink>,
}

impl Shared {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters more than losing the device: keep going with what is there.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub async fn emit(&self, e: Event) {
        if let Event::Notice(n) = &e {
            tracing::info!(device = %self.id, "{n}");
        }
        if let Some(sink) = &self.sink {
            sink.send(&self.id, e.clone());
        }
        let _ = self.events.send(e);
    }
}

/// A caller's request and where its answer goes.
pub(crate) struct Request {
    pub req: client::Request,
    pub reply: oneshot::Sender<Result<Output>>,
}

impl Request {
    /// When the caller gives up on it.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.req.deadline
    }
}

/// A handle to one device's persistent connection. Clones share the connection; the connection
/// task ends when the last handle is dropped.
#[derive(Clone)]
pub struct Device {
    cfg: Arc<DeviceConfig>,
    // Boxed: the channel preallocates a block of slots per device, so keep slots pointer-sized.
    tx: mpsc::Sender<Box<Request>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("id", &self.cfg.id)
            .field("addr", &self.cfg.addr)
            .finish()
    }
}

impl Device {
    /// Starts the connection task and returns at once; the task connects (and reconnects) in
    /// the background. Must be called inside a tokio runtime.
    pub fn open(cfg: DeviceConfig) -> Device {
        Self::spawn(cfg, None, None, None)
    }

    /// Starts the connection task and waits for the first session: fails with the reason if the
    /// first attempt fails (wrong key, wrong version, offline, busy).
    pub async fn connect(cfg: DeviceConfig) -> Result<Device> {
        let (tx, rx) = oneshot::channel();
        let d = Self::spawn(cfg, None, None, Some(tx));
        match rx.await {
            Ok(Ok(())) => Ok(d),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Closed),
        }
    }

    pub(crate) fn spawn(
        cfg: DeviceConfig,
        sink: Option<Sink>,
        limiter: Option<Arc<Semaphore>>,
        first: Option<oneshot::Sender<Result<()>>>,
    ) -> Device {
        let (tx, rx) = mpsc::channel(cfg.queue_capacity.max(1));
        let (events, _) = broadcast::channel(cfg.event_capacity.max(1));
        let state = State {
            version: cfg.version,
            device22: cfg.device22 || cfg.version.is_some_and(Version::implies_device22),
            ..State::default()
        };
        let shared = Arc::new(Shared {
            id: Arc::from(cfg.id.as_str()),
            state: Mutex::new(state),
            events,
            sink,
        });
        let cfg = Arc::new(cfg);
        tokio::spawn(conn::run(cfg.clone(), shared.clone(), rx, first, limiter));
        Device { cfg, tx, shared }
    }

    /// The device id.
    pub fn id(&self) -> &str {
        &self.cfg.id
    }

    /// The configuration this handle was opened with.
    pub fn config(&self) -> &DeviceConfig {
        &self.cfg
    }

    /// Whether a session is currently up.
    pub fn is_connected(&self) -> bool {
        self.shared.lock().connected
    }

    /// The protocol version in use (configured or detected).
    pub fn version(&self) -> Option<Version> {
        self.shared.lock().version
    }

    /// Whether the device is queried the device22 way.
    pub fn is_device22(&self) -> bool {
        self.shared.lock().device22
    }

    /// Whether multi-DP sets are split into one DP per command (the device refused them).
    pub fn is_single_dp(&self) -> bool {
        self.shared.lock().single_dp
    }

    /// Why the last connection attempt or session ended, if it did.
    pub fn last_error(&self) -> Option<Error> {
        self.shared.lock().last_error.clone()
    }

    /// The last known value of every DP: replies and pushes merged (a DP missing from a later
    /// reply keeps its last value).
    pub fn state(&self) -> Dps {
        self.shared.lock().dps.clone()
    }

    /// Subscribes to this device's events (connects, disconnects, DP changes).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
    }

    /// Queries every DP; returns the merged state.
    pub async fn status(&self) -> Result<Dps> {
        self.dps_call(Op::Status, None).await
    }

    /// Sets one or several DPs and waits for the device's acknowledgement; returns the merged
    /// state afterwards. If the device refuses multi-DP sets, they are sent one at a time (and
    /// an [`Event::Notice`] says so).
    pub async fn set(&self, dps: Dps) -> Result<Dps> {
        if dps.is_empty() {
            return Err(Error::Config("nothing to set".into()));
        }
        self.dps_call(Op::Set(dps), None).await
    }

    /// Sets a single DP.
    pub async fn set_dp(&self, dp: DpId, value: impl Into<DpValue>) -> Result<Dps> {
        self.set([(dp, value.into())].into_iter().collect()).await
    }

    /// Asks the device to push fresh values of `ids` (UPDATEDPS); they arrive as events.
    pub async fn refresh(&self, ids: &[DpId]) -> Result<()> {
        self.call(Op::Refresh(ids.to_vec()), None).await.map(|_| ())
    }

    /// Sends a raw command and returns the first reply with the same command.
    pub async fn send_raw(&self, cmd: Command, payload: Vec<u8>) -> Result<RawReply> {
        match self.call(Op::Raw(cmd, payload), None).await? {
            Output::Raw(r) => Ok(r),
            _ => Err(Error::Device("unexpected reply".into())),
        }
    }

    /// A handle to the gateway sub-device `cid`, over this device's connection.
    pub fn child(&self, cid: impl Into<String>) -> Child {
        Child {
            parent: self.clone(),
            cid: cid.into(),
        }
    }

    async fn dps_call(&self, op: Op, cid: Option<String>) -> Result<Dps> {
        match self.call(op, cid).await? {
            Output::Dps(d) => Ok(d),
            _ => Err(Error::Device("unexpected reply".into())),
        }
    }

    async fn call(&self, op: Op, cid: Option<String>) -> Result<Output> {
        let deadline = Instant::now() + self.cfg.command_deadline;
        let (tx, rx) = oneshot::channel();
        let req = Box::new(Request {
            req: client::Request {
                op,
                cid,
                deadline: Some(deadline.into_std()),
            },
            reply: tx,
        });
        match timeout_at(deadline, self.tx.send(req)).await {
            Err(_) => return Err(self.gave_up("the command queue stayed full")),
            Ok(Err(_)) => return Err(Error::Closed),
            Ok(Ok(())) => {}
        }
        match timeout_at(deadline, rx).await {
            Err(_) => Err(self.gave_up("no reply")),
            Ok(Err(_)) => Err(Error::Closed),
            Ok(Ok(r)) => r,
        }
    }

    fn gave_up(&self, what: &str) -> Error {
        let st = self.shared.lock();
        let secs = self.cfg.command_deadline.as_secs_f32();
        if st.connected {
            Error::Timeout(format!("{what} within {secs:.1} s"))
        } else {
            match &st.last_error {
                Some(e) => Error::Offline(format!("not connected after {secs:.1} s: {e}")),
                None => Error::Offline(format!("not connected after {secs:.1} s")),
            }
        }
    }
}

/// A gateway sub-device, reached over its parent's connection.
#[derive(Clone, Debug)]
pub struct Child {
    parent: Device,
    cid: String,
}

impl Child {
    /// The sub-device's node id.
    pub fn cid(&self) -> &str {
        &self.cid
    }

    /// The gateway handle.
    pub fn parent(&self) -> &Device {
        &self.parent
    }

    /// Queries the sub-device's DPs.
    pub async fn status(&self) -> Result<Dps> {
        self.parent
            .dps_call(Op::Status, Some(self.cid.clone()))
            .await
    }

    /// Sets DPs of the sub-device.
    pub async fn set(&self, dps: Dps) -> Result<Dps> {
        if dps.is_empty() {
            return Err(Error::Config("nothing to set".into()));
        }
        self.parent
            .dps_call(Op::Set(dps), Some(self.cid.clone()))
            .await
    }

    /// The sub-device's last known DPs.
    pub fn state(&self) -> Dps {
        self.parent
            .shared
            .lock()
            .children
            .get(&self.cid)
            .cloned()
            .unwrap_or_default()
    }

    /// Events concerning this sub-device only (DP updates carrying its cid), plus the parent's
    /// connects and disconnects.
    pub fn subscribe(&self) -> ChildEvents {
        ChildEvents {
            rx: self.parent.subscribe(),
            cid: self.cid.clone(),
        }
    }
}

/// A sub-device's event stream (see [`Child::subscribe`]).
pub struct ChildEvents {
    rx: broadcast::Receiver<Event>,
    cid: String,
}

impl ChildEvents {
    /// The next event for this sub-device; `None` when the connection task has ended.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            match self.rx.recv().await {
                Ok(e @ Event::Update { .. }) => {
                    if matches!(&e, Event::Update { cid: Some(c), .. } if *c == self.cid) {
                        return Some(e);
                    }
                }
                Ok(e) => return Some(e),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
