//! The force scan: find devices that do not broadcast (or sit on another VLAN) by connecting to
//! TCP 6668 across an address range, then identify each open host with the keys the user has.
//!
//! Identification costs one round trip per protocol version, not one per key: the probe frames
//! for every candidate key are sent together, a device answers only the one sealed with its own
//! key, and the answer is matched to its key offline (HMAC, GCM tag or decryption).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tuya_proto::frame::FrameSplitter;
use tuya_proto::payload::{self, StatusUpdate, Target};
use tuya_proto::{Codec, Command, LocalKey, Message, Role, Version};

/// Largest range a scan accepts (a /16).
pub const MAX_HOSTS: usize = 65_536;

/// Parses `a.b.c.d/n` (or a single address) into the host addresses it covers. The network
/// and broadcast addresses of ranges larger than /31 are left out; ranges above /16 are refused.
///
/// ```
/// let hosts = tuya_local::scan::parse_cidr("127.0.1.0/30").unwrap();
/// assert_eq!(hosts, vec!["127.0.1.1".parse::<std::net::Ipv4Addr>().unwrap(), "127.0.1.2".parse().unwrap()]);
/// ```
pub fn parse_cidr(s: &str) -> Result<Vec<Ipv4Addr>, String> {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (
            a,
            b.parse::<u32>()
                .map_err(|_| format!("bad prefix length in {s:?}"))?,
        ),
        None => (s, 32),
    };
    let ip: Ipv4Addr = addr
        .trim()
        .parse()
        .map_err(|_| format!("bad IPv4 address in {s:?}"))?;
    if bits > 32 {
        return Err(format!("bad prefix length in {s:?}"));
    }
    if bits < 16 {
        return Err(format!(
            "{s}: ranges larger than a /16 (65,536 hosts) are refused"
        ));
    }
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    let net = u32::from(ip) & mask;
    let size = 1u64 << (32 - bits);
    let (first, last) = if size > 2 {
        (net as u64 + 1, net as u64 + size - 2)
    } else {
        (net as u64, net as u64 + size - 1)
    };
    Ok((first..=last).map(|n| Ipv4Addr::from(n as u32)).collect())
}

/// A device the user holds a key for (from devices.json).
#[derive(Debug, Clone)]
pub struct KnownDevice {
    /// Device id.
    pub id: String,
    /// Local key.
    pub key: LocalKey,
    /// Name, for reports.
    pub name: Option<String>,
    /// Last known address, tried first on that host.
    pub ip: Option<IpAddr>,
    /// Last known version, tried first.
    pub version: Option<Version>,
}

/// Scan settings.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// TCP port (6668).
    pub port: u16,
    /// Hosts probed at once.
    pub concurrency: usize,
    /// Per-host connect timeout (a silent host counts as absent).
    pub connect_timeout: Duration,
    /// How long to wait for an answer to one batch of probes.
    pub probe_timeout: Duration,
    /// Most candidate keys sent in one batch.
    pub batch: usize,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            port: 6668,
            concurrency: 128,
            connect_timeout: Duration::from_millis(1500),
            probe_timeout: Duration::from_millis(1500),
            batch: 128,
        }
    }
}

/// What a host turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum HostState {
    /// Nothing accepts connections on the port.
    Absent,
    /// Accepts connections but closes them at once: another client holds it, or local control
    /// is disabled on this model.
    Busy,
    /// A device answered, but to none of the keys we hold.
    Unidentified,
    /// A device answered to the key of a known device.
    Identified {
        /// Its id.
        id: String,
        /// Its name, when known.
        name: Option<String>,
        /// The version it answered.
        version: Version,
    },
}

/// One host's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct HostReport {
    /// Address scanned.
    pub ip: IpAddr,
    /// What was found.
    pub state: HostState,
    /// Time spent on the host.
    pub elapsed: Duration,
}

