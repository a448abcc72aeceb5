//! One simulated device: its shared state, its listener, and the handle tests and the control
//! channel use to change it.
//!
//! Memory matters (10,000 devices per process): an idle device is this struct plus one accept
//! task; buffers and codecs exist only while a client is connected.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tuya_proto::{DpId, DpValue, Dps, LocalKey, Version};

use crate::spec::{DeviceSpec, Faults, Firmware, Quirks};
use crate::traffic::{self, Direction, TrafficSink};
use crate::SimError;

/// Pushes queued for one client before new ones are dropped (a client that does not read).
const PUSH_QUEUE: usize = 64;

/// What the device tells its connection task.
#[derive(Debug)]
pub(crate) enum Event {
    /// DPs changed "physically": push them.
    Push { cid: Option<String>, dps: Dps },
    /// Close the connection (offline, re-keyed, shutdown).
    Close(&'static str),
}

pub(crate) struct Child {
    pub cid: String,
    pub dps: Dps,
    /// Reported by the gateway's online query; an offline child still answers with its cached
    /// status, as real gateways do.
    pub online: bool,
}

pub(crate) struct State {
    pub key: LocalKey,
    pub dps: Dps,
    pub children: Vec<Child>,
    pub quirks: Quirks,
    pub faults: Faults,
    pub firmware: Firmware,
    pub online: bool,
    /// Connected clients (at most `firmware.max_clients`), by connection number.
    clients: Vec<(u64, mpsc::Sender<Event>)>,
    /// 3.4/3.5 negotiations started so far, on any connection (`zero_key_handshakes`).
    pub handshakes: u32,
    /// The device's own frame counter (pushes; replies under `own_seq`).
    seq: u32,
    /// When the last accepted command arrived (`min_command_gap`).
    pub last_command: Option<Instant>,
    /// Counter written into push headers under `header_counter`.
    pub header_counter: u32,
}

impl State {
    pub fn child(&self, cid: &str) -> Option<&Child> {
        self.children.iter().find(|c| c.cid == cid)
    }

    pub fn child_mut(&mut self, cid: &str) -> Option<&mut Child> {
        self.children.iter_mut().find(|c| c.cid == cid)
    }

    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    pub fn is_gateway(&self) -> bool {
        !self.children.is_empty()
    }
}

pub(crate) struct Device {
    pub id: String,
    pub name: String,
    pub version: Version,
    pub addr: SocketAddr,
    pub product_key: String,
    pub device22: bool,
    pub heartbeat_timeout: Duration,
    pub started: Instant,
    pub seed: u64,
    pub traffic: Option<TrafficSink>,
    accepted: AtomicU64,
    state: Mutex<State>,
}

impl Device {
    pub fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the DP map half-written in a way that
        // matters to a simulator: keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn log(&self, ev: impl FnOnce() -> traffic::TrafficEvent) {
        if let Some(sink) = &self.traffic {
            sink(&ev());
        } else if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug!("{}", ev());
        }
    }

    /// Forgets the client `conn` once its task ends.
    pub fn release(&self, conn: u64) {
        self.state().clients.retain(|(id, _)| *id != conn);
    }

    pub fn client_count(&self) -> usize {
        self.state().clients.len()
    }
}

/// A cheap handle on one running device.
#[derive(Clone)]
pub struct DeviceHandle(pub(crate) Arc<Device>);

impl std::fmt::Debug for DeviceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceHandle")
            .field("id", &self.0.id)
            .field("addr", &self.0.addr)
            .field("version", &self.0.version)
            .finish()
    }
}

impl DeviceHandle {
    /// Device id.
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// Device name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The TCP address the device listens on.
    pub fn addr(&self) -> SocketAddr {
        self.0.addr
    }

    /// Protocol version.
    pub fn version(&self) -> Version {
        self.0.version
    }

    /// Current DP state.
    pub fn dps(&self) -> Dps {
        self.0.state().dps.clone()
    }

    /// Current DP state of a gateway child.
    pub fn child_dps(&self, cid: &str) -> Option<Dps> {
        self.0.state().child(cid).map(|c| c.dps.clone())
    }

    /// Child node ids, for gateways.
    pub fn child_ids(&self) -> Vec<String> {
        self.0
            .state()
            .children
            .iter()
            .map(|c| c.cid.clone())
            .collect()
    }

