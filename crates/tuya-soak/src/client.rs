//! The client side: a `tuya_local::Fleet` of every device, its merged event stream read
//! throughout (pushes counted), re-keyed devices replaced in it, and one worker per target
//! sending a steady stream of commands, each recorded in the ledger.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tuya_local::{Device, DeviceConfig, Event, Fleet, FleetOptions};
use tuya_proto::{DpId, DpValue, Dps, LocalKey};

use crate::fleet_spec::{SoakDevice, FLEET_DP, MQTT_DP};
use crate::ledger::{reason_of, Ledger, Outcome, Via};

/// How long a command may take in all (`DeviceConfig::command_deadline`): queued while
/// disconnected, then sent and answered.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(20);
/// Beyond its deadline, how long the harness waits for a command's outcome before calling it
/// hung (the client promises one by the deadline).
const HANG_SLACK: Duration = Duration::from_secs(20);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the fleet's event stream carried.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamFigures {
    /// Sessions opened (first connections and reconnects).
    pub connected: u64,
    /// Sessions ended.
    pub disconnected: u64,
    /// DP updates the devices pushed unasked.
    pub pushes: u64,
    /// Non-fatal errors reported (undecodable frames and the like).
    pub errors: u64,
}

#[derive(Default)]
struct Counters {
    connected: AtomicU64,
    disconnected: AtomicU64,
    pushes: AtomicU64,
    errors: AtomicU64,
}

enum Ctl {
    Replace(DeviceConfig),
}

/// The client fleet and its handles.
pub struct Clients {
    handles: Arc<Mutex<HashMap<String, Device>>>,
    configs: Mutex<HashMap<String, DeviceConfig>>,
    ctl: mpsc::Sender<Ctl>,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

/// The client's configuration of a device: product defaults (backoff included) but for the
/// version given, as devices.json would, and the soak's command deadline.
pub fn config_of(d: &SoakDevice) -> DeviceConfig {
    let s = &d.spec;
    let key = LocalKey::new(&s.key).expect("the soak draws 16-character keys");
    let mut c = DeviceConfig::new(s.id.clone(), key, (s.ip, s.port).into()).version(s.version);
    c.gateway = d.is_gateway();
    c.known_dps = vec![DpId(1), FLEET_DP, MQTT_DP];
    c.command_deadline = COMMAND_DEADLINE;
    c
}

impl Clients {
    /// Opens the fleet and starts reading its events.
    pub fn open(devices: &[SoakDevice]) -> Clients {
        let configs: Vec<DeviceConfig> = devices.iter().map(config_of).collect();
        let children: HashMap<String, Vec<String>> = devices
            .iter()
            .map(|d| {
                let cids = d.spec.children.iter().map(|c| c.cid.clone()).collect();
                (d.spec.id.clone(), cids)
            })
            .collect();
        let fleet = Fleet::open(configs.clone(), FleetOptions::default());
        let handles: HashMap<String, Device> = fleet
            .devices()
            .iter()
            .map(|d| (d.id().to_string(), d.clone()))
            .collect();
        let handles = Arc::new(Mutex::new(handles));
        let counters = Arc::new(Counters::default());
        let (ctl, rx) = mpsc::channel(64);
        let task = tokio::spawn(drive(
            fleet,
            rx,
            handles.clone(),
            counters.clone(),
            children,
        ));
        Clients {
            handles,
            configs: Mutex::new(configs.into_iter().map(|c| (c.id.clone(), c)).collect()),
            ctl,
            counters,
            task,
        }
    }

    /// A handle on the device's current connection.
    pub fn handle(&self, id: &str) -> Option<Device> {
        lock(&self.handles).get(id).cloned()
    }

    /// The device was re-paired: reconnect it with `key` (`Fleet::replace`).
    pub async fn rekey(&self, id: &str, key: &str) {
        let Ok(key) = LocalKey::new(key) else { return };
        let cfg = {
            let mut cfgs = lock(&self.configs);
            let Some(c) = cfgs.get_mut(id) else { return };
            c.key = key;
            c.clone()
        };
        let _ = self.ctl.send(Ctl::Replace(cfg)).await;
    }

