//! The same measurements of rustuya-bridge (`pyrustuyabridge`, its bridge embedded in a Python
//! process; `bench/rustuya-bridge/run.sh` sets it up), with the same observer, clock and
//! percentiles as `tuyactl bridge`'s.
//!
//! ```text
//! bench [--json] --rustuya PYTHON HOST_SCRIPT PORT DEVICES_JSON [COMMANDS]
//! ```
//!
//! The observer subscribes to `rustuya/#`. One bridge process (`PYTHON HOST_SCRIPT --broker …
//! --state-file …`, fresh state file, so it starts with no device):
//!
//! 1. start-up: spawn → the bridge's retained `rustuya/bridge/config` (its presence message);
//!    then `{"action":"status"}` every 20 ms until one is answered on `rustuya/response/bridge`
//!    (it publishes the config before it subscribes to its command topic). VmRSS one second
//!    later is the 0-device baseline.
//! 2. every device of DEVICES_JSON added with `{"action":"add","id","key","ip","version","name"}`
//!    on `rustuya/command`, back to back. rustuya-bridge publishes no state when a device
//!    connects (only `rustuya/error/<id>` = `{"errorCode":0,…}`, "Connection Successful"), so
//!    the observer asks for one as a client would: a `{"action":"get","id":…}` as soon as that
//!    device's connect notice arrives; one without a state 300 ms after its last `get` is asked
//!    again (counted). During onboarding many replies never reach MQTT: a `get` sent right
//!    after each `add` (which the bridge accepts) needed more re-asks and was slower overall.
//!    Timed from the first `add` until every device has a `rustuya/event/<type>/<id>`.
//!    The adds, gets and the status probe are QoS 0: with QoS 1 the bridge's PUBACK holds its
//!    next publish back by Nagle's algorithm (its MQTT socket has no TCP_NODELAY) for a delayed
//!    ACK, ~40 ms, which would be the observer's doing, not the bridge's.
//! 3. VmRSS one second later; (RSS_N − RSS_0) / N per device.
//! 4. COMMANDS (default 300) sequential `{"action":"set","id":…,"dps":{"1":…}}` with QoS 0, then
//!    as many with QoS 1, on the same plugs in the same order as `tuyactl bridge`'s run, timed
//!    from publishing to the `rustuya/event/<type>/<id>` whose DP 1 is the new value (a
//!    successful single `set` has no response message: the bridge suppresses it).
//! 5. SIGTERM → the process exits.

use super::*;

const ROOT: &str = "rustuya";
const CMD_TOPIC: &str = "rustuya/command";
const CONFIG_TOPIC: &str = "rustuya/bridge/config";
/// A connected device whose `get` has had no state for this long is asked again (during
/// onboarding some replies never reach MQTT, presumably lost while the bridge rebuilds its
/// merged device listener).
const REASK: Duration = Duration::from_millis(300);
/// How often the re-ask check runs.
const REASK_TICK: Duration = Duration::from_millis(50);
/// Interval of the `status` probes until the bridge's command path answers.
const PROBE: Duration = Duration::from_millis(20);

/// A device of devices.json as rustuya-bridge is given it.
struct RDev {
    id: String,
    name: String,
    add: String,
}

fn load(path: &Path) -> R<Vec<RDev>> {
    let (entries, _) = load_devices(path)?;
    Ok(entries
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            RDev {
                id: s("id"),
                name: s("name"),
                add: serde_json::json!({
                    "action": "add",
                    "id": s("id"),
                    "key": s("key"),
                    "ip": s("ip"),
                    "version": s("version"),
                    "name": s("name"),
                })
                .to_string(),
            }
        })
        .collect())
}

/// `rustuya/<level>/<id>` or `rustuya/event/<type>/<id>`, split.
enum Topic<'a> {
    Event(&'a str),
    Error(&'a str),
    Response(&'a str),
    Other,
}

fn classify(topic: &str) -> Topic<'_> {
    let Some(rest) = topic.strip_prefix(ROOT).and_then(|r| r.strip_prefix('/')) else {
        return Topic::Other;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["event", _, id] => Topic::Event(id),
        ["error", id] => Topic::Error(id),
        ["response", id] => Topic::Response(id),
        _ => Topic::Other,
    }
}

fn json_of(payload: &str) -> serde_json::Value {
    serde_json::from_str(payload).unwrap_or(serde_json::Value::Null)
}

/// DP 1 of an event payload (the DPS object itself with the default `{value}` template, or
/// wrapped in `dps`/`data.dps` should a build publish it that way).
fn dp1(v: &serde_json::Value) -> Option<bool> {
    v.get("1")
        .or_else(|| v.get("dps").and_then(|d| d.get("1")))
        .or_else(|| v.pointer("/data/dps/1"))
        .and_then(serde_json::Value::as_bool)
}

async fn publish(obs: &Observer, topic: &str, qos: QoS, payload: String) -> R<()> {
    obs.client
        .publish(topic, qos, false, payload.into_bytes())
        .await
        .map_err(|e| format!("cannot publish {topic}: {e}"))
}

fn get(id: &str) -> String {
    serde_json::json!({"action": "get", "id": id}).to_string()
}

/// Waits (bounded) for a message matching `want`; the time it arrived.
async fn wait_for(
    obs: &mut Observer,
    bound: Duration,
    what: &str,
    mut want: impl FnMut(&Msg) -> bool,
) -> R<Instant> {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let Some(m) = obs.next_until(deadline).await? else {
            return Err(format!("within {bound:?}: no {what}"));
        };
        if want(&m) {
            return Ok(m.at);
        }
    }
}