    /// A "physical" change: updates the state and pushes it to the connected client.
    pub fn set_dp(&self, dp: DpId, v: DpValue) {
        let mut st = self.0.state();
        st.dps.insert(dp, v.clone());
        push(&st, None, [(dp, v)].into_iter().collect());
    }

    /// Several DPs changing at once: updates the state and pushes them in one frame (a device
    /// that reports ever more DPs, or long values, in tests of a client's bounds).
    pub fn set_dps(&self, dps: Dps) {
        let mut st = self.0.state();
        st.dps.extend(dps.clone());
        push(&st, None, dps);
    }

    /// Pairs the sub-device `cid` (or replaces its DPs) and pushes its DPs with its cid, as a
    /// gateway reports a newly paired child.
    pub fn add_child(&self, cid: &str, dps: Dps) {
        let mut st = self.0.state();
        match st.child_mut(cid) {
            Some(c) => c.dps = dps.clone(),
            None => st.children.push(Child {
                cid: cid.to_string(),
                dps: dps.clone(),
                online: true,
            }),
        }
        push(&st, Some(cid.to_string()), dps);
    }

    /// A gateway child's change, pushed with its `cid`. Unknown children are ignored (and
    /// logged): use [`DeviceHandle::child_dps`] to check first.
    pub fn set_child_dp(&self, cid: &str, dp: DpId, v: DpValue) {
        let mut st = self.0.state();
        let Some(child) = st.child_mut(cid) else {
            tracing::warn!("device {}: no child {cid}", self.0.id);
            return;
        };
        child.dps.insert(dp, v.clone());
        push(&st, Some(cid.to_string()), [(dp, v)].into_iter().collect());
    }

    /// Marks a gateway child online or offline (as the gateway's online query reports it).
    /// Returns false if there is no such child.
    pub fn set_child_online(&self, cid: &str, online: bool) -> bool {
        match self.0.state().child_mut(cid) {
            Some(c) => {
                c.online = online;
                true
            }
            None => false,
        }
    }

    /// Offline closes the client and refuses connections; online serves again.
    pub fn set_online(&self, online: bool) {
        let mut st = self.0.state();
        st.online = online;
        if !online {
            close(&mut st, "device went offline");
        }
    }

    /// Whether the device is online.
    pub fn is_online(&self) -> bool {
        self.0.state().online
    }

    /// Re-pairing: the device uses `key` from now on and drops its client.
    /// A key that is not 16 bytes is refused with an error.
    pub fn set_local_key(&self, key: &str) {
        if let Err(e) = self.try_set_local_key(key) {
            tracing::warn!("device {}: {e}", self.0.id);
        }
    }

    /// Like [`DeviceHandle::set_local_key`], reporting a malformed key.
    pub fn try_set_local_key(&self, key: &str) -> Result<(), tuya_proto::Error> {
        let key = LocalKey::new(key)?;
        let mut st = self.0.state();
        st.key = key;
        close(&mut st, "local key changed");
        Ok(())
    }

    /// Replaces the injected faults (applies to the current connection too).
    pub fn set_faults(&self, f: Faults) {
        self.0.state().faults = f;
    }

    /// Current faults.
    pub fn faults(&self) -> Faults {
        self.0.state().faults.clone()
    }

    /// Replaces the firmware rules (applies to the current connections too, from their next
    /// frame; `max_clients` to connections accepted from now on).
    pub fn set_firmware(&self, f: Firmware) {
        self.0.state().firmware = f;
    }

    /// Current firmware rules.
    pub fn firmware(&self) -> Firmware {
        self.0.state().firmware.clone()
    }

    /// Replaces the quirks (applies to the current connection too).
    pub fn set_quirks(&self, q: Quirks) {
        self.0.state().quirks = q;
    }

    /// Current quirks.
    pub fn quirks(&self) -> Quirks {
        self.0.state().quirks.clone()
    }

    /// TCP connections accepted so far, including refused ones.
    pub fn connections_accepted(&self) -> u64 {
        self.0.accepted.load(Ordering::Relaxed)
    }

    /// Whether any client is connected now.
    pub fn is_connected(&self) -> bool {
        self.0.client_count() > 0
    }

