//! `tuyactl scan`: find devices by their announcements (and the 3.5 REQ_DEVINFO probe), or by
//! a force scan of an address range; optionally merge what was found into devices.json.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::json;
use tuya_local::discovery::{Listener, ListenerConfig};
use tuya_local::merge::{self, Finding};
use tuya_local::scan::{self, HostState, KnownDevice, ScanConfig};
use tuya_local::DevicesFile;
use tuya_proto::{LocalKey, Version};

/// Arguments of `tuyactl scan`.
#[derive(clap::Args)]
pub struct Args {
    /// Seconds to listen for announcements.
    #[arg(long, default_value = "18", value_parser = crate::seconds::parse)]
    pub timeout: Duration,
    /// Machine-readable output: one JSON object per device, then a summary object.
    #[arg(long)]
    pub json: bool,
    /// devices.json with names and keys (tinytuya's format).
    #[arg(long, default_value = "devices.json")]
    pub devices: PathBuf,
    /// Write what was found (ip, version, product key) into devices.json.
    #[arg(long)]
    pub update: bool,
    /// Force scan: connect to TCP 6668 across this range (e.g. 127.0.1.0/24; at most a /16).
    #[arg(long)]
    pub subnet: Option<String>,
    /// Hosts probed at once during a force scan.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
    /// TCP port of the devices.
    #[arg(long, default_value_t = 6668)]
    pub port: u16,
    /// Milliseconds to wait for a TCP connect and for each probe's answer.
    #[arg(long, default_value_t = 1500)]
    pub probe_timeout: u64,
    /// Address to listen on for announcements.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// UDP ports to listen on.
    #[arg(long, value_delimiter = ',', default_value = "6666,6667,7000")]
    pub ports: Vec<u16>,
    /// Where to send the REQ_DEVINFO probe that wakes 3.5 devices (default: the LAN broadcast
    /// address, port 7000).
    #[arg(long)]
    pub probe_target: Option<SocketAddr>,
    /// Do not send the REQ_DEVINFO probe (with --subnet: skip the unicast REQ_DEVINFO pass).
    #[arg(long)]
    pub no_probe: bool,
    /// With --subnet: the UDP port of the unicast REQ_DEVINFO pass (devices listen on 7000).
    #[arg(long, default_value_t = tuya_proto::discovery::PORT_DEVINFO)]
    pub devinfo_port: u16,
}

/// One row of the report.
#[derive(Debug, Clone)]
struct Row {
    name: Option<String>,
    id: String,
    ip: Option<IpAddr>,
    version: Option<Version>,
    product_key: Option<String>,
    key_known: bool,
    heard: bool,
    /// How it was found: "announcement", "devinfo" (unicast REQ_DEVINFO) or "tcp" (force scan).
    via: &'static str,
}

fn load_devices(path: &std::path::Path) -> anyhow::Result<DevicesFile> {
    if !path.exists() {
        return Ok(DevicesFile::default());
    }
    crate::keyarg::warn_if_shared(path);
    DevicesFile::load(path).with_context(|| format!("reading {}", path.display()))
}

fn known_devices(file: &DevicesFile) -> Vec<KnownDevice> {
    file.entries
        .iter()
        .filter(|e| !e.is_sub())
        .filter_map(|e| {
            let key = LocalKey::new(e.key.as_deref()?).ok()?;
            Some(KnownDevice {
                id: e.id.clone(),
                key,
                name: e.name.clone(),
                ip: e.ip(),
                version: e.version(),
            })
        })
        .collect()
}

/// Runs `tuyactl scan`.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run_async(a))
}

