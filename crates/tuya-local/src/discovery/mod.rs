//! Discovery: listening for device announcements (UDP 6666 plain, 6667 encrypted, 7000 replies
//! to REQ_DEVINFO) and asking 3.5 devices, which may stay silent until asked, to announce.
//!
//! Announcements are de-duplicated per device id, with first/last seen times. Anyone on the
//! LAN can announce any id, so the table is bounded ([`ListenerConfig::max_devices`]) and a
//! device not heard for [`ListenerConfig::ttl`] is forgotten (heard again, it is
//! [`DiscoveryEvent::New`] again). When the table is full, a new id evicts the stalest entry
//! heard only once, before any entry heard more often: a flood of spoofed ids cycles through
//! its own entries while devices that keep announcing keep theirs. A socket that keeps failing
//! is retried with capped exponential backoff ([`RECV_BACKOFF_MIN`] to [`RECV_BACKOFF_MAX`]).

mod recv;
mod table;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tuya_proto::discovery::{self as proto, Announcement, DatagramKind};
use tuya_proto::Version;

pub use recv::{RECV_BACKOFF_MAX, RECV_BACKOFF_MIN};
use table::Table;

/// Most devices a listener remembers by default ([`ListenerConfig::max_devices`]).
pub const MAX_DEVICES: usize = 65_536;
/// How long a device stays listed after it was last heard, by default
/// ([`ListenerConfig::ttl`]): real devices announce every 5 to 10 seconds while no client is
/// connected, and stop while one is.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Address to bind (0.0.0.0 on a real LAN, a loopback address in tests).
    pub bind: IpAddr,
    /// UDP ports to listen on (6666, 6667, 7000 on a real LAN).
    pub ports: Vec<u16>,
    /// Where to send REQ_DEVINFO requests (the LAN broadcast address and port 7000 in real
    /// use); `None` sends none.
    pub devinfo_target: Option<SocketAddr>,
    /// How often to repeat the request.
    pub devinfo_interval: Duration,
    /// The address put in the request's `ip` field (ours).
    pub reply_ip: Ipv4Addr,
    /// Most devices remembered (see the module documentation for which one a new id evicts).
    pub max_devices: usize,
    /// A device not heard for this long is forgotten.
    pub ttl: Duration,
}

impl ListenerConfig {
    /// Real-LAN settings: every interface, ports 6666/6667/7000, REQ_DEVINFO broadcast to
    /// 255.255.255.255:7000 every 5 s. Never used by tests.
    pub fn lan() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ports: vec![
                proto::PORT_PLAIN,
                proto::PORT_ENCRYPTED,
                proto::PORT_DEVINFO,
            ],
            devinfo_target: Some(SocketAddr::from((Ipv4Addr::BROADCAST, proto::PORT_DEVINFO))),
            devinfo_interval: Duration::from_secs(5),
            reply_ip: Ipv4Addr::UNSPECIFIED,
            max_devices: MAX_DEVICES,
            ttl: DEFAULT_TTL,
        }
    }

    /// Listen on `bind` with the given ports and no REQ_DEVINFO probe (add one with
    /// [`ListenerConfig::probe`]).
    pub fn on(bind: IpAddr, ports: Vec<u16>) -> Self {
        Self {
            bind,
            ports,
            devinfo_target: None,
            devinfo_interval: Duration::from_secs(5),
            reply_ip: match bind {
                IpAddr::V4(v4) => v4,
                IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
            },
            max_devices: MAX_DEVICES,
            ttl: DEFAULT_TTL,
        }
    }

    /// Sends REQ_DEVINFO to `target` every `interval`.
    pub fn probe(mut self, target: SocketAddr, interval: Duration) -> Self {
        self.devinfo_target = Some(target);
        self.devinfo_interval = interval;
        self
    }
}

/// A device heard on the network.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovered {
    /// Device id (`gwId`).
    pub id: String,
    /// The device's address: the announced `ip`, or the datagram's source when that is missing.
    pub ip: IpAddr,
    /// Where the datagram came from.
    pub source: SocketAddr,
    /// Announced protocol version, when known.
    pub version: Option<Version>,
    /// Announced product key.
    pub product_key: Option<String>,
    /// How the announcement was wrapped.
    pub kind: DatagramKind,
    /// The whole announcement, unknown fields included.
    pub announcement: Announcement,
    /// When first heard (on tokio's clock, so paused time in tests moves it too).
    pub first_seen: Instant,
    /// When last heard.
    pub last_seen: Instant,
    /// How many announcements were heard.
    pub seen: u64,
}

