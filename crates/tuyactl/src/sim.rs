//! `tuyactl sim`: run simulated devices — one from flags, a home from a config file, or a
//! generated fleet — with a line-based control channel on standard input (see
//! `tuya_sim::control`).

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tuya_proto::{dp::try_dps_from_json, Version};
use tuya_sim::{
    DeviceSpec, Faults, Firmware, MultiDp, Quirks, SimOptions, Simulator, TrafficEvent,
};

/// Arguments of `tuyactl sim`.
#[derive(clap::Args)]
#[command(
    after_help = "Control channel (stdin, one command per line; answers `ok ...`/`error ...`):\n  \
    set <id|name> <dp>=<value>...   child <id> <cid> <dp>=<value>...   offline <id>   online <id>\n  \
    rekey <id> <key>   faults <id> <json>   quirks <id> <json>   firmware <id> <json>\n  \
    status <id> [cid]   info <id>   list"
)]
pub struct Args {
    /// Device id (single-device form).
    #[arg(long, conflicts_with_all = ["config", "fleet"], requires = "key")]
    id: Option<String>,
    /// Local key, 16 characters (single-device form).
    #[arg(long, requires = "id")]
    key: Option<String>,
    /// Protocol version (single-device form).
    #[arg(long, default_value = "3.3")]
    version: Version,
    /// Address to listen on (single-device form).
    #[arg(long, default_value = "127.0.0.1")]
    ip: Ipv4Addr,
    /// TCP port.
    #[arg(long, default_value_t = tuya_sim::DEFAULT_PORT)]
    port: u16,
    /// Initial DPs as JSON, e.g. '{"1":false,"2":50}' (single-device form).
    #[arg(long)]
    dps: Option<String>,
    /// Device name (single-device form).
    #[arg(long)]
    name: Option<String>,
    /// Product key announced in discovery (single-device form).
    #[arg(long)]
    product_key: Option<String>,
    /// The device22 quirk: refuse DP_QUERY, answer CONTROL_NEW with null DPs (single-device form).
    #[arg(long)]
    device22: bool,
    /// Quirk (repeatable): own-seq, seq-zero-pushes, header-counter, status-without-t,
    /// push-only=18,19, multi-dp=accept|reject|half-apply, min-gap=MS, refresh-fails, split-pushes,
    /// encrypted-errors.
    #[arg(long = "quirk", value_name = "QUIRK")]
    quirks: Vec<String>,
    /// Fault (repeatable): delay=MS, drop=RATIO, close-after=FRAMES, garbage, bad-integrity,
    /// refuse-for=MS.
    #[arg(long = "fault", value_name = "FAULT")]
    faults: Vec<String>,
    /// Firmware rule (repeatable), applied to every device on top of its config: strict (all of
    /// them, as Tuya's device SDK), max-clients=N, strict-seq, zero-key-is-no-key,
    /// zero-key-handshakes=N, pre-session-limit=N, max-frame=BYTES, close-on-bad-frame,
    /// answers-devinfo=true|false.
    #[arg(long = "firmware", value_name = "RULE")]
    firmware: Vec<String>,
    /// Drop clients silent for longer than this (seconds; default 30, or the config file's).
    #[arg(long, value_name = "SECS", value_parser = crate::seconds::parse)]
    heartbeat_timeout: Option<Duration>,

    /// Run the devices of a JSON config file (format: tuya_sim::load_config).
    #[arg(long, conflicts_with = "fleet")]
    config: Option<PathBuf>,

    /// Run N generated devices (plugs, bulbs, covers) on consecutive addresses.
    #[arg(long, value_name = "N")]
    fleet: Option<usize>,
    /// Number the fleet's device ids from N (two simulators whose devices.json files are
    /// joined need distinct ids).
    #[arg(long, value_name = "N", default_value_t = 1, requires = "fleet")]
    first_id: usize,
    /// First address of the fleet.
    #[arg(long, default_value = "127.0.1.1")]
    base_ip: Ipv4Addr,
    /// Versions of the fleet, assigned round-robin.
    #[arg(long, value_delimiter = ',', default_value = "3.3")]
    versions: Vec<Version>,

    /// Write the devices (with their keys) as tinytuya devices.json, mode 0600.
    #[arg(long, value_name = "PATH")]
    write_devices: Option<PathBuf>,