    /// How many clients are connected now (at most `firmware.max_clients`).
    pub fn client_count(&self) -> usize {
        self.0.client_count()
    }

    /// Closes every client connection, if any (the device stays online).
    pub fn close_client(&self) {
        close(&mut self.0.state(), "closed by the simulator");
    }
}

/// Sends a change to every connected client, as firmware pushes to every open connection.
fn push(st: &State, cid: Option<String>, dps: Dps) {
    push_except(st, u64::MAX, cid, dps);
}

/// Sends a change to every connected client but `skip` (which reports it itself).
pub(crate) fn push_except(st: &State, skip: u64, cid: Option<String>, dps: Dps) {
    for (conn, tx) in st.clients.iter().filter(|(c, _)| *c != skip) {
        let ev = Event::Push {
            cid: cid.clone(),
            dps: dps.clone(),
        };
        if tx.try_send(ev).is_err() {
            tracing::warn!("push dropped: client {conn} is not reading");
        }
    }
}

fn close(st: &mut State, why: &'static str) {
    for (_, tx) in st.clients.drain(..) {
        let _ = tx.try_send(Event::Close(why));
    }
}

/// Binds the device's listener and starts its accept loop.
pub(crate) async fn spawn(
    spec: DeviceSpec,
    seed: u64,
    started: Instant,
    traffic: Option<TrafficSink>,
) -> Result<(DeviceHandle, JoinHandle<()>), SimError> {
    let want = SocketAddr::new(spec.ip.into(), spec.port);
    let listener = TcpListener::bind(want)
        .await
        .map_err(|source| SimError::Bind {
            id: spec.id.clone(),
            addr: want,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(want);
    let key = LocalKey::new(&spec.key).map_err(|e| SimError::Spec {
        id: spec.id.clone(),
        reason: format!("local key: {e}"),
    })?;
    let device22 = spec.is_device22();
    let dev = Arc::new(Device {
        addr,
        version: spec.version,
        product_key: spec.product_key,
        device22,
        heartbeat_timeout: spec.heartbeat_timeout,
        started,
        seed,
        traffic,
        accepted: AtomicU64::new(0),
        state: Mutex::new(State {
            key,
            dps: spec.dps,
            children: spec
                .children
                .into_iter()
                .map(|c| Child {
                    cid: c.cid,
                    dps: c.dps,
                    online: true,
                })
                .collect(),
            quirks: spec.quirks,
            faults: spec.faults,
            firmware: spec.firmware,
            online: true,
            clients: Vec::new(),
            handshakes: 0,
            seq: (seed % 20_000) as u32 + 1,
            last_command: None,
            header_counter: 0,
        }),
        name: spec.name,
        id: spec.id,
    });
    let task = tokio::spawn(accept_loop(dev.clone(), listener));
    Ok((DeviceHandle(dev), task))
}

async fn accept_loop(dev: Arc<Device>, listener: TcpListener) {
    let mut conn_no: u64 = 0;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::debug!("device {}: accept failed: {e}", dev.id);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        dev.accepted.fetch_add(1, Ordering::Relaxed);
        // Replies are small and latency-bound: no Nagle.
        let _ = stream.set_nodelay(true);
        conn_no += 1;
        let refused = {
            let mut st = dev.state();
            let refuse_for = st.faults.refuse_for.unwrap_or_default();
            if !st.online {
                Some("device offline")
            } else if dev.started.elapsed() < refuse_for {
                Some("fault: refusing connections")
            } else if st.clients.len() >= usize::from(st.firmware.max_clients.max(1)) {
                Some(if st.firmware.max_clients <= 1 {
                    "one client at a time: another client is connected"
                } else {
                    "firmware: max_clients already connected"
                })
            } else {
                let (tx, rx) = mpsc::channel(PUSH_QUEUE);
                st.clients.push((conn_no, tx));
                tokio::spawn(crate::conn::serve(dev.clone(), stream, peer, conn_no, rx));
                None
            }
        };
        if let Some(why) = refused {
            dev.log(|| traffic::event(&dev.id, peer, Direction::Drop, None, Some(why.into())));
        } else {
            dev.log(|| {
                traffic::event(
                    &dev.id,
                    peer,
                    Direction::Rx,
                    None,
                    Some("client connected".into()),
                )
            });
        }
    }
}