/// What the listener reports.
#[derive(Debug, Clone, PartialEq)]
pub enum DiscoveryEvent {
    /// A device heard for the first time (or again after it expired).
    New(Discovered),
    /// A known device now announces a different address or version.
    Changed(Discovered),
}

impl DiscoveryEvent {
    /// The device concerned.
    pub fn device(&self) -> &Discovered {
        match self {
            Self::New(d) | Self::Changed(d) => d,
        }
    }
}

/// Listens for announcements on several ports; a stream of de-duplicated [`DiscoveryEvent`]s.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// use tuya_local::discovery::{Listener, ListenerConfig};
/// let mut l = Listener::bind(ListenerConfig::lan()).await?;
/// while let Some(ev) = l.next().await {
///     println!("{} at {}", ev.device().id, ev.device().ip);
/// }
/// # Ok(()) }
/// ```
pub struct Listener {
    rx: mpsc::Receiver<DiscoveryEvent>,
    seen: recv::Shared,
    tasks: Vec<JoinHandle<()>>,
    addrs: Vec<SocketAddr>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub(crate) fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Other tools (and the simulator's REQ_DEVINFO listener) may hold the same well-known ports.
    s.set_reuse_address(true)?;
    #[cfg(unix)]
    s.set_reuse_port(true)?;
    s.set_broadcast(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into()).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen for discovery on UDP {addr}: {e}"),
        )
    })?;
    UdpSocket::from_std(s.into())
}

impl Listener {
    /// Binds every port and starts listening (and probing, when configured).
    pub async fn bind(cfg: ListenerConfig) -> io::Result<Self> {
        let (tx, rx) = mpsc::channel(1024);
        let seen: recv::Shared = Arc::new(Mutex::new(Table::new(cfg.max_devices, cfg.ttl)));
        let mut tasks = Vec::new();
        let mut addrs = Vec::new();
        let mut sockets = Vec::new();
        for &port in &cfg.ports {
            let sock = Arc::new(bind_udp(SocketAddr::new(cfg.bind, port))?);
            addrs.push(sock.local_addr()?);
            sockets.push(sock);
        }
        if let Some(target) = cfg.devinfo_target {
            // Sent from a socket of its own, which also hears devices that answer the sender
            // directly; devices that broadcast their answer reach the port listeners.
            let sock = Arc::new(bind_udp(SocketAddr::new(cfg.bind, 0))?);
            sockets.push(sock.clone());
            let reply_ip = cfg.reply_ip.to_string();
            let interval = cfg.devinfo_interval.max(Duration::from_millis(50));
            tasks.push(tokio::spawn(async move {
                let mut n: u64 = 0;
                loop {
                    let mut iv = [0u8; 12];
                    iv[..4].copy_from_slice(&rand::random::<[u8; 4]>());
                    iv[4..].copy_from_slice(&n.to_be_bytes());
                    n += 1;
                    let req = proto::encode_devinfo_request(&reply_ip, iv);
                    if let Err(e) = sock.send_to(&req, target).await {
                        tracing::debug!("REQ_DEVINFO to {target}: {e}");
                    }
                    tokio::time::sleep(interval).await;
                }
            }));
        }
        for sock in sockets {
            let name = sock
                .local_addr()
                .map_or_else(|_| "a discovery socket".into(), |a| a.to_string());
            tasks.push(tokio::spawn(recv::run(
                sock,
                name,
                seen.clone(),
                tx.clone(),
            )));
        }
        Ok(Self {
            rx,
            seen,
            tasks,
            addrs,
        })
    }

    /// The bound addresses (useful when binding port 0 in tests).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The next new or changed device.
    pub async fn next(&mut self) -> Option<DiscoveryEvent> {
        self.rx.recv().await
    }

    /// Every device heard within the TTL, by address then id.
    pub fn devices(&self) -> Vec<Discovered> {
        let now = tokio::time::Instant::now().into_std();
        self.seen
            .lock()
            .map(|mut t| t.devices(now))
            .unwrap_or_default()
    }

    /// Listens for `d`, then returns every device heard.
    pub async fn collect_for(mut self, d: Duration) -> Vec<Discovered> {
        let deadline = tokio::time::Instant::now() + d;
        while tokio::time::timeout_at(deadline, self.rx.recv())
            .await
            .is_ok_and(|e| e.is_some())
        {}
        self.devices()
    }
}

impl tokio_stream::Stream for Listener {
    type Item = DiscoveryEvent;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<DiscoveryEvent>> {
        self.rx.poll_recv(cx)
    }
}
