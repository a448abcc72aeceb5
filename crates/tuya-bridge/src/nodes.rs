//! The bridged devices: every entry of devices.json this shard owns, with its topic level and
//! the connection that reaches it (its own, or its gateway's for a sub-device).

use std::collections::HashMap;

use tuya_local::devices::{DeviceEntry, DevicesFile, Resolve};
use tuya_local::DeviceConfig;

use crate::config::BridgeConfig;
use crate::ha::sanitize_id;
use crate::topics::{slug, Topics};

/// One device on MQTT.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its devices.json entry.
    pub entry: DeviceEntry,
    /// Its topic level.
    pub slug: String,
    /// `<prefix>/<slug>`.
    pub base: String,
    /// Its Home Assistant object id (`[a-zA-Z0-9_-]`, unique in the fleet).
    pub object_id: String,
    /// The id of the connection that reaches it.
    pub conn: String,
    /// Its node id on the gateway, for a sub-device.
    pub cid: Option<String>,
    /// Whether its connection is up.
    pub online: bool,
    /// A problem worth showing on `info` (a wrong key: the device was re-paired).
    pub problem: Option<String>,
    /// The protocol version in use, once connected.
    pub version: Option<tuya_proto::Version>,
    /// What the device last announced on the network (version, address), when heard.
    pub announced: Option<(Option<tuya_proto::Version>, std::net::IpAddr)>,
}

/// The devices of one bridge and how to reach them.
#[derive(Debug, Default)]
pub struct Nodes {
    /// Every bridged device.
    pub nodes: Vec<Node>,
    by_key: HashMap<String, usize>,
    by_conn: HashMap<(String, Option<String>), usize>,
    members: HashMap<String, Vec<usize>>,
}

/// An entry that cannot be bridged, and why (logged, the others go on).
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The entry's label.
    pub label: String,
    /// Why.
    pub why: String,
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
        let mut skipped = Vec::new();
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
            let conn = r.config.id.clone();
            if !conns.iter().any(|c| c.id == conn) {
                let mut c = r.config;
                c.command_deadline = cfg.command_timeout;
                conns.push(c);
            }
            let mut s = slug(e.name.as_deref(), &e.id);
            if nodes.by_key.contains_key(&s) {
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
            let i = nodes.nodes.len();
            nodes.by_key.insert(s.clone(), i);
            nodes.by_key.entry(e.id.clone()).or_insert(i);
            nodes.by_conn.insert((conn.clone(), r.cid.clone()), i);
            nodes.members.entry(conn.clone()).or_default().push(i);
            nodes.nodes.push(Node {
                entry: e.clone(),
                base: topics.base(&s),
                slug: s,
                object_id: oid,
                conn,
                cid: r.cid,
                online: false,
                problem: None,
                version: None,
                announced: None,
            });
        }
        (nodes, conns, skipped)
    }

    /// The device a command topic names, by topic level or id.
    pub fn find(&self, key: &str) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    /// The device reached through connection `conn` with node id `cid`.
    pub fn of(&self, conn: &str, cid: Option<&str>) -> Option<usize> {
        self.by_conn
            .get(&(conn.to_string(), cid.map(str::to_string)))
            .copied()
    }

    /// Every device on connection `conn` (a gateway and its children).
    pub fn on_connection<'a>(&'a self, conn: &'a str) -> impl Iterator<Item = usize> + 'a {
        self.members.get(conn).into_iter().flatten().copied()
    }
}
