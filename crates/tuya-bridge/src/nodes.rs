//! The bridged devices: every entry of devices.json this shard owns, with its topic level and
//! the connection that reaches it (its own, or its gateway's for a sub-device).
//!
//! A node keeps only what the bridge uses after start-up, compactly: shared strings (a direct
//! device's id is also its connection's), its DP mapping as JSON text shared by every node with
//! the same one (a home has many devices of one product), and no local key (the connection has
//! it). The parsed devices.json is dropped once the nodes are built.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;
use tuya_local::devices::{DeviceEntry, DevicesFile, Resolve};
use tuya_local::DeviceConfig;

use crate::config::BridgeConfig;
use crate::ha::sanitize_id;
use crate::topics::{slug, Topics};

/// What the bridge keeps of a device's devices.json entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    /// Device id.
    pub id: Arc<str>,
    /// Human name.
    pub name: Option<Box<str>>,
    /// The protocol version devices.json names, if a known one.
    pub version: Option<tuya_proto::Version>,
    /// `product_key`, as found (shown on `info`).
    pub product_key: Option<Value>,
    /// `category`, as found (shown on `info`).
    pub category: Option<Value>,
    /// `model`, else `product_name`, when a non-empty string (Home Assistant's model).
    pub model: Option<Box<str>>,
    /// The DP mapping as compact JSON text (`{"1": {"code": …}}`), shared between nodes.
    pub mapping: Option<Arc<str>>,
}

impl Listing {
    /// The name, or the id when unnamed.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// A non-empty string field (`product_key`, `category`).
    pub fn text(v: &Option<Value>) -> Option<String> {
        v.as_ref()
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// The DP mapping as JSON (parsed on demand: only discovery and the web page need it).
    pub fn mapping(&self) -> Option<Value> {
        serde_json::from_str(self.mapping.as_deref()?).ok()
    }
}

/// One device on MQTT.
#[derive(Debug, Clone)]
pub struct Node {
    /// What devices.json says about it.
    pub entry: Listing,
    /// `<prefix>/<slug>`.
    pub base: Box<str>,
    /// Where its topic level starts in `base`.
    slug_at: usize,
    /// Its Home Assistant object id (`[a-zA-Z0-9_-]`, unique in the fleet).
    pub object_id: Box<str>,
    /// The id of the connection that reaches it.
    pub conn: Arc<str>,
    /// Its node id on the gateway, for a sub-device.
    pub cid: Option<Box<str>>,
    /// Whether its connection is up.
    pub online: bool,
    /// Whether its connection's first attempt has ended (connected or failed). Until then its
    /// info and discovery config are held back: the attempt changes them within moments.
    pub settled: bool,
    /// A problem worth showing on `info` (a wrong key: the device was re-paired).
    pub problem: Option<String>,
    /// The protocol version in use, once connected.
    pub version: Option<tuya_proto::Version>,
    /// What the device last announced on the network (version, address), when heard.
    pub announced: Option<(Option<tuya_proto::Version>, std::net::IpAddr)>,
}

impl Node {
    /// Its topic level.
    pub fn slug(&self) -> &str {
        &self.base[self.slug_at..]
    }

    /// `<base>/<leaf>`, e.g. `tuya/lamp/status`.
    pub fn topic(&self, leaf: &str) -> String {
        let mut t = String::with_capacity(self.base.len() + 1 + leaf.len());
        t.push_str(&self.base);
        t.push('/');
        t.push_str(leaf);
        t
    }
}

/// The nodes on one connection: nearly always one, so without a vector of its own.
#[derive(Debug, Clone)]
enum Members {
    One(usize),
    Many(Vec<usize>),
}

impl Members {
    fn as_slice(&self) -> &[usize] {
        match self {
            Members::One(i) => std::slice::from_ref(i),
            Members::Many(v) => v,
        }
    }