async fn run_async(a: Args) -> anyhow::Result<ExitCode> {
    let mut devices = load_devices(&a.devices)?;
    let known = known_devices(&devices);
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut absent = 0usize;
    let mut unidentified: Vec<(IpAddr, &'static str)> = Vec::new();

    if let Some(subnet) = &a.subnet {
        let hosts: Vec<IpAddr> = scan::parse_cidr(subnet)
            .map_err(anyhow::Error::msg)?
            .into_iter()
            .map(IpAddr::V4)
            .collect();
        if known.is_empty() {
            bail!(
                "a force scan identifies devices with their keys, and {} lists none",
                a.devices.display()
            );
        }
        let cfg = ScanConfig {
            port: a.port,
            concurrency: a.concurrency,
            connect_timeout: Duration::from_millis(a.probe_timeout),
            probe_timeout: Duration::from_millis(a.probe_timeout),
            devinfo_port: (!a.no_probe).then_some(a.devinfo_port),
            // Answers come to the IP we name, on the port we send from.
            devinfo_bind: Some(SocketAddr::new(a.bind, a.devinfo_port)),
            devinfo_wait: Duration::from_millis(a.probe_timeout),
            ..ScanConfig::default()
        };
        let bar = (std::io::stderr().is_terminal() && !a.json).then(|| {
            let b = indicatif::ProgressBar::new(hosts.len() as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} scanning {pos}/{len} hosts [{bar:40}] {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        });
        let b2 = bar.clone();
        let reports = scan::scan(hosts, known.clone(), cfg, move |done, _| {
            if let Some(b) = &b2 {
                b.set_position(done as u64);
            }
        })
        .await;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        for r in reports {
            match r.state {
                HostState::Absent => absent += 1,
                HostState::Busy => unidentified.push((
                    r.ip,
                    "busy (another client holds it, or local control is off)",
                )),
                HostState::Unidentified => {
                    unidentified.push((r.ip, "answers, but to none of the keys in devices.json"))
                }
                HostState::Unfinished => {
                    unidentified.push((r.ip, "not finished: the scan's time ran out"))
                }
                HostState::Identified {
                    id,
                    name,
                    version,
                    via,
                } => {
                    rows.insert(
                        id.clone(),
                        Row {
                            name,
                            id,
                            ip: Some(r.ip),
                            version: Some(version),
                            product_key: None,
                            key_known: true,
                            heard: true,
                            via: match via {
                                scan::Via::Devinfo => "devinfo",
                                scan::Via::Tcp => "tcp",
                            },
                        },
                    );
                }
            }
        }
    } else {
        let mut cfg = ListenerConfig::on(a.bind, a.ports.clone());
        if !a.no_probe {
            let target = a.probe_target.unwrap_or(SocketAddr::from((
                Ipv4Addr::BROADCAST,
                tuya_proto::discovery::PORT_DEVINFO,
            )));
            cfg = cfg.probe(target, Duration::from_secs(3));
        }
        let listener = Listener::bind(cfg).await?;
        if !a.json {
            eprintln!("listening for {:.0} s …", a.timeout.as_secs_f64());
        }
        for d in listener.collect_for(a.timeout).await {
            let k = known.iter().find(|k| k.id == d.id);
            rows.insert(
                d.id.clone(),
                Row {
                    name: k.and_then(|k| k.name.clone()),
                    id: d.id.clone(),
                    ip: Some(d.ip),
                    version: d.version,
                    product_key: d.product_key.clone(),
                    key_known: k.is_some(),
                    heard: true,
                    via: "announcement",
                },
            );
        }
    }
    for k in &known {
        rows.entry(k.id.clone()).or_insert_with(|| Row {
            name: k.name.clone(),
            id: k.id.clone(),
            ip: k.ip,
            version: k.version,
            product_key: None,
            key_known: true,
            heard: false,
            via: "",
        });
    }
    let heard = rows.values().filter(|r| r.heard).count();
    let not_heard = rows.values().filter(|r| !r.heard).count();
    if a.json {
        for r in rows.values() {
            println!(
                "{}",
                json!({"name": r.name, "id": r.id, "ip": r.ip.map(|i| i.to_string()), "version": r.version.map(|v| v.as_str()),
                       "product_key": r.product_key, "key_known": r.key_known, "found": r.heard,
                       "via": (!r.via.is_empty()).then_some(r.via)})
            );
        }
        for (ip, why) in &unidentified {
            println!(
                "{}",
                json!({"ip": ip.to_string(), "found": true, "identified": false, "why": why})
            );
        }
        println!(
            "{}",
            json!({"summary": {"found": heard, "not_found": not_heard, "unidentified": unidentified.len(), "absent_hosts": absent}})
        );
    } else {
        let mut ordered: Vec<&Row> = rows.values().collect();
        ordered.sort_by_key(|r| (!r.heard, r.ip, r.id.clone()));
        println!(
            "{:<24} {:<24} {:<16} {:<7} {:<18} {:<4} STATUS",
            "NAME", "ID", "IP", "VERSION", "PRODUCT KEY", "KEY"
        );
        for r in ordered {
            println!(
                "{:<24} {:<24} {:<16} {:<7} {:<18} {:<4} {}",
                r.name.as_deref().unwrap_or("-"),
                r.id,
                r.ip.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
                r.version.map(|v| v.as_str()).unwrap_or("?"),
                r.product_key.as_deref().unwrap_or("-"),
                if r.key_known { "yes" } else { "no" },
                if r.heard { "found" } else { "not heard" },
            );
        }
        for (ip, why) in &unidentified {
            println!("{:<24} {:<24} {:<16} {why}", "?", "?", ip);
        }
        println!(
            "{heard} found, {not_heard} in devices.json not heard{}",
            if a.subnet.is_some() {
                format!(
                    ", {absent} hosts absent, {} unidentified",
                    unidentified.len()
                )
            } else {
                String::new()
            }
        );
    }
    if a.update {
        let findings: Vec<Finding> = rows
            .values()
            .filter(|r| r.heard)
            .filter_map(|r| {
                Some(Finding {
                    id: r.id.clone(),
                    ip: r.ip?,
                    version: r.version,
                    product_key: r.product_key.clone(),
                })
            })
            .collect();
        let s = devices.merge_findings(&findings);
        let backup = merge::write_devices_file(&a.devices, &devices)
            .with_context(|| format!("writing {}", a.devices.display()))?;
        eprintln!(
            "{}: {} updated, {} unchanged, {} not listed (no key; not added){}",
            a.devices.display(),
            s.updated.len(),
            s.unchanged.len(),
            s.unknown.len(),
            backup
                .map(|b| format!("; previous file kept as {}", b.display()))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
