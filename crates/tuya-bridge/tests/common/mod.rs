//! A real Mosquitto on a free loopback port, a simulated home of every version with a gateway,
//! a bridge running in-process, and an MQTT observer recording every message.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::oneshot;
use tuya_bridge::{BridgeConfig, FileConfig};
use tuya_proto::{DpId, DpValue, Version};
use tuya_sim::{ChildSpec, DeviceSpec, SimOptions, Simulator};

pub use tuya_mosquitto::Broker;

/// A broker on a free loopback port (Debian's Mosquitto: .ci/run installs it).
pub async fn broker() -> Broker {
    Broker::start(mosquitto_bin())
        .await
        .expect("mosquitto starts")
}

/// Mosquitto's binary.
pub fn mosquitto_bin() -> PathBuf {
    tuya_mosquitto::find(None).unwrap_or_else(|e| panic!("{e}"))
}

pub fn free_port() -> u16 {
    tuya_mosquitto::free_port().unwrap()
}

/// Waits (bounded) until something listens on 127.0.0.1:`port`.
pub async fn wait_listening(port: u16) {
    tuya_mosquitto::wait_listening(port)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

pub const KEY: &str = "0123456789abcdef";

/// The topic levels of the devices of [`home`].
pub const HOME_SLUGS: [&str; 7] = [
    "plug_1",
    "bulb_2",
    "cover_3",
    "old_plug",
    "hub",
    "hall_sensor",
    "hall_switch",
];

/// Every test body runs under this bound: a hang is a failure, not a stuck CI job.
pub async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("test exceeded its time bound")
}

/// A home of every version on 127.0.<block>.x: plugs on 3.1 and 3.3, a bulb on 3.4, a cover
/// on 3.5, and a 3.4 gateway with two sub-devices.
pub fn home(block: u8) -> Vec<DeviceSpec> {
    let ip = |n: u8| Ipv4Addr::new(127, 0, block, n);
    let mut fleet = tuya_sim::generate_fleet(3, ip(1), &[Version::V33, Version::V34, Version::V35]);
    let mut old = tuya_sim::generate_fleet(1, ip(4), &[Version::V31]).remove(0);
    old.id = format!("bfold{block:03}000000000001");
    old.name = "Old Plug".into();
    fleet.push(old);
    let mut gw = DeviceSpec::new(
        &format!("bfgw{block:03}0000000000001"),
        KEY,
        Version::V34,
        ip(5),
    );
    gw.name = "Hub".into();
    gw.children = vec![
        ChildSpec {
            cid: "a4c1380000000001".into(),
            name: "Hall Sensor".into(),
            dps: [
                (DpId(1), DpValue::Integer(215)),
                (DpId(2), DpValue::Bool(false)),
            ]
            .into_iter()
            .collect(),
        },
        ChildSpec {
            cid: "a4c1380000000002".into(),
            name: "Hall Switch".into(),
            dps: [(DpId(1), DpValue::Bool(true))].into_iter().collect(),
        },
    ];
    fleet.push(gw);
    // Distinct device ids per test (the fleet generator numbers from 1).
    for (i, s) in fleet.iter_mut().enumerate().take(3) {
        s.id = format!("bfsim{block:03}{:012}", i + 1);
    }
    fleet
}

pub async fn start_sim(specs: Vec<DeviceSpec>, opts: SimOptions) -> Simulator {
    Simulator::start(specs, opts)
        .await
        .expect("simulator starts")
}

/// devices.json for `specs`, in a fresh folder.
pub fn devices_file(specs: &[DeviceSpec]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("devices.json");
    std::fs::write(
        &p,
        serde_json::to_vec(&tuya_sim::devices_json(specs)).unwrap(),
    )
    .unwrap();
    (dir, p)
}

/// A bridge running in this process until `stop` is sent (then it marks everything offline).
pub struct RunningBridge {
    pub stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<Result<(), tuya_bridge::BridgeError>>,
}