    fn push(&mut self, i: usize) {
        match self {
            Members::One(first) => *self = Members::Many(vec![*first, i]),
            Members::Many(v) => v.push(i),
        }
    }
}

/// The devices of one bridge and how to reach them.
#[derive(Debug, Default)]
pub struct Nodes {
    /// Every bridged device.
    pub nodes: Vec<Node>,
    by_key: HashMap<Arc<str>, usize>,
    members: HashMap<Arc<str>, Members>,
}

/// An entry that cannot be bridged, and why (logged, the others go on).
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The entry's label.
    pub label: String,
    /// Why.
    pub why: String,
}

/// Shared copies of equal strings (ids, mappings) while the nodes are built.
#[derive(Default)]
struct Interner(HashSet<Arc<str>>);

impl Interner {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(a.clone());
        a
    }
}

fn listing(e: &DeviceEntry, id: Arc<str>, mappings: &mut Interner) -> Listing {
    let text = |k: &str| {
        e.extra
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(Box::from)
    };
    Listing {
        id,
        name: e.name.as_deref().map(Box::from),
        version: e.version(),
        product_key: e.extra.get("product_key").cloned(),
        category: e.extra.get("category").cloned(),
        model: text("model").or_else(|| text("product_name")),
        mapping: e.mapping.as_ref().map(|m| mappings.get(&m.to_string())),
    }
}

impl Nodes {
    /// The devices of `file` owned by this shard, and the connections to open (one per device
    /// or gateway).
    pub fn build(
        file: &DevicesFile,
        cfg: &BridgeConfig,
        topics: &Topics,
    ) -> (Nodes, Vec<DeviceConfig>, Vec<Skipped>) {
        let mut nodes = Nodes::default();
        let mut conns: Vec<DeviceConfig> = Vec::new();
        let mut opened: HashSet<Arc<str>> = HashSet::new();
        let mut skipped = Vec::new();
        let (mut ids, mut mappings) = (Interner::default(), Interner::default());
        for e in &file.entries {
            // A sub-device lives on its gateway's connection, so it follows the gateway's shard.
            let owner = match (&e.parent, e.is_sub()) {
                (Some(p), true) => p.as_str(),
                _ => e.id.as_str(),
            };
            if e.id.is_empty() || !cfg.shard.owns(owner) {
                continue;
            }
            let r = match file.resolve(e) {
                Ok(r) => r,
                Err(err) => {
                    skipped.push(Skipped {
                        label: e.label().to_string(),
                        why: err.to_string(),
                    });
                    continue;
                }
            };
            let conn = ids.get(&r.config.id);
            if opened.insert(conn.clone()) {
                let mut c = r.config;
                c.command_deadline = cfg.command_timeout;
                conns.push(c);
            }
            let mut s = slug(e.name.as_deref(), &e.id);
            if nodes.by_key.contains_key(s.as_str()) {
                // Two devices with one name: the second is addressed by its id.
                tracing::warn!(
                    "two devices are named {:?}: {} uses its id as topic",
                    s,
                    e.id
                );
                s = slug(None, &e.id);
            }
            let oid = match &r.cid {
                Some(c) => sanitize_id(&format!("{conn}_{c}")),
                None => sanitize_id(&e.id),
            };
            let id = ids.get(&e.id);
            let i = nodes.nodes.len();
            nodes.by_key.insert(ids.get(&s), i);
            nodes.by_key.entry(id.clone()).or_insert(i);
            match nodes.members.get_mut(&conn) {
                Some(m) => m.push(i),
                None => {
                    nodes.members.insert(conn.clone(), Members::One(i));
                }
            }
            let base = topics.base(&s);
            nodes.nodes.push(Node {
                entry: listing(e, id, &mut mappings),
                slug_at: base.len() - s.len(),
                base: base.into(),
                object_id: oid.into(),
                conn,
                cid: r.cid.map(Box::from),
                online: false,
                settled: false,
                problem: None,
                version: None,
                announced: None,
            });
        }
        nodes.nodes.shrink_to_fit();
        nodes.by_key.shrink_to_fit();
        nodes.members.shrink_to_fit();
        (nodes, conns, skipped)
    }

