//! The bridge's main loop: device events out to MQTT, MQTT commands in to the devices.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use rumqttc::QoS;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tuya_local::devices::DevicesFile;
use tuya_local::{Event, Fleet, FleetOptions, TaggedEvent};
use tuya_proto::Dps;

use crate::config::{BridgeConfig, ConfigError};
use crate::mqtt::{self, Incoming, Publisher};
use crate::nodes::Nodes;
use crate::publish;
use crate::rekey::Rekey;
use crate::topics::{self, CommandTopic, Topics};
use crate::web::{self, Web};

/// Why the bridge could not run.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// Bad settings.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// devices.json unusable.
    #[error("{0}")]
    Devices(String),
    /// The web page cannot be served.
    #[error("{0}")]
    Http(String),
}

/// A command's outcome, from the task that ran it.
pub(crate) struct Outcome {
    pub node: usize,
    pub command: Value,
    pub result: Result<Dps, tuya_local::Error>,
}

/// Runs the bridge until `shutdown` resolves, then marks every device and itself offline.
pub async fn run(cfg: BridgeConfig, shutdown: impl Future<Output = ()>) -> Result<(), BridgeError> {
    // The loop is a task of its own, so that on a multi-threaded runtime it runs on a worker:
    // the tasks it wakes (the broker connection's, a device's) then run next on the same
    // thread instead of being woken across threads: a quarter to a third less CPU per command
    // (BENCHMARKS.md). Dropping `run` still stops it.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut task = AbortOnDrop(tokio::spawn(serve(cfg, async {
        let _ = stopped.await;
    })));
    tokio::select! {
        r = &mut task.0 => return joined(r),
        _ = shutdown => {}
    }
    let _ = stop.send(());
    joined((&mut task.0).await)
}

/// A task that ends with its handle.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The loop's outcome; its panic goes on as the caller's.
fn joined(r: Result<Result<(), BridgeError>, tokio::task::JoinError>) -> Result<(), BridgeError> {
    match r {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the runtime is shutting down.
        Err(_) => Ok(()),
    }
}