impl RunningBridge {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("bridge stops")
            .unwrap()
            .unwrap();
    }
}

pub fn bridge_config(
    url: &str,
    devices: &Path,
    instance: &str,
    shard: Option<&str>,
) -> BridgeConfig {
    let mut c = BridgeConfig::merge(
        FileConfig::default(),
        FileConfig {
            mqtt: Some(url.into()),
            devices: Some(devices.into()),
            instance: Some(instance.into()),
            shard: shard.map(str::to_string),
            ..FileConfig::default()
        },
    )
    .unwrap();
    c.command_timeout = Duration::from_secs(8);
    c.rediscovery_delay = (Duration::from_millis(50), Duration::from_millis(200));
    c.reconnect_max = Duration::from_millis(500);
    // Tests never bind the real announcement ports; the one test of announcements sets its own.
    c.announcements = None;
    c
}

pub fn start_bridge(cfg: BridgeConfig) -> RunningBridge {
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(tuya_bridge::run(cfg, async {
        let _ = rx.await;
    }));
    RunningBridge {
        stop: Some(tx),
        task,
    }
}

/// Every message seen by a client subscribed to `#`: the last payload per topic, and the log.
#[derive(Clone, Default)]
pub struct Seen {
    pub last: Arc<Mutex<BTreeMap<String, String>>>,
    pub log: Arc<Mutex<Vec<(String, String)>>>,
}

impl Seen {
    pub fn get(&self, topic: &str) -> Option<String> {
        self.last.lock().unwrap().get(topic).cloned()
    }

    pub fn count(&self, topic: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t == topic)
            .count()
    }

    pub fn topics_matching(&self, f: impl Fn(&str) -> bool) -> Vec<String> {
        self.last
            .lock()
            .unwrap()
            .keys()
            .filter(|t| f(t))
            .cloned()
            .collect()
    }

    /// Waits (bounded) until `topic` holds `want`.
    pub async fn wait_for(&self, topic: &str, want: &str) {
        let ok = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if self.get(topic).as_deref() == Some(want) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(
            ok.is_ok(),
            "{topic} never became {want:?} (last: {:?})",
            self.get(topic)
        );
    }

    /// Waits (bounded) until some message on `topic` satisfies `pred`; returns it.
    pub async fn wait_until(&self, topic: &str, pred: impl Fn(&str) -> bool) -> String {
        let r = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let Some(p) = self
                    .log
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|(t, p)| t == topic && pred(p))
                    .map(|(_, p)| p.clone())
                {
                    return p;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        r.unwrap_or_else(|_| {
            panic!(
                "no matching message on {topic} (last: {:?})",
                self.get(topic)
            )
        })
    }

    pub fn clear_log(&self) {
        self.log.lock().unwrap().clear();
    }
}

/// An MQTT client that records everything and can publish. It reconnects (and resubscribes)
/// by itself when the broker restarts.
pub struct Observer {
    pub client: AsyncClient,
    pub seen: Seen,
}

pub async fn observe(port: u16, id: &str) -> Observer {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(5));
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(o, 1024);
    let seen = Seen::default();
    let (s, c) = (seen.clone(), client.clone());
    let (ready_tx, ready_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = c.subscribe("#", QoS::AtLeastOnce).await;
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let payload = String::from_utf8_lossy(&p.payload).to_string();
                    s.last
                        .lock()
                        .unwrap()
                        .insert(p.topic.clone(), payload.clone());
                    s.log.lock().unwrap().push((p.topic, payload));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), ready_rx)
        .await
        .expect("observer subscribed")
        .unwrap();
    Observer { client, seen }
}

impl Observer {
    pub async fn publish(&self, topic: &str, payload: &str) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
            .await
            .unwrap();
    }
}

/// The address of a spec's device.
pub fn addr(s: &DeviceSpec) -> SocketAddr {
    SocketAddr::new(s.ip.into(), s.port)
}