struct Onboard {
    /// First add published → last device's connect notice.
    all_connected: Option<Duration>,
    /// First add published → last device's first state.
    all_states: Option<Duration>,
    connected: usize,
    stated: usize,
    gets: usize,
    reasked: usize,
    messages: usize,
    dp1: HashMap<String, bool>,
}

async fn onboard(obs: &mut Observer, devs: &[RDev]) -> R<Onboard> {
    let n = devs.len();
    let known: HashSet<&str> = devs.iter().map(|d| d.id.as_str()).collect();
    let t0 = Instant::now();
    for d in devs {
        publish(obs, CMD_TOPIC, QoS::AtMostOnce, d.add.clone()).await?;
    }
    let deadline = tokio::time::Instant::now() + FLEET_WAIT;
    let mut connected: HashSet<String> = HashSet::new();
    // Connected devices without a state yet: when they were last asked.
    let mut asked: HashMap<String, tokio::time::Instant> = HashMap::new();
    let mut stated: HashSet<String> = HashSet::new();
    let mut dp1s = HashMap::new();
    let (mut all_connected, mut all_states) = (None, None);
    let (mut gets, mut reasked, mut messages) = (0, 0, 0);
    let mut next_tick = tokio::time::Instant::now() + REASK_TICK;
    let mut add_errors = Vec::new();
    while all_states.is_none() || all_connected.is_none() {
        let until = next_tick.min(deadline);
        let m = obs.next_until(until).await?;
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break;
        }
        if now >= next_tick {
            for (id, at) in asked.iter_mut() {
                if now - *at >= REASK {
                    publish(obs, CMD_TOPIC, QoS::AtMostOnce, get(id)).await?;
                    *at = now;
                    reasked += 1;
                }
            }
            next_tick = now + REASK_TICK;
        }
        let Some(m) = m else { continue };
        messages += 1;
        let t = m.at - t0;
        match classify(&m.topic) {
            Topic::Error(id)
                if known.contains(id)
                    && json_of(&m.payload)["errorCode"].as_u64() == Some(0)
                    && connected.insert(id.to_string()) =>
            {
                if !stated.contains(id) {
                    publish(obs, CMD_TOPIC, QoS::AtMostOnce, get(id)).await?;
                    asked.insert(id.to_string(), tokio::time::Instant::now());
                    gets += 1;
                }
                if connected.len() == n {
                    all_connected = Some(t);
                }
            }
            Topic::Event(id) if known.contains(id) => {
                if let Some(v) = dp1(&json_of(&m.payload)) {
                    dp1s.insert(id.to_string(), v);
                }
                asked.remove(id);
                if stated.insert(id.to_string()) && stated.len() == n {
                    all_states = Some(t);
                }
            }
            Topic::Response(id) if known.contains(id) => {
                let v = json_of(&m.payload);
                if v["status"].as_str() != Some("ok") && add_errors.len() < 5 {
                    add_errors.push(m.payload.clone());
                }
            }
            _ => {}
        }
    }
    if !add_errors.is_empty() {
        say!(
            "responses other than ok during onboarding (first 5): {}",
            add_errors.join(" | ")
        );
    }
    Ok(Onboard {
        all_connected,
        all_states,
        connected: connected.len(),
        stated: stated.len(),
        gets,
        reasked,
        messages,
        dp1: dp1s,
    })
}