/// Scans `hosts`, calling `progress(done, total)` after each host. Results are sorted by address.
pub async fn scan(
    hosts: Vec<IpAddr>,
    known: Vec<KnownDevice>,
    cfg: ScanConfig,
    progress: impl Fn(usize, usize) + Send + Sync + 'static,
) -> Vec<HostReport> {
    let total = hosts.len().min(MAX_HOSTS);
    let sem = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let known = Arc::new(known);
    let done = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(progress);
    let mut set = tokio::task::JoinSet::new();
    for ip in hosts.into_iter().take(MAX_HOSTS) {
        let (sem, known, cfg, done, progress) = (
            sem.clone(),
            known.clone(),
            cfg.clone(),
            done.clone(),
            progress.clone(),
        );
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let r = probe_host(ip, &known, &cfg).await;
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            progress(n, total);
            r
        });
    }
    let mut out = Vec::with_capacity(total);
    while let Some(r) = set.join_next().await {
        if let Ok(r) = r {
            out.push(r);
        }
    }
    out.sort_by_key(|r| r.ip);
    out
}

/// Identifies one host.
pub async fn probe_host(ip: IpAddr, known: &[KnownDevice], cfg: &ScanConfig) -> HostReport {
    let start = Instant::now();
    let addr = SocketAddr::new(ip, cfg.port);
    let report = |state| HostReport {
        ip,
        state,
        elapsed: start.elapsed(),
    };
    let Some(first) = connect(addr, cfg).await else {
        return report(HostState::Absent);
    };
    // The keys of devices last seen at this address go first, in a batch of their own.
    let (here, elsewhere): (Vec<&KnownDevice>, Vec<&KnownDevice>) =
        known.iter().partition(|k| k.ip == Some(ip));
    let mut order: Vec<Version> = here.iter().filter_map(|k| k.version).collect();
    for v in [Version::V35, Version::V34, Version::V33, Version::V31] {
        if !order.contains(&v) {
            order.push(v);
        }
    }
    let mut stream = Some(first);
    let mut closed_at_once = 0;
    for group in [here, elsewhere] {
        if group.is_empty() {
            continue;
        }
        for &v in &order {
            for chunk in group.chunks(cfg.batch.max(1)) {
                let s = match stream.take() {
                    Some(s) => s,
                    None => match connect(addr, cfg).await {
                        Some(s) => s,
                        None => return report(HostState::Absent),
                    },
                };
                match probe_batch(s, v, chunk, cfg).await {
                    Probe::Found(k) => {
                        return report(HostState::Identified {
                            id: k.id.clone(),
                            name: k.name.clone(),
                            version: v,
                        });
                    }
                    Probe::Silent(s) => stream = Some(s),
                    Probe::Device22(s) => {
                        // The device decrypted one of our queries but wants its DPs named:
                        // find which key with one named query per candidate.
                        let (found, s) = probe_device22(s, chunk, cfg).await;
                        if let Some(k) = found {
                            return report(HostState::Identified {
                                id: k.id.clone(),
                                name: k.name.clone(),
                                version: v,
                            });
                        }
                        stream = s;
                    }
                    Probe::Closed { immediately } => closed_at_once += immediately as usize,
                }
            }
        }
    }
    if closed_at_once > 0 && stream.is_none() {
        return report(HostState::Busy);
    }
    report(HostState::Unidentified)
}

async fn connect(addr: SocketAddr, cfg: &ScanConfig) -> Option<TcpStream> {
    match tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Some(s)
        }
        _ => None,
    }
}

enum Probe<'a> {
    Found(&'a KnownDevice),
    Device22(TcpStream),
    Silent(TcpStream),
    Closed { immediately: bool },
}

/// The frame that makes a device of version `v` answer, sealed with `k`'s key.
fn probe_frame(v: Version, k: &KnownDevice, seq: u32) -> Option<Vec<u8>> {
    let mut codec = Codec::with_entropy(v, k.key.clone(), Role::Client, rand::rngs::OsRng);
    let msg = if v.uses_session_key() {
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&rand::random::<[u8; 16]>());
        Message::request(v, seq, Command::SessKeyNegStart, nonce.to_vec())
    } else {
        let t = Target {
            version: v,
            dev_id: &k.id,
            cid: None,
            t: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        let (cmd, body) = payload::query(&t);
        Message::request(v, seq, cmd, body)
    };
    codec.encode(&msg).ok()
}