    /// Announce every device every SECS seconds, as real firmware does (0: never).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = crate::seconds::parse)]
    announce: Duration,
    /// Where announcements go (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    announce_target: IpAddr,
    /// Announce to the real LAN broadcast address 255.255.255.255 (explicit opt-in).
    #[arg(long)]
    broadcast: bool,
    /// Send announcements to this UDP port instead of 6666/6667.
    #[arg(long)]
    announce_port: Option<u16>,
    /// Answer REQ_DEVINFO datagrams received here (3.5 devices), e.g. 127.0.0.1:7000.
    #[arg(long, value_name = "ADDR")]
    devinfo_listen: Option<SocketAddr>,
    /// Also answer REQ_DEVINFO on each answering device's own address at this UDP port (real
    /// devices: 7000), to the requester named in the request (its own address or loopback).
    #[arg(long, value_name = "PORT")]
    devinfo_unicast_port: Option<u16>,

    /// Log requests and responses as JSON lines (stderr) instead of text.
    #[arg(long)]
    json_log: bool,
    /// Do not log requests and responses.
    #[arg(long, conflicts_with = "json_log")]
    quiet: bool,
    /// Exit after SECS seconds (otherwise run until Ctrl-C / SIGTERM).
    #[arg(long = "for", value_name = "SECS", value_parser = crate::seconds::parse)]
    run_for: Option<Duration>,
    /// Seed of the simulator's randomness (0: random).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn parse_quirk(q: &mut Quirks, s: &str) -> anyhow::Result<()> {
    let (name, val) = s.split_once('=').unwrap_or((s, ""));
    match name.replace('_', "-").as_str() {
        "own-seq" => q.own_seq = true,
        "seq-zero-pushes" => q.seq_zero_pushes = true,
        "header-counter" => q.header_counter = true,
        "status-without-t" => q.status_without_t = true,
        "refresh-fails" => q.refresh_fails = true,
        "split-pushes" => q.split_pushes = true,
        "encrypted-errors" => q.encrypted_errors = true,
        "push-only" => {
            q.push_only_dps = val
                .split(',')
                .map(|d| d.parse())
                .collect::<Result<_, _>>()
                .with_context(|| format!("push-only: bad DP list {val:?}"))?
        }
        "multi-dp" => {
            q.multi_dp = match val {
                "accept" => MultiDp::Accept,
                "reject" => MultiDp::Reject,
                "half-apply" | "half_apply" => MultiDp::HalfApply,
                _ => bail!("multi-dp must be accept, reject or half-apply"),
            }
        }
        "min-gap" => {
            q.min_command_gap = Some(Duration::from_millis(
                val.parse().context("min-gap takes milliseconds")?,
            ))
        }
        _ => bail!("unknown quirk {s:?} (see --help)"),
    }
    Ok(())
}

fn parse_fault(f: &mut Faults, s: &str) -> anyhow::Result<()> {
    let (name, val) = s.split_once('=').unwrap_or((s, ""));
    let ms = |v: &str| -> anyhow::Result<Duration> {
        Ok(Duration::from_millis(
            v.parse()
                .with_context(|| format!("{name} takes milliseconds"))?,
        ))
    };
    match name.replace('_', "-").as_str() {
        "delay" => f.delay = Some(ms(val)?),
        "drop" => {
            f.drop_ratio = val.parse().context("drop takes a ratio 0..1")?;
            if !(0.0..=1.0).contains(&f.drop_ratio) {
                bail!("drop takes a ratio between 0 and 1");
            }
        }
        "close-after" => {
            f.close_after_frames = Some(val.parse().context("close-after takes a frame count")?)
        }
        "garbage" => f.garbage = true,
        "bad-integrity" => f.bad_integrity = true,
        "refuse-for" => f.refuse_for = Some(ms(val)?),
        _ => bail!("unknown fault {s:?} (see --help)"),
    }
    Ok(())
}

fn parse_firmware(f: &mut Firmware, s: &str) -> anyhow::Result<()> {
    let (name, val) = s.split_once('=').unwrap_or((s, ""));
    fn num<T: std::str::FromStr>(name: &str, val: &str) -> anyhow::Result<T> {
        val.parse()
            .ok()
            .with_context(|| format!("{name} takes a number, e.g. {name}=3"))
    }
    match name.replace('_', "-").as_str() {
        "strict" => *f = Firmware::strict(),
        "max-clients" => {
            f.max_clients = num(name, val)?;
            if f.max_clients == 0 {
                bail!("max-clients must be at least 1");
            }
        }
        "strict-seq" => f.strict_seq = true,
        "zero-key-is-no-key" => f.zero_key_is_no_key = true,
        "zero-key-handshakes" => f.zero_key_handshakes = num(name, val)?,
        "pre-session-limit" => f.pre_session_limit = Some(num(name, val)?),
        "max-frame" => f.max_frame = Some(num(name, val)?),
        "close-on-bad-frame" => f.close_on_bad_frame = true,
        "answers-devinfo" => {
            f.answers_devinfo = Some(match val {
                "" | "true" => true,
                "false" => false,
                _ => bail!("answers-devinfo takes true or false"),
            })
        }
        _ => bail!("unknown firmware rule {s:?} (see --help)"),
    }
    Ok(())
}