    /// The device a command topic names, by topic level or id.
    pub fn find(&self, key: &str) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    /// The device reached through connection `conn` with node id `cid`.
    pub fn of(&self, conn: &str, cid: Option<&str>) -> Option<usize> {
        self.on_connection(conn)
            .find(|&i| self.nodes[i].cid.as_deref() == cid)
    }

    /// Every device on connection `conn` (a gateway and its children).
    pub fn on_connection<'a>(&'a self, conn: &str) -> impl Iterator<Item = usize> + 'a {
        self.members
            .get(conn)
            .map(Members::as_slice)
            .unwrap_or_default()
            .iter()
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FileConfig;

    #[test]
    fn nodes_share_what_is_equal_and_find_each_other() {
        let file = DevicesFile::parse(
            r#"[
              {"name":"Plug A","id":"bf01","key":"0123456789abcdef","ip":"127.0.0.1",
               "mapping":{"1":{"code":"switch_1","type":"Boolean"}},"product_key":"pk","model":""},
              {"name":"Plug B","id":"bf02","key":"0123456789abcdef","ip":"127.0.0.2",
               "mapping":{"1":{"code":"switch_1","type":"Boolean"}},"product_name":"Socket"},
              {"name":"Hub","id":"gw1","key":"0123456789abcdef","ip":"127.0.0.3"},
              {"name":"Plug A","id":"sub1","sub":true,"parent":"gw1","node_id":"c1"}
            ]"#,
        )
        .unwrap();
        let cfg = BridgeConfig::merge(
            FileConfig::default(),
            FileConfig {
                mqtt: Some("mqtt://h".into()),
                ..FileConfig::default()
            },
        )
        .unwrap();
        let (nodes, conns, skipped) = Nodes::build(&file, &cfg, &Topics::new("tuya"));
        assert!(skipped.is_empty());
        assert_eq!(
            conns.len(),
            3,
            "the child rides on its gateway's connection"
        );
        let [a, b, hub, child] = &nodes.nodes[..] else {
            panic!("{:?}", nodes.nodes)
        };
        assert_eq!((a.slug(), &*a.base), ("plug_a", "tuya/plug_a"));
        assert_eq!(a.topic("status"), "tuya/plug_a/status");
        // The second "Plug A" is addressed by its id.
        assert_eq!(child.slug(), "sub1");
        assert!(Arc::ptr_eq(&a.entry.id, &a.conn), "one id for both");
        let (ma, mb) = (a.entry.mapping.as_ref(), b.entry.mapping.as_ref());
        assert!(
            Arc::ptr_eq(ma.unwrap(), mb.unwrap()),
            "one mapping for both"
        );
        assert_eq!(
            a.entry.mapping().unwrap()["1"]["code"],
            Value::from("switch_1")
        );
        assert_eq!(a.entry.model, None, "an empty model is none");
        assert_eq!(b.entry.model.as_deref(), Some("Socket"));
        assert_eq!(Listing::text(&a.entry.product_key).as_deref(), Some("pk"));
        assert_eq!(hub.entry.mapping(), None);
        assert_eq!(&*child.object_id, "gw1_c1");
        assert_eq!(nodes.find("plug_a"), Some(0));
        assert_eq!(nodes.find("bf02"), Some(1));
        assert_eq!(nodes.find("sub1"), Some(3));
        assert_eq!(nodes.of("gw1", None), Some(2));
        assert_eq!(nodes.of("gw1", Some("c1")), Some(3));
        assert_eq!(nodes.of("gw1", Some("c2")), None);
        assert_eq!(nodes.on_connection("gw1").collect::<Vec<_>>(), [2, 3]);
        assert_eq!(nodes.on_connection("nope").count(), 0);
    }
}
