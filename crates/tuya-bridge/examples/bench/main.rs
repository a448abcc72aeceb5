//! Benchmark of `tuyactl bridge` as a separate process against a real broker and a simulated
//! fleet (`bench/bridge.sh` starts Mosquitto and `tuyactl sim`, then runs this).
//!
//! ```text
//! bench [--json] TUYACTL PORT DEVICES_JSON [COMMANDS]
//! bench [--json] --rustuya PYTHON HOST_SCRIPT PORT DEVICES_JSON [COMMANDS]
//! ```
//!
//! `--json`: the headline figures as JSON lines on stdout (`{"figure": …, "tool": …, "value": …,
//! "unit": …}`), everything else on stderr. `--rustuya`: the same measurements of rustuya-bridge
//! (see `rustuya.rs` and `bench/rustuya-bridge/`) instead of `tuyactl bridge`.
//!
//! An observer subscribed to `tuya/#` on 127.0.0.1:PORT timestamps every message as it arrives.
//! Two bridges run one after the other, both with `--instance bench --discovery-prefix ""`:
//!
//! 1. serving only the first device of DEVICES_JSON (the memory baseline);
//! 2. serving all of it: the time from spawning the bridge until its own status, every
//!    device's `status` = `online` and at least one `dps/<dp>/state` per device; then COMMANDS
//!    (default 300) sequential commands on the plugs' DP 1 (each the opposite of the plug's last
//!    state, cycling over the plugs), timed from publishing `tuya/<slug>/dps/1/command` to
//!    the matching `dps/1/state` (and to the `result` with `"ok":true`).
//!
//! Memory is the bridge's VmRSS from `/proc/<pid>/status`, read one second after everything is
//! online. Each bridge is then stopped with SIGTERM and must mark everything offline. Every wait
//! is bounded and names what did not arrive. This measures; it asserts nothing about speed.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

type R<T> = Result<T, String>;

/// `--json`: human text goes to stderr, stdout carries only the JSON figure lines.
static JSON: AtomicBool = AtomicBool::new(false);

/// A line of the human report: stdout, or stderr with `--json`.
macro_rules! say {
    ($($t:tt)*) => {
        if JSON.load(Ordering::Relaxed) {
            eprintln!($($t)*)
        } else {
            println!($($t)*)
        }
    };
}

mod commands;
mod observer;
mod process;
mod rustuya;

use commands::*;
use observer::*;
use process::*;

/// One headline figure as a JSON line on stdout (only with `--json`).
fn figure(name: &str, tool: &str, value: f64, unit: &str, decimals: i32) {
    figure_detail(name, tool, value, unit, decimals, None);
}

/// A figure with a `detail` (what its clock measures, where the two bridges differ).
fn figure_detail(
    name: &str,
    tool: &str,
    value: f64,
    unit: &str,
    decimals: i32,
    detail: Option<&str>,
) {
    if JSON.load(Ordering::Relaxed) {
        let scale = 10f64.powi(decimals);
        let mut line = serde_json::json!({
            "figure": name,
            "tool": tool,
            "value": (value * scale).round() / scale,
            "unit": unit,
        });
        if let Some(d) = detail {
            line["detail"] = d.into();
        }
        println!("{line}");
    }
}

/// Bound of every wait for a whole fleet (start-up, shutdown).
const FLEET_WAIT: Duration = Duration::from_secs(120);
/// Bound of the wait for one command's state and result.
const COMMAND_WAIT: Duration = Duration::from_secs(10);
/// Time given to the bridge after everything is online before its memory is read.
const SETTLE: Duration = Duration::from_secs(1);
const INSTANCE: &str = "bench";

/// A device of devices.json as the bridge names it on MQTT.
#[derive(Clone)]
struct Dev {
    slug: String,
    name: String,
}

fn load_devices(path: &Path) -> R<(Vec<serde_json::Value>, Vec<Dev>)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let entries = v
        .as_array()
        .ok_or_else(|| format!("{}: not a JSON array", path.display()))?
        .clone();
    let devs = entries
        .iter()
        .map(|e| {
            let name = e["name"].as_str().unwrap_or_default().to_string();
            let id = e["id"].as_str().unwrap_or_default();
            Dev {
                slug: tuya_bridge::topics::slug(Some(&name), id),
                name,
            }
        })
        .collect::<Vec<_>>();
    if devs.is_empty() {
        return Err(format!("{}: no devices", path.display()));
    }
    Ok((entries, devs))
}

