//! The bridge side: `tuya_bridge::run` over the soak's Mosquitto, an MQTT client that watches
//! every topic and sends commands on the bridge's command topics (each counted in the same
//! ledger, its outcome read from `<device>/result`), and the retained state read at the end by
//! a fresh subscriber.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::fleet_spec::MQTT_DP;
use crate::ledger::{Ledger, Outcome, Via};

/// The bridge's topic prefix (its default).
pub const PREFIX: &str = "tuya";
/// The bridge's instance name.
pub const INSTANCE: &str = "soak";
/// How long the bridge lets a command wait for its device.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// How much longer than that a result may take to reach us before the command counts as hung.
const RESULT_SLACK: Duration = Duration::from_secs(15);

/// The bridge instance's availability topic.
fn bridge_status() -> String {
    format!("{PREFIX}/bridge/{INSTANCE}/status")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running bridge.
pub struct Bridge {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), tuya_bridge::BridgeError>>,
}

impl Bridge {
    /// Starts the bridge on `url` for the devices in `devices` (a devices.json).
    pub fn start(url: &str, devices: &Path, cloud_dir: &Path) -> Result<Bridge> {
        let mut cfg = tuya_bridge::BridgeConfig::merge(
            tuya_bridge::FileConfig::default(),
            tuya_bridge::FileConfig {
                mqtt: Some(url.into()),
                devices: Some(devices.into()),
                instance: Some(INSTANCE.into()),
                // An empty folder: the soak never reads a real cloud login.
                cloud_config_dir: Some(cloud_dir.into()),
                ..tuya_bridge::FileConfig::default()
            },
        )?;
        cfg.command_timeout = COMMAND_TIMEOUT;
        // Announcements are UDP on every interface: other suites share the machine.
        cfg.announcements = None;
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(tuya_bridge::run(cfg, async {
            let _ = rx.await;
        }));
        Ok(Bridge {
            stop: Some(tx),
            task,
        })
    }

    /// Stops it (it marks every device offline first), within 15 s.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .context("the bridge did not stop within 15 s")?
            .context("the bridge task panicked")?
            .context("the bridge failed")?;
        Ok(())
    }
}

type Waiters = HashMap<(String, i64), oneshot::Sender<Result<(), String>>>;

/// What the watching client saw, and the commands waiting for their result.
#[derive(Default)]
struct Watch {
    last: Mutex<HashMap<String, String>>,
    waiting: Mutex<Waiters>,
    /// Periods the client could not have seen a result: a lost connection until subscribed
    /// again.
    outages: Mutex<Vec<(Instant, Option<Instant>)>>,
    /// Broker restarts: from the kill until the bridge is back on the broker (before that a
    /// command reaches no subscriber, and a result no one).
    restarts: Mutex<Vec<(Instant, Option<Instant>)>>,
    subscribed: AtomicBool,
    /// Results that came for no waiting command (after its wait ran out), with the time.
    late: Mutex<Vec<(String, i64, Instant)>>,
}

impl Watch {
    fn down(&self) {
        self.subscribed.store(false, Ordering::SeqCst);
        let mut o = lock(&self.outages);
        if o.last().is_none_or(|x| x.1.is_some()) {
            o.push((Instant::now(), None));
        }
    }

    fn up(&self) {
        if let Some(last) = lock(&self.outages).last_mut() {
            last.1.get_or_insert_with(Instant::now);
        }
        self.subscribed.store(true, Ordering::SeqCst);
    }

    fn result(&self, topic: &str, payload: &str) {
        let Some(slug) = topic
            .strip_prefix(PREFIX)
            .and_then(|t| t.strip_prefix('/'))
            .and_then(|t| t.strip_suffix("/result"))
        else {
            return;
        };
        let Ok(v) = serde_json::from_str::<Value>(payload) else {
            return;
        };
        let value = v["command"]["value"]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok());
        let Some(value) = value else { return };
        if let Some(tx) = lock(&self.waiting).remove(&(slug.to_string(), value)) {
            let r = if v["ok"] == Value::Bool(true) {
                Ok(())
            } else {
                Err(v["kind"].as_str().unwrap_or("unknown").to_string())
            };
            let _ = tx.send(r);
        } else {
            lock(&self.late).push((slug.to_string(), value, Instant::now()));
        }
    }
}

