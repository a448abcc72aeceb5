//! What the page shows, kept up to date by the process that holds the device connections
//! (the bridge): one view per device, a broadcast of every change for the event stream, and
//! a queue of commands for the connection holder to apply.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use serde_json::{json, Map, Value};
use tokio::sync::{broadcast, mpsc, oneshot};
use tuya_proto::{Dps, Version};

/// Changes buffered for a slow event-stream reader; one that falls further behind misses
/// some and is told to reload (the stream says `{"type":"lagged"}`).
const EVENT_BUFFER: usize = 1024;
/// Commands waiting for the connection holder.
const COMMAND_QUEUE: usize = 256;

/// One device (or sub-device) as the page sees it. Never holds a key.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// Device id.
    pub id: String,
    /// Name (the id when unnamed).
    pub name: String,
    /// The gateway's id, for a sub-device.
    pub gateway: Option<String>,
    /// The node id on the gateway, for a sub-device.
    pub cid: Option<String>,
    /// Whether its connection is up.
    pub online: bool,
    /// The protocol version in use, once connected.
    pub version: Option<Version>,
    /// Its address, when known.
    pub ip: Option<String>,
    /// When it last connected or reported.
    pub last_seen: Option<SystemTime>,
    /// Something wrong the user can act on (a wrong key).
    pub problem: Option<String>,
    /// The DPs' last known values, by DP number.
    pub dps: Map<String, Value>,
    /// The DP mapping from devices.json (`{"<dp>": {"code", "type", "values"}}`), or `{}`;
    /// shared, since a home has many devices of one product.
    pub mapping: Arc<Value>,
}

impl View {
    /// A view with nothing known yet.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        View {
            id: id.into(),
            name: name.into(),
            gateway: None,
            cid: None,
            online: false,
            version: None,
            ip: None,
            last_seen: None,
            problem: None,
            dps: Map::new(),
            mapping: Arc::new(Value::Object(Map::new())),
        }
    }

    fn to_json(&self) -> Value {
        let mut o = json!({
            "id": self.id,
            "name": self.name,
            "online": self.online,
            "version": self.version.map(|v| v.as_str()),
            "ip": self.ip,
            "last_seen": self.last_seen.map(rfc3339),
            "problem": self.problem,
            "dps": self.dps,
            "mapping": *self.mapping,
        });
        if let Some(c) = &self.cid {
            o["cid"] = Value::String(c.clone());
        }
        o
    }
}