    /// What the client believes `dp` of the device (or its child) holds.
    pub fn view(&self, id: &str, cid: Option<&str>, dp: DpId) -> Option<DpValue> {
        let dev = self.handle(id)?;
        let dps: Dps = match cid {
            Some(c) => dev.child(c).state(),
            None => dev.state(),
        };
        dps.get(&dp).cloned()
    }

    /// Whether the device's session is up now.
    pub fn connected(&self, id: &str) -> bool {
        self.handle(id).is_some_and(|d| d.is_connected())
    }

    /// The event stream's figures so far.
    pub fn stream(&self) -> StreamFigures {
        let c = &self.counters;
        StreamFigures {
            connected: c.connected.load(Ordering::Relaxed),
            disconnected: c.disconnected.load(Ordering::Relaxed),
            pushes: c.pushes.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
        }
    }

    /// Closes every connection.
    pub async fn close(self) {
        lock(&self.handles).clear();
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Owns the fleet: reads its events, replaces re-keyed devices.
async fn drive(
    mut fleet: Fleet,
    mut ctl: mpsc::Receiver<Ctl>,
    handles: Arc<Mutex<HashMap<String, Device>>>,
    counters: Arc<Counters>,
    children: HashMap<String, Vec<String>>,
) {
    loop {
        tokio::select! {
            ev = fleet.next_event() => {
                let Some(ev) = ev else { return };
                match ev.event {
                    Event::Connected { .. } => {
                        counters.connected.fetch_add(1, Ordering::Relaxed);
                        // A gateway's children are read on every connect, as the bridge does:
                        // nothing else tells the client what changed while it was away.
                        let cids = children.get(&*ev.id).cloned().unwrap_or_default();
                        if let Some(dev) = fleet.device(&ev.id) {
                            for cid in cids {
                                let child = dev.child(cid);
                                tokio::spawn(async move {
                                    let _ = child.status().await;
                                });
                            }
                        }
                    }
                    Event::Disconnected { .. } => {
                        counters.disconnected.fetch_add(1, Ordering::Relaxed);
                    }
                    Event::Update { pushed: true, .. } => {
                        counters.pushes.fetch_add(1, Ordering::Relaxed);
                    }
                    Event::Error(_) => {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
            Some(c) = ctl.recv() => match c {
                Ctl::Replace(cfg) => {
                    let id = cfg.id.clone();
                    if fleet.replace(cfg) {
                        if let Some(d) = fleet.device(&id) {
                            // The old handle must go too, or its connection lives on.
                            lock(&handles).insert(id, d.clone());
                        }
                    }
                }
            },
        }
    }
}

/// Sends fleet commands to one target until `stop`, a random 150–600 ms apart.
pub async fn worker(
    clients: Arc<Clients>,
    ledger: Arc<Ledger>,
    target: usize,
    seed: u64,
    stop: Arc<AtomicBool>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(150..600))).await;
        if !stop.load(Ordering::SeqCst) {
            one(&clients, &ledger, target).await;
        }
    }
}

/// One fleet command to `target`, recorded; whether it was acknowledged.
pub async fn one(clients: &Clients, ledger: &Ledger, target: usize) -> bool {
    let t = ledger.targets()[target].clone();
    let Some(dev) = clients.handle(&t.device_id) else {
        return false;
    };
    let (id, value) = ledger.send(target, FLEET_DP, Via::Fleet);
    let dps: Dps = [(FLEET_DP, DpValue::Integer(value))].into_iter().collect();
    let set = async {
        match &t.cid {
            Some(c) => dev.child(c.clone()).set(dps).await,
            None => dev.set(dps).await,
        }
    };
    let outcome = match tokio::time::timeout(COMMAND_DEADLINE + HANG_SLACK, set).await {
        Ok(Ok(_)) => Outcome::Acked(Instant::now()),
        Ok(Err(e)) => Outcome::Failed(reason_of(&e)),
        Err(_) => Outcome::Hung,
    };
    let acked = matches!(outcome, Outcome::Acked(_));
    ledger.end(id, outcome);
    acked
}
