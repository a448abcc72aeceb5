//! The force scan: find devices that do not broadcast (or sit on another VLAN) across an
//! address range, and identify each with the keys the user has.
//!
//! First a unicast REQ_DEVINFO datagram to every host (cheap, and it crosses routed VLANs that
//! broadcasts do not): devices listening on UDP 7000 answer with their announcement. Then TCP
//! 6668 for the rest. Identification costs one round trip per protocol version, not one per
//! key: the probe frames for every candidate key are sent together, a device answers only the
//! one sealed with its own key, and the answer is matched to its key offline (HMAC, GCM tag or
//! decryption). Firmware that closes the connection at the first frame it cannot read cuts a
//! batch short: it is retried without its first key on fresh connections until each key had a
//! probe of its own (bounded per host: devices wear out after a few thousand connections).

mod devinfo;
mod probe;

pub use probe::probe_host;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tuya_proto::{LocalKey, Version};

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
    /// TCP connections one host may cost (batches split for devices that close on a frame
    /// they cannot read); keys not probed by then are reported as untried.
    pub max_connections_per_host: usize,
    /// Timeout of any one write to a host (a host that accepts and never reads).
    pub write_timeout: Duration,
    /// The whole scan gives up after this long; hosts not finished are reported `Unfinished`.
    pub total_timeout: Duration,
    /// UDP port of the unicast REQ_DEVINFO first pass (7000); `None` skips it.
    pub devinfo_port: Option<u16>,
    /// Where our REQ_DEVINFO socket listens for answers (`None`: every interface, port 7000,
    /// where real devices send them).
    pub devinfo_bind: Option<std::net::SocketAddr>,
    /// How long to collect REQ_DEVINFO answers.
    pub devinfo_wait: Duration,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            port: 6668,
            concurrency: 128,
            connect_timeout: Duration::from_millis(1500),
            probe_timeout: Duration::from_millis(1500),
            batch: 128,
            max_connections_per_host: 256,
            write_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(600),
            devinfo_port: Some(tuya_proto::discovery::PORT_DEVINFO),
            devinfo_bind: None,
            devinfo_wait: Duration::from_millis(1500),
        }
    }
}

/// What a host turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum HostState {
    /// Nothing accepts connections on the port.
    Absent,
    /// Accepts connections but closes them before reading anything: another client holds it,
    /// or local control is disabled on this model.
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
        /// How it was found.
        via: Via,
    },
    /// The scan's time ran out before this host was finished.
    Unfinished,
}

/// How a host was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// It answered the unicast REQ_DEVINFO datagram with its id.
    Devinfo,
    /// It answered a TCP probe sealed with its key.
    Tcp,
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
    let hosts: Vec<IpAddr> = hosts.into_iter().take(MAX_HOSTS).collect();
    let total = hosts.len();
    let started = std::time::Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(progress);
    let mut out: HashMap<IpAddr, HostReport> = HashMap::with_capacity(total);

    // First pass: devices that answer REQ_DEVINFO need no TCP connection at all.
    let heard = match cfg.devinfo_port {
        Some(port) => devinfo::ask(&hosts, port, &cfg).await,
        None => HashMap::new(),
    };
    for (ip, ann) in &heard {
        let found = known.iter().find(|k| k.id == ann.gw_id);
        let state = match found {
            Some(k) => HostState::Identified {
                id: k.id.clone(),
                name: k.name.clone(),
                version: ann.protocol_version().unwrap_or(Version::V35),
                via: Via::Devinfo,
            },
            // A Tuya device whose key we do not hold: no TCP probe can identify it.
            None => HostState::Unidentified,
        };
        out.insert(
            *ip,
            HostReport {
                ip: *ip,
                state,
                elapsed: started.elapsed(),
            },
        );
        progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
    }

    let sem = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let known = Arc::new(known);
    let mut set = tokio::task::JoinSet::new();
    for ip in hosts.iter().copied().filter(|ip| !heard.contains_key(ip)) {
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
    let deadline = tokio::time::Instant::from_std(started) + cfg.total_timeout;
    loop {
        match tokio::time::timeout_at(deadline, set.join_next()).await {
            Ok(Some(Ok(r))) => {
                out.insert(r.ip, r);
            }
            Ok(Some(Err(_))) => {}
            Ok(None) => break,
            Err(_) => {
                set.abort_all();
                break;
            }
        }
    }
    let mut reports: Vec<HostReport> = hosts
        .iter()
        .map(|ip| {
            out.remove(ip).unwrap_or(HostReport {
                ip: *ip,
                state: HostState::Unfinished,
                elapsed: started.elapsed(),
            })
        })
        .collect();
    reports.sort_by_key(|r| r.ip);
    reports
}