/// The soak's MQTT client: watches `tuya/#`, sends commands.
#[derive(Clone)]
pub struct Mqtt {
    client: AsyncClient,
    watch: Arc<Watch>,
    /// Set around broker restarts: no command is published then (a QoS 1 publish whose
    /// acknowledgement dies with the broker is sent again, and would be applied twice: that
    /// is MQTT's at-least-once, not something the bridge can tell apart).
    pub paused: Arc<AtomicBool>,
    task: Arc<tokio::task::AbortHandle>,
}

impl Mqtt {
    /// Connects to the broker on 127.0.0.1:`port` and waits (bounded) until subscribed.
    pub async fn connect(port: u16) -> Result<Mqtt> {
        let mut o = MqttOptions::new("tuya-soak-watch", "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut el) = AsyncClient::new(o, 4096);
        let watch = Arc::new(Watch::default());
        let (w, c) = (watch.clone(), client.clone());
        let task = tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = c.subscribe(format!("{PREFIX}/#"), QoS::AtLeastOnce).await;
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => w.up(),
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let payload = String::from_utf8_lossy(&p.payload).to_string();
                        if p.topic.ends_with("/result") {
                            w.result(&p.topic, &payload);
                        }
                        lock(&w.last).insert(p.topic, payload);
                    }
                    Ok(_) => {}
                    Err(_) => {
                        w.down();
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        let m = Mqtt {
            client,
            watch,
            paused: Arc::new(AtomicBool::new(false)),
            task: Arc::new(task.abort_handle()),
        };
        m.wait_subscribed(Duration::from_secs(20)).await?;
        Ok(m)
    }

    /// Waits (bounded) until the client is subscribed.
    pub async fn wait_subscribed(&self, within: Duration) -> Result<()> {
        tokio::time::timeout(within, async {
            while !self.watch.subscribed.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .context("the MQTT client did not subscribe")
    }

    /// Stops the client's event loop (every clone's).
    pub fn close(&self) {
        self.task.abort();
    }

    /// The broker is being killed: commands and results from now until the bridge is back
    /// ([`Mqtt::wait_bridge_back`]) may be lost.
    pub fn broker_down(&self) {
        lock(&self.watch.restarts).push((Instant::now(), None));
        lock(&self.watch.last).remove(&bridge_status());
        self.watch.down();
    }

    /// Waits (bounded) until this client is subscribed again and the bridge has said it is
    /// online on the new broker (it subscribes to its command topics first); ends the restart.
    pub async fn wait_bridge_back(&self, within: Duration) -> Result<()> {
        let end = Instant::now() + within;
        self.wait_subscribed(within).await?;
        let r = tokio::time::timeout_at(end, async {
            while self.last(&bridge_status()).as_deref() != Some("online") {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .context("the bridge did not come back on the broker");
        if let Some(last) = lock(&self.watch.restarts).last_mut() {
            last.1.get_or_insert_with(Instant::now);
        }
        r
    }

    /// The broker restarts: from the kill until the bridge was back.
    pub fn outages(&self) -> Vec<(Instant, Option<Instant>)> {
        lock(&self.watch.restarts).clone()
    }

    /// Results that arrived after their command's wait ran out: (slug, value, when).
    pub fn late_results(&self) -> Vec<(String, i64, Instant)> {
        lock(&self.watch.late).clone()
    }

    /// The last payload seen on `topic`.
    pub fn last(&self, topic: &str) -> Option<String> {
        lock(&self.watch.last).get(topic).cloned()
    }

    fn overlaps_outage(&self, from: Instant, to: Instant) -> bool {
        let hit = |v: &[(Instant, Option<Instant>)]| {
            v.iter()
                .any(|&(a, b)| a <= to && b.is_none_or(|b| b >= from))
        };
        hit(&lock(&self.watch.outages)) || hit(&lock(&self.watch.restarts))
    }

    /// Sends `value` for `slug`'s MQTT DP and waits for its result: the outcome for the ledger.
    pub async fn command(&self, slug: &str, value: i64) -> Outcome {
        let sent = Instant::now();
        let (tx, rx) = oneshot::channel();
        lock(&self.watch.waiting).insert((slug.to_string(), value), tx);
        let topic = format!("{PREFIX}/{slug}/dps/{}/command", MQTT_DP.0);
        if let Err(e) = self
            .client
            .publish(topic, QoS::AtLeastOnce, false, value.to_string())
            .await
        {
            lock(&self.watch.waiting).remove(&(slug.to_string(), value));
            return Outcome::Failed(format!("mqtt publish: {e}"));
        }
        match tokio::time::timeout(COMMAND_TIMEOUT + RESULT_SLACK, rx).await {
            Ok(Ok(Ok(()))) => Outcome::Acked(Instant::now()),
            Ok(Ok(Err(kind))) => Outcome::Failed(format!("mqtt {kind}")),
            _ => {
                lock(&self.watch.waiting).remove(&(slug.to_string(), value));
                if self.overlaps_outage(sent, Instant::now()) {
                    Outcome::Failed("result lost in a broker restart".into())
                } else {
                    Outcome::Hung
                }
            }
        }
    }
}

/// Sends MQTT commands to one bridged target until `stop`, a random 300–1200 ms apart.
pub async fn worker(
    mqtt: Mqtt,
    ledger: Arc<Ledger>,
    target: usize,
    seed: u64,
    stop: Arc<AtomicBool>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let slug = ledger.targets()[target].slug.clone();
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(300..1200))).await;
        if mqtt.paused.load(Ordering::SeqCst) || stop.load(Ordering::SeqCst) {
            continue;
        }
        one(&mqtt, &ledger, target, &slug).await;
    }
}

/// One MQTT command to `target`, recorded; whether it was acknowledged.
pub async fn one(mqtt: &Mqtt, ledger: &Ledger, target: usize, slug: &str) -> bool {
    let (id, value) = ledger.send(target, MQTT_DP, Via::Mqtt);
    let outcome = mqtt.command(slug, value).await;
    let acked = matches!(outcome, Outcome::Acked(_));
    ledger.end(id, outcome);
    acked
}

/// The retained `<prefix>/+/dps/+/state` topics, read by a fresh client: what a consumer
/// connecting now would be told. Waits until 1.5 s pass without a new one (at most 20 s).
pub async fn retained_states(port: u16, name: &str) -> Result<HashMap<String, String>> {
    let mut o = MqttOptions::new(name, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(5));
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(o, 64);
    client
        .subscribe(format!("{PREFIX}/+/dps/+/state"), QoS::AtLeastOnce)
        .await?;
    let mut out = HashMap::new();
    let mut subscribed = false;
    let end = Instant::now() + Duration::from_secs(20);
    let mut quiet_until = end;
    while Instant::now() < end.min(quiet_until) {
        let wake = end.min(quiet_until);
        match tokio::time::timeout_at(wake, el.poll()).await {
            Err(_) => break,
            Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                subscribed = true;
                quiet_until = Instant::now() + Duration::from_millis(1500);
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) if p.retain => {
                out.insert(p.topic, String::from_utf8_lossy(&p.payload).to_string());
                if subscribed {
                    quiet_until = Instant::now() + Duration::from_millis(1500);
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => anyhow::bail!("reading retained state: {e}"),
        }
    }
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while el.poll().await.is_ok() {}
    })
    .await;
    Ok(out)
}