/// `count` sequential `set`s of DP 1 with `qos`, each waiting for the event with the new value.
async fn commands(
    obs: &mut Observer,
    plugs: &[&str],
    last: &mut HashMap<String, bool>,
    sent: &mut usize,
    count: usize,
    qos: QoS,
) -> R<Vec<Duration>> {
    let mut trips = Vec::with_capacity(count);
    for _ in 0..count {
        let k = *sent;
        *sent += 1;
        let id = plugs[k % plugs.len()];
        let want = !last[id];
        let payload =
            serde_json::json!({"action": "set", "id": id, "dps": {"1": want}}).to_string();
        let t0 = Instant::now();
        publish(obs, CMD_TOPIC, qos, payload.clone()).await?;
        let deadline = tokio::time::Instant::now() + COMMAND_WAIT;
        let at = loop {
            let Some(m) = obs.next_until(deadline).await? else {
                return Err(format!(
                    "command #{k} ({payload}): within {COMMAND_WAIT:?} no {ROOT}/event/<type>/{id} with DP 1 = {want}"
                ));
            };
            match classify(&m.topic) {
                Topic::Event(e) if e == id && dp1(&json_of(&m.payload)) == Some(want) => {
                    break m.at;
                }
                Topic::Response(r)
                    if r == id && json_of(&m.payload)["status"].as_str() != Some("ok") =>
                {
                    return Err(format!("command #{k} ({payload}): {}", m.payload));
                }
                _ => {}
            }
        };
        last.insert(id.to_string(), want);
        trips.push(at - t0);
    }
    Ok(trips)
}