/// The bridge itself, until `shutdown` resolves (see [`run`]).
async fn serve(
    cfg: BridgeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BridgeError> {
    if let Some(w) = tuya_local::devices::exposure_warning(&cfg.devices) {
        tracing::warn!("{w}");
    }
    let file = DevicesFile::load(&cfg.devices).map_err(|e| BridgeError::Devices(e.to_string()))?;
    let topics = Topics::new(&cfg.prefix);
    let (mut nodes, conns, skipped) = Nodes::build(&file, &cfg, &topics);
    // The nodes keep what they use of it: the parsed file is not needed any more.
    drop(file);
    for s in &skipped {
        tracing::warn!("not bridged: {}: {}", s.label, s.why);
    }
    tracing::info!(
        "bridging {} devices over {} connections (shard {})",
        nodes.nodes.len(),
        conns.len(),
        cfg.shard
    );
    let bridge_status = topics.bridge_status(&cfg.instance);
    // Without a broker, a channel nobody sends on: its branch of the loop never fires.
    let (_no_broker, mut incoming) = mpsc::channel::<Incoming>(1);
    let mut out = Publisher::new(None);
    if let Some(b) = &cfg.broker {
        let (client, rx) = mqtt::connect(&cfg, b, &bridge_status)?;
        out = Publisher::new(Some(client));
        incoming = rx;
    }
    let mut fleet = Fleet::open(
        conns,
        FleetOptions {
            event_capacity: 4096,
            ..FleetOptions::default()
        },
    );
    let mut web = Web::start(&cfg, &nodes, &fleet).await?;
    let hub = web.as_ref().map(|w| w.hub.clone());
    let (done_tx, mut done_rx) = mpsc::channel::<Outcome>(256);
    let ctx = publish::Ctx {
        cfg: &cfg,
        topics: &topics,
        bridge_status: &bridge_status,
    };
    let (mut rekey, mut rekeyed) = Rekey::new(&cfg);
    let mut rediscover: Option<tokio::time::Instant> = None;
    let mut listener = match &cfg.announcements {
        None => None,
        Some(l) => match tuya_local::discovery::Listener::bind(l.clone()).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!("not listening for device announcements: {e}");
                None
            }
        },
    };
    tokio::pin!(shutdown);
    loop {
        let wake =
            rediscover.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            _ = &mut shutdown => break,
            ev = fleet.next_event() => match ev {
                Some(ev) => {
                    let conn = ev.id.clone();
                    // Only connects, disconnects and errors change a device's problem.
                    let may_change_problem = !matches!(ev.event, Event::Update { .. } | Event::Notice(_));
                    if let Some(h) = &hub {
                        web_event(h, &nodes, &fleet, &ev);
                    }
                    on_device_event(&ctx, &mut out, &mut nodes, &fleet, &mut rekey, ev).await;
                    if let (Some(h), true) = (&hub, may_change_problem) {
                        // The nodes hold each device's problem (a refused key, and the fix).
                        for i in nodes.on_connection(&conn) {
                            h.set_problem(i, nodes.nodes[i].problem.clone());
                        }
                    }
                }
                None => break,
            },
            m = incoming.recv() => match m {
                None => break,
                Some(Incoming::Connected) => {
                    if let Some(b) = &cfg.broker {
                        tracing::info!("connected to the broker {}:{}", b.host, b.port);
                    }
                    out.connected = true;
                    subscribe(&out, &topics, &cfg).await;
                    out.state(&bridge_status, "online", true).await;
                    publish::everything(&ctx, &mut out, &nodes, &fleet).await;
                    out.flush_kept().await;
                    out.dirty = false;
                }
                Some(Incoming::Disconnected(why)) => {
                    if out.connected {
                        tracing::warn!("broker connection lost: {why}; reconnecting");
                    }
                    out.connected = false;
                }
                Some(Incoming::Message { topic, payload, retained }) => {
                    if is_ha_birth(&cfg, &topic, &payload) {
                        // Re-announce after a random delay, so a restarting Home Assistant is not
                        // flooded by every bridge at once.
                        let (lo, hi) = cfg.rediscovery_delay;
                        let d = rand::thread_rng().gen_range(lo..=hi.max(lo));
                        rediscover = Some(tokio::time::Instant::now() + d);
                    } else if retained {
                        // A retained command would be applied again on every reconnect.
                        tracing::warn!("ignoring the retained command on {topic}: publish commands without the retain flag");
                    } else {
                        on_command(&ctx, &mut out, &nodes, &fleet, &topic, &payload, &done_tx).await;
                    }
                }
            },
            Some(o) = done_rx.recv() => {
                let n = &nodes.nodes[o.node];
                let body = match &o.result {
                    Ok(dps) => json!({"command": o.command, "ok": true, "dps": tuya_proto::dp::dps_to_json(dps)}),
                    Err(e) => json!({"command": o.command, "ok": false, "error": e.to_string(), "kind": publish::error_kind(e)}),
                };
                out.keep(&n.topic("result"), body.to_string()).await;
            }
            Some(c) = next_web_command(&mut web) => {
                if let Some(h) = &hub {
                    web::apply(c, h, &nodes, &fleet);
                }
            }
            Some(fetched) = rekeyed.recv() => {
                for conn in rekey.apply(fetched, &cfg, &mut nodes, &mut fleet) {
                    let members: Vec<usize> = nodes.on_connection(&conn).collect();
                    for i in members {
                        if let Some(h) = &hub {
                            h.set_problem(i, None);
                        }
                        publish::info(&ctx, &mut out, &nodes.nodes[i], &fleet).await;
                    }
                }
            }
            Some(d) = next_announcement(&mut listener), if listener.is_some() => {
                on_announcement(&ctx, &mut out, &mut nodes, &fleet, d.device()).await;
            }
            _ = tokio::time::sleep_until(wake), if rediscover.is_some() => {
                rediscover = None;
                publish::discovery_all(&ctx, &mut out, &nodes, &fleet).await;
            }
        }
    }
    // A clean shutdown: every device and the bridge itself offline, retained.
    for n in &nodes.nodes {
        out.state(&n.topic("status"), "offline", true).await;
    }
    out.state(&bridge_status, "offline", true).await;
    if let Some(w) = web {
        w.stop().await;
    }
    let Some(c) = out.client() else {
        return Ok(());
    };
    let _ = c.disconnect().await;
    // Let the event loop send what was queued (bounded).
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(m) = incoming.recv().await {
            if matches!(m, Incoming::Disconnected(_)) {
                break;
            }
        }
    })
    .await;
    Ok(())
}

async fn next_web_command(web: &mut Option<Web>) -> Option<tuya_web::Command> {
    match web {
        Some(w) => w.commands.recv().await,
        None => std::future::pending().await,
    }
}