/// What one bridge run measured up to the point where everything was online.
struct Startup {
    bridge_online: Duration,
    all_online: Duration,
    all_states: Duration,
    /// Messages received from spawning the bridge until everything was online.
    messages: usize,
    /// Last payload per topic seen during start-up.
    last: HashMap<String, String>,
    rss_kb: u64,
    hwm_kb: u64,
    /// The bridge's CPU time when everything was online.
    cpu: Duration,
    /// The peers' CPU time from spawning the bridge until everything was online.
    peers_cpu: Vec<Duration>,
}

fn bridge_status_topic() -> String {
    format!("tuya/bridge/{INSTANCE}/status")
}

/// `tuya/<slug>/dps/<dp>/state` → slug.
fn dp_state_slug(topic: &str) -> Option<&str> {
    let mut it = topic.split('/');
    let (t, slug, dps, dp, state) = (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
    (it.next().is_none()
        && t == "tuya"
        && dps == "dps"
        && state == "state"
        && dp.parse::<u32>().is_ok())
    .then_some(slug)
}

fn some_of(set: &HashSet<&str>, devs: &[Dev], want_in: bool) -> String {
    let missing: Vec<&str> = devs
        .iter()
        .map(|d| d.slug.as_str())
        .filter(|s| set.contains(s) != want_in)
        .collect();
    let shown = missing
        .iter()
        .take(8)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if missing.len() > 8 {
        format!("{shown}, …")
    } else {
        shown
    }
}

/// Spawns a bridge for `devices` and waits until everything is online with a state.
async fn start(
    obs: &mut Observer,
    tuyactl: &Path,
    port: u16,
    devices: &Path,
    devs: &[Dev],
    log: PathBuf,
) -> R<(Bridge, Startup)> {
    let n = devs.len();
    let by_slug: HashSet<&str> = devs.iter().map(|d| d.slug.as_str()).collect();
    let peers = peers()?;
    let peers_before = peers_cpu(&peers)?;
    let mut bridge = Bridge::spawn(tuyactl, port, devices, log)?;
    let t0 = bridge.spawned;
    let deadline = tokio::time::Instant::now() + FLEET_WAIT;
    let bs = bridge_status_topic();
    let (mut bridge_online, mut all_online, mut all_states) = (None, None, None);
    let mut online: HashSet<&str> = HashSet::new();
    let mut stated: HashSet<&str> = HashSet::new();
    let mut last = HashMap::new();
    let mut messages = 0;
    while bridge_online.is_none() || all_online.is_none() || all_states.is_none() {
        let Some(m) = obs.next_until(deadline).await? else {
            bridge.alive()?;
            let mut what = Vec::new();
            if bridge_online.is_none() {
                what.push(format!("{bs} = online"));
            }
            if online.len() < n {
                what.push(format!(
                    "status = online from {} of {n} devices (e.g. {})",
                    n - online.len(),
                    some_of(&online, devs, false)
                ));
            }
            if stated.len() < n {
                what.push(format!(
                    "a dps/<dp>/state from {} of {n} devices (e.g. {})",
                    n - stated.len(),
                    some_of(&stated, devs, false)
                ));
            }
            return Err(format!(
                "within {FLEET_WAIT:?} of starting the bridge, no {}",
                what.join("; no ")
            ));
        };
        let t = m.at - t0;
        messages += 1;
        if m.topic == bs {
            if m.payload == "online" && bridge_online.is_none() {
                bridge_online = Some(t);
            }
        } else if let Some(slug) = m
            .topic
            .strip_prefix("tuya/")
            .and_then(|r| r.strip_suffix("/status"))
            .and_then(|s| by_slug.get(s).copied())
        {
            if m.payload == "online" {
                online.insert(slug);
            } else {
                online.remove(slug);
            }
            if online.len() == n && all_online.is_none() {
                all_online = Some(t);
            }
        } else if let Some(slug) = dp_state_slug(&m.topic).and_then(|s| by_slug.get(s).copied()) {
            stated.insert(slug);
            if stated.len() == n && all_states.is_none() {
                all_states = Some(t);
            }
        }
        last.insert(m.topic, m.payload);
    }
    let cpu = bridge.cpu()?;
    let peers_cpu = peers_cpu(&peers)?
        .into_iter()
        .zip(peers_before)
        .map(|(after, before)| after.saturating_sub(before))
        .collect();
    // Let the bridge settle (queues drained, allocator at rest) before reading its memory.
    let settle_end = tokio::time::Instant::now() + SETTLE;
    while let Some(m) = obs.next_until(settle_end).await? {
        last.insert(m.topic, m.payload);
    }
    bridge.alive()?;
    let startup = Startup {
        bridge_online: bridge_online.unwrap_or_default(),
        all_online: all_online.unwrap_or_default(),
        all_states: all_states.unwrap_or_default(),
        messages,
        last,
        rss_kb: bridge.status_kb("VmRSS")?,
        hwm_kb: bridge.status_kb("VmHWM")?,
        cpu,
        peers_cpu,
    };
    Ok((bridge, startup))
}

/// SIGTERM, then (bounded) every device and the bridge itself `offline`; the time it took.
async fn stop(obs: &mut Observer, mut bridge: Bridge, devs: &[Dev]) -> R<Duration> {
    let by_slug: HashSet<&str> = devs.iter().map(|d| d.slug.as_str()).collect();
    let bs = bridge_status_topic();
    let t0 = Instant::now();
    bridge.terminate()?;
    let deadline = tokio::time::Instant::now() + FLEET_WAIT;
    let mut offline: HashSet<&str> = HashSet::new();
    let mut bridge_offline = false;
    let mut done_at = t0;
    while !bridge_offline || offline.len() < devs.len() {
        let Some(m) = obs.next_until(deadline).await? else {
            return Err(format!(
                "within {FLEET_WAIT:?} of SIGTERM: {}{} of {} devices not offline (e.g. {})",
                if bridge_offline {
                    String::new()
                } else {
                    format!("no {bs} = offline; ")
                },
                devs.len() - offline.len(),
                devs.len(),
                some_of(&offline, devs, false)
            ));
        };
        if m.payload != "offline" {
            continue;
        }
        if m.topic == bs {
            bridge_offline = true;
        } else if let Some(slug) = m
            .topic
            .strip_prefix("tuya/")
            .and_then(|r| r.strip_suffix("/status"))
            .and_then(|s| by_slug.get(s).copied())
        {
            offline.insert(slug);
        }
        done_at = m.at;
    }
    bridge.wait_exit(Duration::from_secs(10)).await?;
    Ok(done_at - t0)
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

async fn run(args: &[String]) -> R<()> {
    let [tuyactl, port, devices, rest @ ..] = args else {
        return Err("usage: bench TUYACTL PORT DEVICES_JSON [COMMANDS]".into());
    };
    let tuyactl = PathBuf::from(tuyactl);
    let port: u16 = port.parse().map_err(|_| format!("bad port {port:?}"))?;
    let devices = PathBuf::from(devices);
    let count: usize = match rest.first() {
        Some(c) => c.parse().map_err(|_| format!("bad command count {c:?}"))?,
        None => 300,
    };
    let (entries, devs) = load_devices(&devices)?;
    let n = devs.len();
    let dir = devices.parent().unwrap_or(Path::new(".")).to_path_buf();
    let one = dir.join("devices-1.json");
    std::fs::write(
        &one,
        serde_json::to_vec(&serde_json::Value::Array(entries[..1].to_vec())).unwrap(),
    )
    .map_err(|e| format!("cannot write {}: {e}", one.display()))?;

    let mut obs = Observer::connect(port, "tuya/#").await?;

    // 1. The baseline: the same bridge serving one device.
    let (b1, s1) = start(
        &mut obs,
        &tuyactl,
        port,
        &one,
        &devs[..1],
        dir.join("bridge-1.log"),
    )
    .await
    .map_err(|e| format!("1-device run: {e}"))?;
    stop(&mut obs, b1, &devs[..1])
        .await
        .map_err(|e| format!("1-device run: {e}"))?;
    obs.drain_for(Duration::from_millis(500)).await?;

    // 2. The whole fleet.
    let (bn, sn) = start(
        &mut obs,
        &tuyactl,
        port,
        &devices,
        &devs,
        dir.join(format!("bridge-{n}.log")),
    )
    .await
    .map_err(|e| format!("{n}-device run: {e}"))?;
    let peers = peers()?;
    let mut plugs = Plugs::new(&devs, &sn)?;
    let mut phases = Vec::new();
    for (qos, name) in [(QoS::AtMostOnce, "QoS 0"), (QoS::AtLeastOnce, "QoS 1")] {
        let (cpu0, peers0) = (bn.cpu()?, peers_cpu(&peers)?);
        let trips = commands(&mut obs, &mut plugs, count, qos)
            .await
            .map_err(|e| format!("{name} commands: {e}"))?;
        let used: Vec<Duration> = peers_cpu(&peers)?
            .into_iter()
            .zip(peers0)
            .map(|(a, b)| a.saturating_sub(b))
            .collect();
        phases.push((name, trips, bn.cpu()?.saturating_sub(cpu0), used));
    }
    let rss_after_commands = bn.status_kb("VmRSS")?;
    let shutdown = stop(&mut obs, bn, &devs)
        .await
        .map_err(|e| format!("{n}-device run: {e}"))?;

    let per_device = (sn.rss_kb as f64 - s1.rss_kb as f64) / (n.max(2) - 1) as f64;
    say!(
        "devices: {n} ({} plugs commanded in turn)",
        plugs.slugs.len()
    );
    say!(
        "bridge start-up (spawn -> tuya/bridge/{INSTANCE}/status online): {}",
        secs(sn.bridge_online)
    );
    say!(
        "all {n} devices online (spawn -> last status online): {}",
        secs(sn.all_online)
    );
    say!(
        "all {n} devices with a dps/<dp>/state (spawn -> last first state): {} ({} after the bridge's own status)",
        secs(sn.all_states),
        secs(sn.all_states.saturating_sub(sn.bridge_online))
    );
    say!(
        "messages on tuya/# until then: {} ({:.1} per device)",
        sn.messages,
        sn.messages as f64 / n as f64
    );
    say!(
        "CPU time until all were online: {}",
        cpu_text(sn.cpu, &peers, &sn.peers_cpu)
    );
    say!(
        "1-device bridge: own status {}, device online {}, state {}",
        secs(s1.bridge_online),
        secs(s1.all_online),
        secs(s1.all_states)
    );
    for (name, trips, cpu, used) in &phases {
        say!(
            "{}",
            trip_line(
                &format!("command round trip ({name} command), command -> dps/1/state"),
                trips.iter().map(|t| t.state).collect()
            )
        );
        say!(
            "{}",
            trip_line(
                &format!("command round trip ({name} command), command -> result ok"),
                trips.iter().map(|t| t.result).collect()
            )
        );
        say!(
            "CPU time for the {name} commands: {} (bridge {:.0} µs per command)",
            cpu_text(*cpu, &peers, used),
            cpu.as_secs_f64() * 1e6 / trips.len().max(1) as f64
        );
    }
    say!(
        "bridge VmRSS, 1 device: {} KiB (peak {} KiB)",
        s1.rss_kb,
        s1.hwm_kb
    );
    say!(
        "bridge VmRSS, {n} devices: {} KiB (peak {} KiB; {} KiB after the commands)",
        sn.rss_kb,
        sn.hwm_kb,
        rss_after_commands
    );
    say!("bridge memory per device: {per_device:.2} KiB");
    say!(
        "shutdown (SIGTERM -> every device and the bridge offline): {}",
        secs(shutdown)
    );
    let mut qos0: Vec<Duration> = phases[0].1.iter().map(|t| t.state).collect();
    qos0.sort();
    let tool = "tuyactl";
    figure(
        "bridge_startup",
        tool,
        sn.bridge_online.as_secs_f64(),
        "s",
        3,
    );
    figure_detail(
        &format!("bridge_all_states_{n}"),
        tool,
        sn.all_states.as_secs_f64(),
        "s",
        3,
        Some("from spawning the bridge (its start-up included)"),
    );
    figure("bridge_rtt_p50", tool, pct(&qos0, 0.50), "ms", 3);
    figure("bridge_rtt_p99", tool, pct(&qos0, 0.99), "ms", 3);
    figure("bridge_mem_per_device", tool, per_device, "KiB", 2);
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--json") {
        args.remove(i);
        JSON.store(true, Ordering::Relaxed);
    }
    let result = match args.first().map(String::as_str) {
        Some("--rustuya") => rustuya::run(&args[1..]).await,
        _ => run(&args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}