pub(crate) async fn run(args: &[String]) -> R<()> {
    let [python, host, port, devices, rest @ ..] = args else {
        return Err(
            "usage: bench --rustuya PYTHON HOST_SCRIPT PORT DEVICES_JSON [COMMANDS]".into(),
        );
    };
    let port: u16 = port.parse().map_err(|_| format!("bad port {port:?}"))?;
    let devices = PathBuf::from(devices);
    let count: usize = match rest.first() {
        Some(c) => c.parse().map_err(|_| format!("bad command count {c:?}"))?,
        None => 300,
    };
    let devs = load(&devices)?;
    let n = devs.len();
    let dir = devices.parent().unwrap_or(Path::new(".")).to_path_buf();
    let state_file = dir.join("rustuya-state.json");
    let _ = std::fs::remove_file(&state_file);

    let mut obs = Observer::connect(port, "rustuya/#").await?;
    let peers = peers()?;

    // 1. Start-up, with no device.
    let mut cmd = Command::new(python);
    cmd.arg(host)
        .arg("--broker")
        .arg(format!("mqtt://127.0.0.1:{port}"))
        .arg("--state-file")
        .arg(&state_file);
    let mut bridge = Bridge::spawn_command(cmd, dir.join("rustuya-bridge.log"), true)?;
    let spawned = bridge.spawned;
    let config_at = match wait_for(&mut obs, FLEET_WAIT, CONFIG_TOPIC, |m| {
        m.topic == CONFIG_TOPIC && !m.payload.is_empty()
    })
    .await
    {
        Ok(t) => t,
        Err(e) => {
            bridge.alive()?;
            return Err(e);
        }
    };
    // The config is published before the command topic is subscribed: probe with `status`
    // (every PROBE, bounded) until one is answered.
    let probe_end = tokio::time::Instant::now() + COMMAND_WAIT;
    let ready_at = loop {
        if tokio::time::Instant::now() >= probe_end {
            bridge.alive()?;
            return Err(format!(
                "within {COMMAND_WAIT:?} of {CONFIG_TOPIC}: no rustuya/response/bridge to a status"
            ));
        }
        publish(
            &obs,
            CMD_TOPIC,
            QoS::AtMostOnce,
            r#"{"action":"status"}"#.into(),
        )
        .await?;
        let until = tokio::time::Instant::now() + PROBE;
        let mut got = None;
        while let Some(m) = obs.next_until(until).await? {
            if m.topic == "rustuya/response/bridge" {
                got = Some(m.at);
                break;
            }
        }
        if let Some(t) = got {
            break t;
        }
    };
    obs.drain_for(SETTLE).await?;
    bridge.alive()?;
    let rss0 = bridge.status_kb("VmRSS")?;
    let hwm0 = bridge.status_kb("VmHWM")?;

    // 2. The whole fleet.
    let (cpu0, peers0) = (bridge.cpu()?, peers_cpu(&peers)?);
    let ob = onboard(&mut obs, &devs).await?;
    bridge.alive()?;
    let cpu_on = bridge.cpu()?.saturating_sub(cpu0);
    let peers_on: Vec<Duration> = peers_cpu(&peers)?
        .into_iter()
        .zip(peers0)
        .map(|(a, b)| a.saturating_sub(b))
        .collect();
    let mut dp1 = ob.dp1.clone();
    // 3. Memory, after the same settling time as tuyactl's.
    obs.drain_for(SETTLE).await?;
    bridge.alive()?;
    let rss_n = bridge.status_kb("VmRSS")?;
    let hwm_n = bridge.status_kb("VmHWM")?;
    let per_device = (rss_n as f64 - rss0 as f64) / n as f64;

    // 4. Round trips on the plugs, in devices.json order (as tuyactl's run).
    let plugs: Vec<&str> = devs
        .iter()
        .filter(|d| d.name.starts_with("Plug ") && dp1.contains_key(&d.id))
        .map(|d| d.id.as_str())
        .collect();
    let all_plugs = devs.iter().filter(|d| d.name.starts_with("Plug ")).count();
    let mut phases = Vec::new();
    if plugs.is_empty() {
        say!("no plug with a known DP 1 to command: no round trips");
    } else {
        let mut sent = 0;
        for (qos, name) in [(QoS::AtMostOnce, "QoS 0"), (QoS::AtLeastOnce, "QoS 1")] {
            let (c0, p0) = (bridge.cpu()?, peers_cpu(&peers)?);
            let trips = commands(&mut obs, &plugs, &mut dp1, &mut sent, count, qos)
                .await
                .map_err(|e| format!("{name} commands: {e}"))?;
            let used: Vec<Duration> = peers_cpu(&peers)?
                .into_iter()
                .zip(p0)
                .map(|(a, b)| a.saturating_sub(b))
                .collect();
            phases.push((name, trips, bridge.cpu()?.saturating_sub(c0), used));
        }
    }
    let rss_after = bridge.status_kb("VmRSS")?;

    // 5. Shutdown.
    let t_term = Instant::now();
    bridge.terminate()?;
    let cleared = wait_for(&mut obs, Duration::from_secs(10), "cleared config", |m| {
        m.topic == CONFIG_TOPIC && m.payload.is_empty()
    })
    .await;
    let exit = bridge.wait_exit(Duration::from_secs(10)).await;
    let shutdown = t_term.elapsed();

    say!(
        "devices: {n} ({} of {all_plugs} plugs commanded in turn)",
        plugs.len()
    );
    say!(
        "bridge start-up (spawn -> {CONFIG_TOPIC}): {}; a status answered {} after spawn",
        secs(config_at - spawned),
        secs(ready_at - spawned)
    );
    let of = |d: Option<Duration>, got: usize, what: &str| match d {
        Some(d) => secs(d),
        None => format!("not within {FLEET_WAIT:?}: {got} of {n} {what}"),
    };
    say!(
        "all {n} devices connected (first add -> last rustuya/error/<id> errorCode 0): {}",
        of(ob.all_connected, ob.connected, "connected")
    );
    say!(
        "all {n} devices with a state (first add -> last first rustuya/event/<type>/<id>): {} ({} gets on connect notices, {} re-sent)",
        of(ob.all_states, ob.stated, "with a state"),
        ob.gets,
        ob.reasked
    );
    say!(
        "messages on rustuya/# until then: {} ({:.1} per device, the observer's adds and gets included)",
        ob.messages,
        ob.messages as f64 / n as f64
    );
    say!(
        "CPU time from the first add until all had a state: {}",
        cpu_text(cpu_on, &peers, &peers_on)
    );
    for (name, trips, cpu, used) in &phases {
        say!(
            "{}",
            trip_line(
                &format!("command round trip ({name} command), command -> event with DP 1"),
                trips.clone()
            )
        );
        say!(
            "CPU time for the {name} commands: {}",
            cpu_text(*cpu, &peers, used)
        );
    }
    say!("bridge VmRSS, 0 devices: {rss0} KiB (peak {hwm0} KiB)");
    say!(
        "bridge VmRSS, {n} devices: {rss_n} KiB (peak {hwm_n} KiB; {rss_after} KiB after the commands)"
    );
    say!("bridge memory per device: {per_device:.2} KiB");
    say!(
        "shutdown (SIGTERM -> exit): {}{}{}",
        secs(shutdown),
        match &cleared {
            Ok(_) => String::new(),
            Err(e) => format!("; {e}"),
        },
        match &exit {
            Ok(()) => String::new(),
            Err(e) => format!("; {e}"),
        }
    );

    let tool = "rustuya-bridge";
    figure(
        "bridge_startup",
        tool,
        (config_at - spawned).as_secs_f64(),
        "s",
        3,
    );
    let name = format!("bridge_all_states_{n}");
    match ob.all_states {
        Some(d) => figure_detail(
            &name,
            tool,
            d.as_secs_f64(),
            "s",
            3,
            Some("from the first add (start-up excluded); a get per connect notice"),
        ),
        None if JSON.load(Ordering::Relaxed) => println!(
            "{}",
            serde_json::json!({"figure": name, "tool": tool, "value": null, "unit": "s",
                "got": ob.stated, "of": n, "timeout_s": FLEET_WAIT.as_secs()})
        ),
        None => {}
    }
    if let Some((_, trips, _, _)) = phases.first() {
        let mut v = trips.clone();
        v.sort();
        figure("bridge_rtt_p50", tool, pct(&v, 0.50), "ms", 3);
        figure("bridge_rtt_p99", tool, pct(&v, 0.99), "ms", 3);
    }
    figure("bridge_mem_per_device", tool, per_device, "KiB", 2);
    Ok(())
}
