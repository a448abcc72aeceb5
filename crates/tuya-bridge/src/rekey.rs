//! A device that refuses its key was re-paired and has a new one. The bridge says so on the
//! device's `info` topic with the command that fetches it; with `refresh_keys` it fetches the
//! account from the stored cloud login itself (off the event loop, at most once per interval),
//! merges it into devices.json and reconnects the devices whose key changed.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tuya_cloud::{CloudDevice, Store};
use tuya_local::devices::DevicesFile;
use tuya_local::Fleet;
use tuya_proto::LocalKey;

use crate::config::BridgeConfig;
use crate::nodes::Nodes;

/// The outcome of one fetch: the account's devices, or why not (already a sentence).
pub(crate) type Fetched = Result<Vec<CloudDevice>, String>;

/// The re-keying state of one bridge.
pub(crate) struct Rekey {
    store: Option<Store>,
    min_interval: Option<Duration>,
    running: bool,
    last: Option<Instant>,
    tx: mpsc::Sender<Fetched>,
}

impl Rekey {
    /// The state for `cfg`, and the channel fetches report on.
    pub fn new(cfg: &BridgeConfig) -> (Self, mpsc::Receiver<Fetched>) {
        let (tx, rx) = mpsc::channel(1);
        let store = Store::locate(cfg.cloud_config_dir.as_deref()).ok();
        let r = Rekey {
            store,
            min_interval: cfg.refresh_keys.as_ref().map(|k| k.min_interval),
            running: false,
            last: None,
            tx,
        };
        (r, rx)
    }

    /// What `info` shows for a device that refused its key.
    pub fn problem(&self, err: &tuya_local::Error, cfg: &BridgeConfig) -> String {
        if self.min_interval.is_some() {
            return format!("{err}; fetching its new key from the cloud login (refresh_keys)");
        }
        let advice = tuya_cloud::store::rekey_advice(self.store.as_ref(), &cfg.devices);
        format!("{err}; {advice}")
    }

    /// A device refused its key: starts a fetch when enabled, none is running and the last
    /// one is older than the interval.
    pub fn wanted(&mut self) {
        let Some(every) = self.min_interval else {
            return;
        };
        let now = Instant::now();
        if self.running || self.last.is_some_and(|t| now.duration_since(t) < every) {
            return;
        }
        let Some(store) = self.store.clone() else {
            tracing::warn!("cannot fetch new keys: no configuration folder for the cloud login");
            return;
        };
        self.running = true;
        self.last = Some(now);
        let tx = self.tx.clone();
        tracing::info!("a device refused its key: fetching the account's keys from the cloud");
        tokio::spawn(async move {
            // The cloud clients block (each call bounded by its timeouts).
            let r = tokio::task::spawn_blocking(move || {
                tuya_cloud::fetch_devices(&store, None)
                    .map(|(_, devices)| devices)
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(format!("the fetch stopped: {e}")));
            let _ = tx.send(r).await;
        });
    }

    /// A fetch ended: merges it into devices.json and reconnects every bridged connection
    /// whose key changed. Returns the ids of the connections reconnected.
    pub fn apply(
        &mut self,
        fetched: Fetched,
        cfg: &BridgeConfig,
        nodes: &mut Nodes,
        fleet: &mut Fleet,
    ) -> Vec<String> {
        self.running = false;
        let devices = match fetched {
            Ok(d) => d,
            Err(why) => {
                tracing::warn!("cannot fetch new keys from the cloud: {why}");
                return Vec::new();
            }
        };
        let mut file = match DevicesFile::load(&cfg.devices) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("cannot merge new keys: {e}");
                return Vec::new();
            }
        };
        let changes = file.merge_account(devices.iter().map(CloudDevice::to_entry).collect());
        if !changes.rekeyed.is_empty() || !changes.added.is_empty() {
            // Written even when nothing bridged changed: the next start needs the keys too.
            match tuya_local::merge::write_devices_file(&cfg.devices, &file) {
                Ok(_) => tracing::info!(
                    "{}: {} new keys, {} new devices from the cloud",
                    cfg.devices.display(),
                    changes.rekeyed.len(),
                    changes.added.len()
                ),
                // A read-only devices.json: the new keys still serve this run.
                Err(e) => tracing::warn!("cannot write {}: {e}", cfg.devices.display()),
            }
        }
        let mut conns: Vec<String> = nodes.nodes.iter().map(|n| n.conn.to_string()).collect();
        conns.sort();
        conns.dedup();
        let mut done = Vec::new();
        for conn in conns {
            let Some(entry) = file.by_id(&conn) else {
                continue;
            };
            let Some(key) = entry.key.as_deref().and_then(|k| LocalKey::new(k).ok()) else {
                continue;
            };
            let Some(dev) = fleet.device(&conn) else {
                continue;
            };
            if dev.config().key == key {
                continue;
            }
            let mut c = dev.config().clone();
            c.key = key;
            if !fleet.replace(c) {
                continue;
            }
            let members: Vec<usize> = nodes.on_connection(&conn).collect();
            // The nodes keep no key: the connection has the new one.
            for i in members {
                nodes.nodes[i].problem = None;
            }
            tracing::info!("{}: a new key from the cloud; reconnecting", entry.label());
            done.push(conn);
        }
        done
    }
}