/// Which candidate, if any, sealed or is named by this reply.
fn match_reply<'a>(v: Version, frame: &[u8], group: &[&'a KnownDevice]) -> Option<&'a KnownDevice> {
    for k in group {
        let codec = Codec::new(v, k.key.clone(), Role::Client);
        let Ok(m) = codec.decode(frame) else { continue };
        let ok = match v {
            // The negotiation reply verifies under the device's own key (HMAC or GCM tag).
            Version::V34 | Version::V35 => m.cmd == Command::SessKeyNegResp,
            // Plaintext 3.1 replies name the device; encrypted ones decrypt only under its key.
            _ if m.plaintext => StatusUpdate::parse_bytes(&m.payload)
                .and_then(|s| s.dev_id)
                .is_some_and(|id| id == k.id),
            _ => m.json().is_some(),
        };
        if ok {
            return Some(k);
        }
    }
    None
}

async fn probe_batch<'a>(
    mut s: TcpStream,
    v: Version,
    group: &[&'a KnownDevice],
    cfg: &ScanConfig,
) -> Probe<'a> {
    let mut out = Vec::new();
    for (i, k) in group.iter().enumerate() {
        if let Some(f) = probe_frame(v, k, i as u32 + 1) {
            out.extend(f);
        }
    }
    let sent = Instant::now();
    if s.write_all(&out).await.is_err() {
        return Probe::Closed { immediately: true };
    }
    let mut split = FrameSplitter::new();
    let mut buf = [0u8; 2048];
    let deadline = tokio::time::Instant::now() + cfg.probe_timeout;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return Probe::Silent(s),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Probe::Closed {
                    immediately: sent.elapsed() < Duration::from_millis(50),
                }
            }
            Ok(Ok(n)) => {
                split.feed(&buf[..n]);
                while let Some(f) = split.next_frame() {
                    let Ok(f) = f else { continue };
                    if let Some(k) = match_reply(v, &f, group) {
                        return Probe::Found(k);
                    }
                    if v == Version::V33 && is_device22_error(&f) {
                        return Probe::Device22(s);
                    }
                }
            }
        }
    }
}

/// The plaintext error a device22 device answers a plain DP_QUERY with.
fn is_device22_error(frame: &[u8]) -> bool {
    let c = Codec::new(
        Version::V33,
        LocalKey::from_bytes(&[0; 16]).expect("16 bytes"),
        Role::Client,
    );
    c.decode(frame).is_ok_and(|m| {
        m.plaintext && m.retcode.is_some_and(|r| r != 0) && m.payload.ends_with(b"data unvalid")
    })
}

/// One device22 query (DP 1 named) per candidate, each waited for in turn.
async fn probe_device22<'a>(
    mut s: TcpStream,
    group: &[&'a KnownDevice],
    cfg: &ScanConfig,
) -> (Option<&'a KnownDevice>, Option<TcpStream>) {
    for (i, k) in group.iter().enumerate() {
        let t = Target {
            version: Version::V33,
            dev_id: &k.id,
            cid: None,
            t: 0,
        };
        let (cmd, body) = payload::query_device22(&t, &[tuya_proto::DpId(1)]);
        let mut codec = Codec::new(Version::V33, k.key.clone(), Role::Client);
        let Ok(f) = codec.encode(&Message::request(Version::V33, 100 + i as u32, cmd, body)) else {
            continue;
        };
        if s.write_all(&f).await.is_err() {
            return (None, None);
        }
        let mut split = FrameSplitter::new();
        let mut buf = [0u8; 2048];
        let deadline = tokio::time::Instant::now() + cfg.probe_timeout;
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            if n == 0 {
                return (None, None);
            }
            split.feed(&buf[..n]);
            while let Some(Ok(f)) = split.next_frame() {
                // Devices ignore frames sealed with another key, so any answer to this one
                // (its acknowledgement, or the push of the named DP) identifies the key.
                let seq = 100 + i as u32;
                if codec.decode(&f).is_ok_and(|m| {
                    (m.cmd == cmd && m.seq == seq && m.retcode == Some(0))
                        || (!m.plaintext && m.json().is_some())
                }) {
                    return (Some(k), None);
                }
            }
        }
    }
    (None, Some(s))
}
