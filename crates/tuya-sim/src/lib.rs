//! # tuya-sim
//!
//! Simulated Tuya LAN devices of every protocol version (3.1–3.5), playing the device role of
//! [`tuya_proto`] over real TCP/UDP: status queries, control with ack and push, heartbeats,
//! DP refresh, 3.4/3.5 session negotiation, gateways with children, the device22 quirk,
//! discovery announcements and REQ_DEVINFO answers — plus real-firmware [`Quirks`], injected
//! [`Faults`] and the connection rules of Tuya's device SDK ([`Firmware`]), all changeable at
//! run time through a [`DeviceHandle`].
//!
//! Like real firmware, each device serves one TCP client at a time (up to 3 under
//! [`Firmware::strict`]), drops a client that sends no frame for longer than its heartbeat
//! timeout, and ignores frames it cannot authenticate (or closes the connection, under
//! [`Firmware::strict`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), tuya_sim::SimError> {
//! use tuya_sim::{DeviceSpec, SimOptions, Simulator};
//! use tuya_proto::{DpId, DpValue, Version};
//! let mut spec = DeviceSpec::new("bf00000000000000001", "0123456789abcdef", Version::V33,
//!     "127.0.1.1".parse().unwrap());
//! spec.dps.insert(DpId(1), DpValue::Bool(false));
//! let sim = Simulator::start(vec![spec], SimOptions::default()).await?;
//! let dev = sim.device("bf00000000000000001").unwrap();
//! dev.set_dp(DpId(1), DpValue::Bool(true)); // pushed to the connected client, if any
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The control channel used by `tuyactl sim` (commands on standard input) is in [`control`];
//! the `--config` file format is documented on [`load_config`].
#![warn(missing_docs)]

mod announce;
mod config;
mod conn;
pub mod control;
mod device;
mod rules;
mod spec;
mod traffic;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

pub use config::{devices_json, fleet_id, generate_fleet, load_config};
pub use device::DeviceHandle;
pub use spec::{
    ChildSpec, DeviceSpec, Faults, Firmware, MultiDp, Quirks, DEFAULT_HEARTBEAT_TIMEOUT,
    DEFAULT_PORT,
};
pub use traffic::{Direction, TrafficEvent, TrafficSink};

/// Errors starting or configuring the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A device could not listen on its address.
    #[error("device {id} cannot listen on {addr}: {source} (another process on that port? on non-Linux systems add the loopback alias first)")]
    Bind {
        /// Device id.
        id: String,
        /// Address tried.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The REQ_DEVINFO listener could not bind.
    #[error("cannot listen for REQ_DEVINFO on UDP {addr}: {source}")]
    Devinfo {
        /// Address tried.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A device spec is invalid.
    #[error("device {id}: {reason}")]
    Spec {
        /// Device id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// Two devices share an id or an address.
    #[error("duplicate device {0}")]
    Duplicate(String),
    /// The config file is not valid.
    #[error("config: {0}")]
    Config(String),
}

/// Simulator-wide options.
#[derive(Clone)]
pub struct SimOptions {
    /// Announce every device at this interval (None: never).
    pub announce_interval: Option<Duration>,
    /// Where announcements go (127.0.0.1 by default; a LAN broadcast only on explicit request).
    pub announce_target: IpAddr,
    /// Send announcements to this UDP port instead of 6666/6667 (tests).
    pub announce_port_override: Option<u16>,
    /// Listen here for REQ_DEVINFO datagrams (real devices: 0.0.0.0:7000); the devices whose
    /// firmware answers them (3.5 by default, see `Firmware::answers_devinfo`) answer.
    pub devinfo_listen: Option<SocketAddr>,
    /// Also listen on UDP `<device ip>:PORT` of every device whose firmware answers
    /// REQ_DEVINFO (real devices: 7000), and answer a unicast request there to the ip it names
    /// (the sender's own or loopback only), at the request's source port.
    pub devinfo_unicast_port: Option<u16>,
    /// Seed of the simulator's randomness (nonces, drop decisions); 0 = from the OS.
    pub seed: u64,
    /// Receives one event per frame received or sent (request/response log).
    pub traffic: Option<TrafficSink>,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            announce_interval: None,
            announce_target: IpAddr::V4(Ipv4Addr::LOCALHOST),
            announce_port_override: None,
            devinfo_listen: None,
            devinfo_unicast_port: None,
            seed: 0,
            traffic: None,
        }
    }
}

impl std::fmt::Debug for SimOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimOptions")
            .field("announce_interval", &self.announce_interval)
            .field("announce_target", &self.announce_target)
            .field("announce_port_override", &self.announce_port_override)
            .field("devinfo_listen", &self.devinfo_listen)
            .field("devinfo_unicast_port", &self.devinfo_unicast_port)
            .field("seed", &self.seed)
            .field("traffic", &self.traffic.is_some())
            .finish()
    }
}