fn specs(a: &Args) -> anyhow::Result<Vec<DeviceSpec>> {
    let mut specs = base_specs(a)?;
    for s in &mut specs {
        for rule in &a.firmware {
            parse_firmware(&mut s.firmware, rule)?;
        }
    }
    if let Some(t) = a.heartbeat_timeout {
        if t.is_zero() {
            bail!("--heartbeat-timeout must be more than 0");
        }
        for s in &mut specs {
            s.heartbeat_timeout = t;
        }
    }
    Ok(specs)
}

fn base_specs(a: &Args) -> anyhow::Result<Vec<DeviceSpec>> {
    if let Some(path) = &a.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        return tuya_sim::load_config(&text).with_context(|| format!("in {}", path.display()));
    }
    if let Some(n) = a.fleet {
        if n == 0 {
            bail!("--fleet needs at least one device");
        }
        let mut specs = tuya_sim::generate_fleet(n, a.base_ip, &a.versions);
        if a.first_id != 1 {
            for (i, s) in specs.iter_mut().enumerate() {
                s.id = tuya_sim::fleet_id(a.first_id + i);
            }
        }
        return Ok(specs);
    }
    let (Some(id), Some(key)) = (&a.id, &a.key) else {
        bail!("give --id and --key (one device), --config FILE, or --fleet N");
    };
    let mut s = DeviceSpec::new(id, key, a.version, a.ip);
    s.port = a.port;
    if let Some(n) = &a.name {
        s.name = n.clone();
    }
    if let Some(pk) = &a.product_key {
        s.product_key = pk.clone();
    }
    if let Some(d) = &a.dps {
        let v: serde_json::Value =
            serde_json::from_str(d).context("--dps must be a JSON object")?;
        if !v.is_object() {
            bail!("--dps must be a JSON object like '{{\"1\":true}}'");
        }
        s.dps = try_dps_from_json(&v).context("--dps")?;
    }
    s.device22 = a.device22;
    for q in &a.quirks {
        parse_quirk(&mut s.quirks, q)?;
    }
    for f in &a.faults {
        parse_fault(&mut s.faults, f)?;
    }
    Ok(vec![s])
}

/// Writes the file readable by its owner only (it holds local keys), atomically.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        use std::os::unix::fs::PermissionsExt as _;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn range_text(specs: &[DeviceSpec]) -> String {
    let port = specs[0].port;
    let (first, last) = (specs[0].ip, specs[specs.len() - 1].ip);
    if first == last {
        format!("{first}:{port}")
    } else {
        format!("{first}..{last}:{port}")
    }
}