/// A device's JSON, with `children` when it has any.
fn with_children(v: &View, kids: &[&View]) -> Value {
    let mut o = v.to_json();
    if !kids.is_empty() {
        o["children"] = Value::Array(kids.iter().map(|c| c.to_json()).collect());
    }
    o
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A command from the page: set `dps` on device `node` (an index into the hub's views);
/// `reply` gets the outcome once the device acknowledged (or could not).
#[derive(Debug)]
pub struct Command {
    /// The view's index.
    pub node: usize,
    /// The DPs to set.
    pub dps: Dps,
    /// The outcome.
    pub reply: oneshot::Sender<Result<(), CommandError>>,
}

/// Why a command was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The device is not connected.
    #[error("{0} is offline")]
    Offline(String),
    /// No acknowledgement in time.
    #[error("{0}")]
    Timeout(String),
    /// The device or the connection refused it.
    #[error("{0}")]
    Failed(String),
}

struct State {
    views: Vec<View>,
    by_key: HashMap<String, usize>,
}

struct Inner {
    state: RwLock<State>,
    events: broadcast::Sender<Arc<str>>,
    commands: mpsc::Sender<Command>,
    /// Set once the server is stopping: open event streams end.
    closed: tokio::sync::watch::Sender<bool>,
}

/// The shared state of the page: cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl Hub {
    /// A hub over `views` (their indices are how the holder names them later), and the queue
    /// of commands the holder must apply.
    pub fn new(views: Vec<View>) -> (Hub, mpsc::Receiver<Command>) {
        let mut by_key = HashMap::new();
        for (i, v) in views.iter().enumerate() {
            by_key.entry(v.id.clone()).or_insert(i);
        }
        for (i, v) in views.iter().enumerate() {
            // Names after ids: an id always finds its own device.
            by_key.entry(v.name.clone()).or_insert(i);
        }
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        let hub = Hub {
            inner: Arc::new(Inner {
                state: RwLock::new(State { views, by_key }),
                events,
                commands,
                closed: tokio::sync::watch::channel(false).0,
            }),
        };
        (hub, rx)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, e: Value) {
        // No subscriber is fine: nobody has the page open.
        let _ = self.inner.events.send(Arc::from(e.to_string()));
    }

    /// The device's connection is up (`version`) or down (`None`).
    pub fn set_online(&self, node: usize, version: Option<Version>) {
        let e = {
            let mut st = self.write();
            let Some(v) = st.views.get_mut(node) else {
                return;
            };
            v.online = version.is_some();
            if version.is_some() {
                v.version = version;
                v.last_seen = Some(SystemTime::now());
                v.problem = None;
            }
            json!({"type": "online", "id": v.id, "cid": v.cid, "online": v.online,
                   "version": v.version.map(|x| x.as_str())})
        };
        self.emit(e);
    }

    /// DPs reported by the device (only those that changed are sent on the stream).
    pub fn update(&self, node: usize, dps: &Dps) {
        let e = {
            let mut st = self.write();
            let Some(v) = st.views.get_mut(node) else {
                return;
            };
            v.last_seen = Some(SystemTime::now());
            let mut changed = Map::new();
            for (k, val) in dps {
                let (k, val) = (k.to_string(), val.to_json());
                if v.dps.get(&k) != Some(&val) {
                    v.dps.insert(k.clone(), val.clone());
                    changed.insert(k, val);
                }
            }
            if changed.is_empty() {
                return;
            }
            json!({"type": "dps", "id": v.id, "cid": v.cid, "dps": changed})
        };
        self.emit(e);
    }

    /// A problem to show (or `None` to clear it).
    pub fn set_problem(&self, node: usize, problem: Option<String>) {
        if let Some(v) = self.write().views.get_mut(node) {
            v.problem = problem;
        }
    }

    /// A new address (an announcement heard).
    pub fn set_ip(&self, node: usize, ip: String) {
        if let Some(v) = self.write().views.get_mut(node) {
            v.ip = Some(ip);
        }
    }

    /// The index of the device named `key` (id or name).
    pub fn find(&self, key: &str) -> Option<usize> {
        self.read().by_key.get(key).copied()
    }

    /// One device as JSON, with its sub-devices for a gateway.
    pub fn device_json(&self, node: usize) -> Option<Value> {
        let st = self.read();
        let v = st.views.get(node)?;
        let kids: Vec<&View> = match v.gateway {
            None => st
                .views
                .iter()
                .filter(|c| c.gateway.as_deref() == Some(&v.id))
                .collect(),
            Some(_) => Vec::new(),
        };
        Some(with_children(v, &kids))
    }

    /// Every device that is not a sub-device, each gateway with its children: one pass under
    /// one lock, however many devices there are.
    pub fn devices_json(&self) -> Value {
        let st = self.read();
        let mut kids: HashMap<&str, Vec<&View>> = HashMap::new();
        for c in &st.views {
            if let Some(g) = c.gateway.as_deref() {
                kids.entry(g).or_default().push(c);
            }
        }
        let tops = st
            .views
            .iter()
            .filter(|v| v.gateway.is_none())
            .map(|v| with_children(v, kids.get(v.id.as_str()).map_or(&[][..], Vec::as_slice)))
            .collect();
        Value::Array(tops)
    }

    /// The DP mapping of a device, for checking a command's values.
    pub fn mapping(&self, node: usize) -> Option<(String, bool, Arc<Value>)> {
        let st = self.read();
        let v = st.views.get(node)?;
        Some((v.name.clone(), v.online, v.mapping.clone()))
    }

    /// A receiver of every change from now on (JSON text).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.inner.events.subscribe()
    }

    /// Ends every open event stream (the server is stopping: a stream never ends by itself).
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
    }

    /// Resolves once [`Hub::close`] was called.
    pub(crate) async fn closed(&self) {
        let mut rx = self.inner.closed.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// Queues a command for the connection holder.
    pub(crate) async fn submit(&self, c: Command) -> Result<(), CommandError> {
        self.inner
            .commands
            .send(c)
            .await
            .map_err(|_| CommandError::Failed("the bridge is shutting down".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuya_proto::{DpId, DpValue};

    #[test]
    fn views_events_and_children() {
        let mut gw = View::new("gw", "Hub");
        gw.ip = Some("127.0.0.5".into());
        let mut kid = View::new("kid", "Sensor");
        kid.gateway = Some("gw".into());
        kid.cid = Some("c1".into());
        let (hub, _rx) = Hub::new(vec![gw, kid, View::new("p", "gw")]);
        let mut ev = hub.subscribe();
        assert_eq!(
            hub.find("gw"),
            Some(0),
            "an id wins over another device's name"
        );
        assert_eq!(hub.find("Sensor"), Some(1));
        hub.set_online(0, Some(Version::V34));
        let dps: Dps = [(DpId(1), DpValue::Integer(215))].into_iter().collect();
        hub.update(1, &dps);
        hub.update(1, &dps);
        let e1: Value = serde_json::from_str(&ev.try_recv().unwrap()).unwrap();
        assert_eq!(e1["type"], "online");
        assert_eq!(e1["version"], "3.4");
        let e2: Value = serde_json::from_str(&ev.try_recv().unwrap()).unwrap();
        assert_eq!(
            e2,
            json!({"type": "dps", "id": "kid", "cid": "c1", "dps": {"1": 215}})
        );
        assert!(
            ev.try_recv().is_err(),
            "an unchanged value is not sent again"
        );
        let all = hub.devices_json();
        assert_eq!(all.as_array().unwrap().len(), 2, "the child is nested");
        assert_eq!(all[0]["children"][0]["dps"]["1"], 215);
        assert_eq!(all[0]["children"][0]["cid"], "c1");
        assert!(all[1].get("children").is_none());
        assert!(all[0]["last_seen"].as_str().unwrap().ends_with('Z'));
        hub.set_online(0, None);
        assert_eq!(hub.device_json(0).unwrap()["online"], false);
        assert_eq!(
            hub.device_json(0).unwrap()["version"],
            "3.4",
            "the last version is kept"
        );
        assert!(hub.device_json(9).is_none());
    }
}
