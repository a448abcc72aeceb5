//! The broker connection: rumqttc options (client id, last will, credentials, TLS), the event
//! loop driven in a task of its own with a capped backoff, and a publisher that never blocks
//! the bridge for long while the broker is away.

use std::collections::VecDeque;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Packet, QoS, Transport};
use tokio::sync::mpsc;

use crate::config::{BridgeConfig, ConfigError};

/// Requests the client may queue for the event loop. Small: a fleet's start-up burst waits
/// here for the socket either way, and a queue once grown keeps its size (4,096 requests held
/// about 1 KiB per device of a 1,000-device start-up for the rest of the run).
const REQUEST_CAPACITY: usize = 64;
/// A publish that cannot even be queued in this long is given up (state) or kept (results).
const PUBLISH_WAIT: Duration = Duration::from_secs(1);
/// Results kept while the broker is away.
const OUTBOX: usize = 4096;

/// What the broker connection reports to the bridge.
#[derive(Debug)]
pub enum Incoming {
    /// Connected (again): subscriptions and retained state must be (re)published, since a
    /// clean session keeps nothing.
    Connected,
    /// The connection failed; the event loop retries.
    Disconnected(String),
    /// A message on a subscribed topic.
    Message {
        /// Its topic.
        topic: String,
        /// Its payload.
        payload: Vec<u8>,
        /// Delivered from the broker's retained store, not published just now.
        retained: bool,
    },
}

/// Builds the client and starts its event loop.
pub fn connect(
    cfg: &BridgeConfig,
    b: &crate::config::Broker,
    will_topic: &str,
) -> Result<(AsyncClient, mpsc::Receiver<Incoming>), ConfigError> {
    let mut o = MqttOptions::new(format!("tuyactl-{}", cfg.instance), &b.host, b.port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_clean_session(true);
    o.set_max_packet_size(256 * 1024, 256 * 1024);
    o.set_last_will(LastWill::new(will_topic, "offline", QoS::AtLeastOnce, true));
    if let Some(u) = &b.user {
        o.set_credentials(u, b.password.clone().unwrap_or_default());
    }
    if b.tls {
        // Another provider may already be installed (then it is used): fine either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let transport = match &cfg.ca_file {
            Some(p) => {
                let ca = std::fs::read(p).map_err(|e| ConfigError::Read {
                    path: p.display().to_string(),
                    why: e.to_string(),
                })?;
                Transport::tls(ca, None, None)
            }
            None => Transport::tls_with_default_config(),
        };
        o.set_transport(transport);
    }
    let (client, mut el) = AsyncClient::new(o, REQUEST_CAPACITY);
    // Small messages, latency-bound: Nagle would hold a QoS 1 acknowledgement ~40 ms.
    let mut net = el.network_options();
    net.set_tcp_nodelay(true);
    el.set_network_options(net);
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(drive(el, tx, cfg.reconnect_max));
    Ok((client, rx))
}

/// Polls the event loop forever (rumqttc reconnects on the next poll after an error), with a
/// capped exponential backoff between failed attempts.
async fn drive(mut el: EventLoop, tx: mpsc::Sender<Incoming>, max: Duration) {
    let min = Duration::from_millis(100);
    let mut backoff = min;
    loop {
        let msg = match el.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = min;
                Some(Incoming::Connected)
            }
            Ok(Event::Incoming(Packet::Publish(p))) => Some(Incoming::Message {
                topic: p.topic,
                payload: p.payload.to_vec(),
                retained: p.retain,
            }),
            Ok(_) => None,
            Err(e) => {
                let _ = tx.send(Incoming::Disconnected(e.to_string())).await;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(max.max(min));
                None
            }
        };
        if let Some(m) = msg {
            if tx.send(m).await.is_err() {
                return;
            }
        }
        if tx.is_closed() {
            return;
        }
    }
}

/// Publishes on behalf of the bridge. State that cannot be published now is republished whole
/// on the next connection; results are kept (bounded) until then.
pub struct Publisher {
    /// `None`: no broker configured (the web page alone); nothing is published.
    client: Option<AsyncClient>,
    /// The broker connection is up.
    pub connected: bool,
    /// Some state was not published: republish everything on the next connection.
    pub dirty: bool,
    outbox: VecDeque<(String, Vec<u8>, bool)>,
}

impl Publisher {
    /// A publisher over `client`; `None` publishes nothing (no broker).
    pub fn new(client: Option<AsyncClient>) -> Self {
        Self {
            client,
            connected: false,
            dirty: true,
            outbox: VecDeque::new(),
        }
    }

    /// The client (subscriptions, disconnect), when there is a broker.
    pub fn client(&self) -> Option<&AsyncClient> {
        self.client.as_ref()
    }

    async fn try_send(&self, topic: &str, payload: Vec<u8>, retain: bool) -> bool {
        let Some(client) = self.client.as_ref().filter(|_| self.connected) else {
            return false;
        };
        let f = client.publish(topic, QoS::AtLeastOnce, retain, payload);
        matches!(tokio::time::timeout(PUBLISH_WAIT, f).await, Ok(Ok(())))
    }

    /// Publishes state; if it cannot go now, the next connection republishes all state.
    pub async fn state(&mut self, topic: &str, payload: impl Into<Vec<u8>>, retain: bool) {
        if !self.try_send(topic, payload.into(), retain).await {
            self.dirty = true;
        }
    }

    /// Publishes a message that must not be lost (a command's result).
    pub async fn keep(&mut self, topic: &str, payload: impl Into<Vec<u8>>) {
        if self.client.is_none() {
            return;
        }
        let payload = payload.into();
        if !self.try_send(topic, payload.clone(), false).await {
            if self.outbox.len() >= OUTBOX {
                tracing::warn!("broker away too long: dropping the oldest kept result");
                self.outbox.pop_front();
            }
            self.outbox.push_back((topic.to_string(), payload, false));
        }
    }

    /// Sends what was kept while the broker was away.
    pub async fn flush_kept(&mut self) {
        while let Some((t, p, r)) = self.outbox.pop_front() {
            if !self.try_send(&t, p.clone(), r).await {
                self.outbox.push_front((t, p, r));
                return;
            }
        }
    }
}
