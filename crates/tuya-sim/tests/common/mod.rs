//! A minimal tuya-proto client over real TCP, to drive the simulator in tests.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tuya_proto::frame::FrameSplitter;
use tuya_proto::payload::{self, Target};
use tuya_proto::session::ClientHandshake;
use tuya_proto::{Codec, Command, DpId, DpValue, Dps, LocalKey, Message, Role, Version};
use tuya_sim::{DeviceSpec, SimOptions, Simulator};

pub const KEY: &str = "0123456789abcdef";
pub const T: Duration = Duration::from_secs(3);

#[derive(Debug)]
pub enum RecvError {
    Timeout,
    Closed,
    Decode(tuya_proto::Error),
}

pub struct Client {
    pub stream: TcpStream,
    pub codec: Codec,
    split: FrameSplitter,
    buf: Vec<u8>,
    pub seq: u32,
    pub version: Version,
    pub id: String,
    key: LocalKey,
    /// The last negotiated session key.
    pub session_key: Option<tuya_proto::SessionKey>,
}

pub fn ip(a: u8, b: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, a, b)
}

/// A plug-like spec: DP 1 bool, DP 2 integer, DP 3 string.
pub fn spec(id: &str, version: Version, ip: Ipv4Addr) -> DeviceSpec {
    let mut s = DeviceSpec::new(id, KEY, version, ip);
    s.dps.insert(DpId(1), DpValue::Bool(false));
    s.dps.insert(DpId(2), DpValue::Integer(50));
    s.dps.insert(DpId(3), DpValue::String("white".into()));
    s
}

pub async fn start(specs: Vec<DeviceSpec>) -> Simulator {
    timeout(
        T,
        Simulator::start(
            specs,
            SimOptions {
                seed: 7,
                ..Default::default()
            },
        ),
    )
    .await
    .expect("start timed out")
    .expect("simulator starts")
}

pub fn dps(pairs: &[(u32, DpValue)]) -> Dps {
    pairs.iter().map(|(k, v)| (DpId(*k), v.clone())).collect()
}

impl Client {
    /// Connects without negotiating.
    pub async fn connect_raw(addr: SocketAddr, version: Version, key: &str, id: &str) -> Client {
        let stream = timeout(T, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        Client {
            stream,
            codec: Codec::with_entropy(
                version,
                LocalKey::new(key).unwrap(),
                Role::Client,
                test_rng(),
            ),
            split: FrameSplitter::new(),
            buf: vec![0; 4096],
            seq: 0,
            version,
            id: id.to_string(),
            key: LocalKey::new(key).unwrap(),
            session_key: None,
        }
    }

    /// Connects and, for 3.4/3.5, negotiates the session key.
    pub async fn connect(addr: SocketAddr, version: Version, key: &str, id: &str) -> Client {
        let mut c = Self::connect_raw(addr, version, key, id).await;
        if version.uses_session_key() {
            c.negotiate().await.expect("negotiation");
        }
        c
    }

    pub async fn negotiate(&mut self) -> Result<Message, String> {
        self.seq += 1;
        let mut hs = ClientHandshake::new(
            self.version,
            self.local_key(),
            *b"client-nonce-016",
            self.seq,
        )
        .map_err(|e| e.to_string())?;
        let start = hs.start();
        self.send_msg(&start).await;
        let resp = self.recv().await.map_err(|e| format!("{e:?}"))?;
        let (finish, sk) = hs.on_response(&resp).map_err(|e| e.to_string())?;
        self.seq += 1;
        self.send_msg(&finish).await;
        self.session_key = Some(sk);
        self.codec.set_session_key(sk);
        Ok(resp)
    }

    fn local_key(&self) -> LocalKey {
        self.key.clone()
    }

    pub async fn send_msg(&mut self, m: &Message) {
        let bytes = self.codec.encode(m).expect("encode");
        timeout(T, self.stream.write_all(&bytes))
            .await
            .expect("write timed out")
            .expect("write");
    }

    pub async fn send(&mut self, cmd: Command, body: Vec<u8>) -> u32 {
        self.seq += 1;
        let m = Message::request(self.version, self.seq, cmd, body);
        self.send_msg(&m).await;
        self.seq
    }

    pub async fn query(&mut self, cid: Option<&str>) -> u32 {
        let t = Target {
            version: self.version,
            dev_id: &self.id,
            cid,
            t: 1_700_000_000,
        };
        let (cmd, body) = payload::query(&t);
        self.send(cmd, body).await
    }

    pub async fn control(&mut self, cid: Option<&str>, d: &Dps) -> u32 {
        let t = Target {
            version: self.version,
            dev_id: &self.id,
            cid,
            t: 1_700_000_000,
        };
        let (cmd, body) = payload::control(&t, d);
        self.send(cmd, body).await
    }

    pub async fn heartbeat(&mut self) -> u32 {
        let t = Target {
            version: self.version,
            dev_id: &self.id,
            cid: None,
            t: 0,
        };
        let (cmd, body) = payload::heartbeat(&t);
        self.send(cmd, body).await
    }

    pub async fn recv_within(&mut self, d: Duration) -> Result<Message, RecvError> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            if let Some(f) = self.split.next_frame() {
                match f {
                    Ok(frame) => return self.codec.decode(&frame).map_err(RecvError::Decode),
                    Err(e) => return Err(RecvError::Decode(e)),
                }
            }
            match tokio::time::timeout_at(deadline, self.stream.read(&mut self.buf)).await {
                Err(_) => return Err(RecvError::Timeout),
                Ok(Ok(0)) | Ok(Err(_)) => return Err(RecvError::Closed),
                Ok(Ok(n)) => {
                    let b = self.buf[..n].to_vec();
                    self.split.feed(&b);
                }
            }
        }
    }

    pub async fn recv(&mut self) -> Result<Message, RecvError> {
        self.recv_within(T).await
    }

    /// Skipped bytes (garbage) seen by the splitter.
    pub fn skipped(&self) -> u64 {
        self.split.skipped()
    }

    /// Waits until the device closes the connection.
    pub async fn closed_within(&mut self, d: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut self.buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
            }
        }
    }
}

pub fn status_dps(m: &Message) -> Dps {
    payload::StatusUpdate::parse_bytes(&m.payload)
        .unwrap_or_else(|| {
            panic!(
                "not a status payload: {:?}",
                String::from_utf8_lossy(&m.payload)
            )
        })
        .dps
}

/// Waits until the device has registered a client (its accept loop runs concurrently with
/// our connect), so a "physical" change made next is pushed to it.
pub async fn wait_connected(dev: &tuya_sim::DeviceHandle) {
    for _ in 0..300 {
        if dev.is_connected() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("device {} never registered the client", dev.id());
}

/// Waits until the device has noticed that its client left.
pub async fn wait_disconnected(dev: &tuya_sim::DeviceHandle) {
    for _ in 0..300 {
        if !dev.is_connected() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("device {} kept a closed client", dev.id());
}

/// Shuts the simulator down, bounded.
pub async fn stop(sim: Simulator) {
    timeout(T, sim.shutdown())
        .await
        .expect("shutdown timed out");
}

/// A deterministic, per-codec-distinct entropy source for tests.
pub fn test_rng() -> rand::rngs::StdRng {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    rand::SeedableRng::seed_from_u64(N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}