/// The page's view of a device event: online state, the full state on connect, changes.
fn web_event(hub: &tuya_web::Hub, nodes: &Nodes, fleet: &Fleet, ev: &TaggedEvent) {
    let conn = &*ev.id;
    match &ev.event {
        Event::Connected { version } => {
            for i in nodes.on_connection(conn) {
                hub.set_online(i, Some(*version));
                hub.update(i, &publish::state_of(&nodes.nodes[i], fleet));
            }
        }
        Event::Disconnected { .. } => {
            for i in nodes.on_connection(conn) {
                hub.set_online(i, None);
            }
        }
        Event::Update { cid, changed, .. } => {
            if let Some(i) = nodes.of(conn, cid.as_deref()) {
                hub.update(i, changed);
            }
        }
        Event::Notice(_) | Event::Error(_) => {}
    }
}

async fn next_announcement(
    l: &mut Option<tuya_local::discovery::Listener>,
) -> Option<tuya_local::discovery::DiscoveryEvent> {
    match l {
        Some(l) => l.next().await,
        None => std::future::pending().await,
    }
}

/// A device announced itself: a protocol version or address other than the one in use (a
/// firmware update, a new DHCP lease) is logged and shown on `info`.
async fn on_announcement(
    ctx: &publish::Ctx<'_>,
    out: &mut Publisher,
    nodes: &mut Nodes,
    fleet: &Fleet,
    d: &tuya_local::discovery::Discovered,
) {
    let Some(i) = nodes.find(&d.id) else { return };
    let n = &mut nodes.nodes[i];
    let now = (d.version, d.ip);
    if n.announced == Some(now) {
        return;
    }
    let known = n.version.or(n.entry.version);
    if let (Some(v), Some(k)) = (d.version, known) {
        if v != k {
            tracing::warn!(
                "{} announces protocol {v}, but is served as {k} (firmware updated? update devices.json)",
                n.entry.label()
            );
        }
    }
    if let Some(dev) = fleet.device(&n.conn) {
        if dev.config().addr.ip() != d.ip {
            tracing::warn!(
                "{} announces address {}, but is served at {} (update devices.json: tuyactl scan --update)",
                n.entry.label(),
                d.ip,
                dev.config().addr.ip()
            );
        }
    }
    n.announced = Some(now);
    publish::info(ctx, out, &nodes.nodes[i], fleet).await;
}

fn is_ha_birth(cfg: &BridgeConfig, topic: &str, payload: &[u8]) -> bool {
    cfg.discovery_prefix
        .as_deref()
        .is_some_and(|p| topic == format!("{p}/status"))
        && payload == b"online"
}

async fn subscribe(out: &Publisher, topics: &Topics, cfg: &BridgeConfig) {
    // A clean session keeps no subscriptions across reconnects: every ConnAck subscribes again.
    let mut filters: Vec<String> = topics.command_filters().to_vec();
    if let Some(p) = &cfg.discovery_prefix {
        filters.push(format!("{p}/status"));
    }
    let Some(client) = out.client() else {
        return;
    };
    for f in filters {
        if let Err(e) = client.subscribe(f.clone(), QoS::AtLeastOnce).await {
            tracing::warn!("cannot subscribe to {f}: {e}");
        }
    }
}