/// A running set of simulated devices.
pub struct Simulator {
    devices: Vec<DeviceHandle>,
    by_id: std::collections::HashMap<String, usize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Simulator {
    /// Binds every device's listener (and the announcer / REQ_DEVINFO listener when configured)
    /// and starts serving. Fails if any address cannot be bound.
    pub async fn start(specs: Vec<DeviceSpec>, opts: SimOptions) -> Result<Simulator, SimError> {
        let seed = if opts.seed == 0 {
            rand::random::<u64>() | 1
        } else {
            opts.seed
        };
        let mut by_id = std::collections::HashMap::new();
        let mut addrs = std::collections::HashSet::new();
        for (i, s) in specs.iter().enumerate() {
            validate(s)?;
            if by_id.insert(s.id.clone(), i).is_some() {
                return Err(SimError::Duplicate(format!("id {}", s.id)));
            }
            if !addrs.insert((s.ip, s.port)) {
                return Err(SimError::Duplicate(format!("address {}:{}", s.ip, s.port)));
            }
        }
        let started = tokio::time::Instant::now();
        let mut devices = Vec::with_capacity(specs.len());
        let mut tasks = Vec::with_capacity(specs.len() + 2);
        // A failed start must not leave the devices already listening behind.
        let abort_all = |tasks: &[tokio::task::JoinHandle<()>], e: SimError| {
            tasks.iter().for_each(|t| t.abort());
            e
        };
        for (i, spec) in specs.into_iter().enumerate() {
            let dev_seed = seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(i as u64);
            let (handle, task) =
                match device::spawn(spec, dev_seed, started, opts.traffic.clone()).await {
                    Ok(x) => x,
                    Err(e) => return Err(abort_all(&tasks, e)),
                };
            devices.push(handle);
            tasks.push(task);
        }
        if let Some(interval) = opts.announce_interval {
            tasks.push(announce::spawn_announcer(devices.clone(), interval, &opts));
        }
        if let Some(addr) = opts.devinfo_listen {
            match announce::spawn_devinfo(devices.clone(), addr).await {
                Ok(t) => tasks.push(t),
                Err(e) => return Err(abort_all(&tasks, e)),
            }
        }
        if let Some(port) = opts.devinfo_unicast_port {
            match announce::spawn_devinfo_unicast(&devices, port).await {
                Ok(t) => tasks.extend(t),
                Err(e) => return Err(abort_all(&tasks, e)),
            }
        }
        Ok(Simulator {
            devices,
            by_id,
            tasks,
        })
    }

    /// The device with this id.
    pub fn device(&self, id: &str) -> Option<DeviceHandle> {
        self.by_id.get(id).map(|&i| self.devices[i].clone())
    }

    /// The device with this id or name.
    pub fn find(&self, id_or_name: &str) -> Option<DeviceHandle> {
        self.device(id_or_name).or_else(|| {
            self.devices
                .iter()
                .find(|d| d.name() == id_or_name)
                .cloned()
        })
    }

    /// Every device, in start order.
    pub fn devices(&self) -> Vec<DeviceHandle> {
        self.devices.clone()
    }

    /// Stops listening, closes every client connection and stops announcing.
    pub async fn shutdown(self) {
        for d in &self.devices {
            d.close_client();
        }
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

fn validate(s: &DeviceSpec) -> Result<(), SimError> {
    let bad = |reason: String| SimError::Spec {
        id: s.id.clone(),
        reason,
    };
    if s.id.is_empty() {
        return Err(SimError::Config("a device has an empty id".into()));
    }
    tuya_proto::LocalKey::new(&s.key).map_err(|e| bad(format!("local key: {e}")))?;
    if !(0.0..=1.0).contains(&s.faults.drop_ratio) {
        return Err(bad("drop_ratio must be between 0 and 1".into()));
    }
    if s.firmware.max_clients == 0 {
        return Err(bad("firmware max_clients must be at least 1".into()));
    }
    Ok(())
}

/// Raises the soft limit on open files to at least `want` (capped at the hard limit), so one
/// process can hold thousands of listeners. Returns the resulting soft limit.
// rlim_t is u64 on 64-bit Linux but not everywhere: keep the casts.
#[allow(clippy::unnecessary_cast)]
pub fn raise_fd_limit(want: u64) -> std::io::Result<u64> {
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if (r.rlim_cur as u64) >= want {
            return Ok(r.rlim_cur as u64);
        }
        r.rlim_cur = (want as libc::rlim_t).min(r.rlim_max);
        if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(r.rlim_cur as u64)
    }
}

/// This process's resident memory in KiB (`VmRSS` of `/proc/self/status`; 0 where there is
/// none), for the memory figures of the benchmarks and examples.
pub fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