/// Runs `tuyactl sim`.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let specs = specs(&a)?;
    let run_for = a.run_for;
    let announce_interval = (!a.announce.is_zero()).then_some(a.announce);
    let announce_target = if a.broadcast {
        IpAddr::V4(Ipv4Addr::BROADCAST)
    } else {
        a.announce_target
    };
    if let Some(path) = &a.write_devices {
        let json = serde_json::to_vec_pretty(&tuya_sim::devices_json(&specs))?;
        write_private(path, &json)?;
    }
    // Each listener is a descriptor; keep headroom for clients and UDP.
    if let Err(e) = tuya_sim::raise_fd_limit(specs.len() as u64 + 256) {
        tracing::warn!(
            "cannot raise the open-files limit: {e} (try `ulimit -n {}`)",
            specs.len() + 256
        );
    }
    let json_log = a.json_log;
    let traffic: Option<tuya_sim::TrafficSink> = if a.quiet {
        None
    } else {
        Some(std::sync::Arc::new(move |ev: &TrafficEvent| {
            let line = if json_log {
                serde_json::to_string(ev).unwrap_or_default()
            } else {
                ev.to_string()
            };
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }))
    };
    let opts = SimOptions {
        announce_interval,
        announce_target,
        announce_port_override: a.announce_port,
        devinfo_listen: a.devinfo_listen,
        devinfo_unicast_port: a.devinfo_unicast_port,
        seed: a.seed,
        traffic,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = rt.block_on(serve(specs, opts, run_for));
    // Connection tasks still closing must not hold the exit up.
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn serve(
    specs: Vec<DeviceSpec>,
    opts: SimOptions,
    run_for: Option<Duration>,
) -> anyhow::Result<ExitCode> {
    let n = specs.len();
    let range = range_text(&specs);
    let sim = Simulator::start(specs, opts).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "listening: {n} device{} on {range}",
            if n == 1 { "" } else { "s" }
        )?;
        out.flush()?;
    }
    let sim = std::sync::Arc::new(sim);
    // Standard input is read on a plain thread: a blocking read inside the runtime would keep
    // it from shutting down on a signal while stdin stays open.
    let (tx, mut lines) = tokio::sync::mpsc::channel::<String>(64);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let control = {
        let sim = sim.clone();
        tokio::spawn(async move {
            // EOF on stdin is not a stop request: keep serving until a signal or --for.
            while let Some(line) = lines.recv().await {
                if let Some(answer) = tuya_sim::control::execute(&sim, &line) {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{answer}");
                    let _ = out.flush();
                }
            }
        })
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    let timer = async {
        match run_for {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = timer => {}
    }
    control.abort();
    let _ = control.await;
    if let Ok(sim) = std::sync::Arc::try_unwrap(sim) {
        sim.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quirk_and_fault_flags_parse_and_reject_unknowns() {
        let mut q = Quirks::default();
        for f in [
            "own-seq",
            "push-only=18,19",
            "multi-dp=half-apply",
            "min-gap=500",
            "encrypted-errors",
        ] {
            parse_quirk(&mut q, f).unwrap();
        }
        assert!(q.own_seq && q.encrypted_errors);
        assert_eq!(
            q.push_only_dps,
            vec![tuya_proto::DpId(18), tuya_proto::DpId(19)]
        );
        assert_eq!(q.multi_dp, MultiDp::HalfApply);
        assert_eq!(q.min_command_gap, Some(Duration::from_millis(500)));
        assert!(parse_quirk(&mut q, "own-sek").is_err());
        assert!(parse_quirk(&mut q, "multi-dp=maybe").is_err());

        let mut f = Faults::default();
        for s in [
            "drop=0.2",
            "delay=100",
            "close-after=3",
            "garbage",
            "bad-integrity",
            "refuse-for=2000",
        ] {
            parse_fault(&mut f, s).unwrap();
        }
        assert_eq!(f.drop_ratio, 0.2);
        assert_eq!(f.close_after_frames, Some(3));
        assert!(f.garbage && f.bad_integrity);
        assert!(parse_fault(&mut f, "drop=1.5").is_err());
        assert!(parse_fault(&mut f, "delay=soon").is_err());
    }

    #[test]
    fn firmware_flags_parse_and_reject_unknowns() {
        let mut f = Firmware::default();
        parse_firmware(&mut f, "strict").unwrap();
        assert_eq!(f, Firmware::strict());
        let mut f = Firmware::default();
        for s in [
            "max-clients=3",
            "strict-seq",
            "zero-key-is-no-key",
            "zero-key-handshakes=2",
            "pre-session-limit=3",
            "max-frame=4096",
            "close-on-bad-frame",
            "answers-devinfo=false",
        ] {
            parse_firmware(&mut f, s).unwrap();
        }
        assert_eq!(f.max_clients, 3);
        assert!(f.strict_seq && f.zero_key_is_no_key && f.close_on_bad_frame);
        assert_eq!(f.zero_key_handshakes, 2);
        assert_eq!((f.pre_session_limit, f.max_frame), (Some(3), Some(4096)));
        assert_eq!(f.answers_devinfo, Some(false));
        // Rules after "strict" adjust it.
        let mut f = Firmware::default();
        parse_firmware(&mut f, "strict").unwrap();
        parse_firmware(&mut f, "max-clients=1").unwrap();
        assert_eq!((f.max_clients, f.max_frame), (1, Some(4096)));
        for bad in [
            "strict-sequence",
            "max-clients=0",
            "max-clients=many",
            "max-clients=300",
            "max-frame",
            "answers-devinfo=maybe",
        ] {
            assert!(parse_firmware(&mut f, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn devices_file_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("tuyactl-sim-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("devices.json");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"[]").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"[]");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