async fn on_device_event(
    ctx: &publish::Ctx<'_>,
    out: &mut Publisher,
    nodes: &mut Nodes,
    fleet: &Fleet,
    rekey: &mut Rekey,
    ev: TaggedEvent,
) {
    let conn = ev.id.clone();
    let Some(dev) = fleet.device(&conn) else {
        return;
    };
    match ev.event {
        Event::Connected { version } => {
            let members: Vec<usize> = nodes.on_connection(&conn).collect();
            for i in members {
                let n = &mut nodes.nodes[i];
                n.online = true;
                n.problem = None;
                if let Some(listed) = n.entry.version {
                    if listed != version && n.version != Some(version) {
                        tracing::warn!(
                            "{}: devices.json says protocol {listed}, the device speaks {version}",
                            n.entry.label()
                        );
                    }
                }
                n.version = Some(version);
                n.settled = true;
                publish::node(ctx, out, &nodes.nodes[i], fleet).await;
                if let Some(cid) = nodes.nodes[i].cid.clone() {
                    // A child's state is only known once asked for; the answer arrives as an
                    // update.
                    let child = dev.child(&*cid);
                    tokio::spawn(async move {
                        let _ = child.status().await;
                    });
                }
            }
        }
        Event::Disconnected { reason } => {
            let problem = match dev.last_error() {
                Some(e @ tuya_local::Error::WrongKey(_)) => {
                    rekey.wanted();
                    Some(rekey.problem(&e, ctx.cfg))
                }
                _ => None,
            };
            let members: Vec<usize> = nodes.on_connection(&conn).collect();
            for i in members {
                let n = &mut nodes.nodes[i];
                tracing::info!("{} offline: {reason}", n.entry.label());
                n.online = false;
                if problem.is_some() {
                    n.problem = problem.clone();
                }
                out.state(&n.topic("status"), "offline", true).await;
                publish::info(ctx, out, &nodes.nodes[i], fleet).await;
            }
        }
        Event::Update { cid, changed, .. } => {
            // Updates before `Connected` (the first read) are published with the full state.
            if let Some(i) = nodes
                .of(&conn, cid.as_deref())
                .filter(|&i| nodes.nodes[i].online)
            {
                publish::changes(out, &nodes.nodes[i], &changed).await;
            }
        }
        Event::Notice(n) => tracing::info!(device = %conn, "{n}"),
        Event::Error(e) => {
            tracing::debug!(device = %conn, "{e}");
            let refused = match dev.last_error() {
                Some(err @ tuya_local::Error::WrongKey(_)) => {
                    rekey.wanted();
                    Some(rekey.problem(&err, ctx.cfg))
                }
                _ => None,
            };
            let members: Vec<usize> = nodes.on_connection(&conn).collect();
            for i in members {
                let n = &mut nodes.nodes[i];
                // A failed first attempt: the info and discovery held back until now.
                let first = !n.settled;
                n.settled = true;
                let mut changed = false;
                if let (Some(p), None) = (&refused, &n.problem) {
                    tracing::warn!("{}: {p}", n.entry.label());
                    n.problem = Some(p.clone());
                    changed = true;
                }
                if first {
                    publish::details(ctx, out, &nodes.nodes[i], fleet).await;
                } else if changed {
                    publish::info(ctx, out, &nodes.nodes[i], fleet).await;
                }
            }
        }
    }
}

async fn on_command(
    ctx: &publish::Ctx<'_>,
    out: &mut Publisher,
    nodes: &Nodes,
    fleet: &Fleet,
    topic: &str,
    payload: &[u8],
    done: &mpsc::Sender<Outcome>,
) {
    let Some((key, kind)) = ctx.topics.parse_command(topic) else {
        return;
    };
    let Some(i) = nodes.find(key) else {
        tracing::debug!("command for unknown device {key:?} (another shard's, or a typo)");
        return;
    };
    let n = &nodes.nodes[i];
    let Some(dev) = fleet.device(&n.conn) else {
        return;
    };
    let text = String::from_utf8_lossy(payload).to_string();
    let (dps, cid, command) = match kind {
        CommandTopic::Device => {
            if text.trim() == "get-states" {
                publish::full_state(out, n, fleet).await;
                return;
            }
            let e = topics::PayloadError::UnknownCommand(text.clone());
            refuse(out, n, json!(text), e.to_string()).await;
            return;
        }
        CommandTopic::BadDp(dp) => {
            let e = topics::PayloadError::BadDp(dp);
            refuse(out, n, json!(text), e.to_string()).await;
            return;
        }
        CommandTopic::Dp(dp) => {
            let v = topics::parse_text_value(&text);
            let dps: Dps = [(dp, v)].into_iter().collect();
            (
                dps,
                n.cid.as_deref().map(str::to_string),
                json!({"dp": dp.0, "value": text}),
            )
        }
        CommandTopic::DpsJson => match topics::parse_json_command(payload) {
            Ok(c) => {
                let cid = c.cid.or_else(|| n.cid.as_deref().map(str::to_string));
                (
                    c.dps,
                    cid,
                    serde_json::from_slice(payload).unwrap_or(Value::Null),
                )
            }
            Err(e) => {
                refuse(out, n, json!(text), e.to_string()).await;
                return;
            }
        },
    };
    let dev = dev.clone();
    let done = done.clone();
    tokio::spawn(async move {
        let result = match cid {
            Some(c) => dev.child(c).set(dps).await,
            None => dev.set(dps).await,
        };
        let _ = done
            .send(Outcome {
                node: i,
                command,
                result,
            })
            .await;
    });
}

async fn refuse(out: &mut Publisher, n: &crate::nodes::Node, command: Value, e: String) {
    let body = json!({"command": command, "ok": false, "error": e, "kind": "bad_command"});
    out.keep(&n.topic("result"), body.to_string()).await;
}
