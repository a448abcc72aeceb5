//! `tuyactl get / set / monitor`: talk to devices named in devices.json (or given by flags)
//! through tuya-local's persistent connections.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use serde_json::{json, Map, Value};
use tuya_local::devices::{DeviceEntry, DevicesFile, Resolve, DEFAULT_PORT};
use tuya_local::{Device, DeviceConfig, Event, Fleet, FleetOptions};
use tuya_proto::dp::{dps_to_json, try_dps_from_json, DpIdError};
use tuya_proto::{DpId, DpValue, Dps, LocalKey, Version};

/// How to find the device: a devices.json entry, or explicit flags.
#[derive(clap::Args, Clone)]
pub struct Target {
    /// Device name or id in devices.json.
    #[arg(long = "device", value_name = "NAME|ID")]
    device: Option<String>,
    /// devices.json (tinytuya's format).
    #[arg(long, default_value = "devices.json")]
    devices: PathBuf,
    /// Device id (instead of devices.json; needs a key and --ip).
    #[arg(long, requires = "ip", conflicts_with = "device")]
    id: Option<String>,
    #[command(flatten)]
    key: crate::keyarg::KeyArgs,
    /// Device address.
    #[arg(long)]
    ip: Option<IpAddr>,
    /// Protocol version (3.1–3.5); detected when omitted.
    #[arg(long)]
    version: Option<Version>,
    /// TCP port.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Sub-device node id (cid) behind the gateway given by --id.
    #[arg(long, requires = "id")]
    cid: Option<String>,
    /// Seconds to wait for a connection and for each reply.
    #[arg(long, default_value = "5", value_parser = crate::seconds::parse)]
    timeout: Duration,
}

/// Arguments of `tuyactl get`.
#[derive(clap::Args)]
pub struct GetArgs {
    /// Device name or id in devices.json.
    #[arg(value_name = "DEVICE")]
    name: Option<String>,
    #[command(flatten)]
    target: Target,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Arguments of `tuyactl set`.
#[derive(clap::Args)]
pub struct SetArgs {
    /// `DEVICE DP=VALUE...` (the device is omitted with --device or --id). DP is a number or
    /// a code from the mapping; VALUE is true/false, an integer, JSON, or text.
    #[arg(value_name = "DEVICE|DP=VALUE", num_args = 0..)]
    args: Vec<String>,
    #[command(flatten)]
    target: Target,
    /// The DPs as one JSON object, e.g. '{"1":true,"2":50}'.
    #[arg(long)]
    raw: Option<String>,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Arguments of `tuyactl monitor`.
#[derive(clap::Args)]
pub struct MonitorArgs {
    /// Devices (names or ids) to watch; default: every device in devices.json.
    #[arg(value_name = "DEVICE")]
    names: Vec<String>,
    #[command(flatten)]
    target: Target,
    /// JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long = "for", value_name = "SECS", value_parser = crate::seconds::parse)]
    duration: Option<Duration>,
}

/// A device to talk to, with what devices.json says about it.
struct Resolved {
    config: DeviceConfig,
    cid: Option<String>,
    entry: DeviceEntry,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

impl Target {
    fn tune(&self, c: &mut DeviceConfig) -> anyhow::Result<()> {
        let t = self.timeout;
        c.connect_timeout = t;
        c.request_timeout = t;
        c.command_deadline = t * 3;
        if self.version.is_some() {
            c.version = self.version;
        }
        Ok(())
    }

    fn load(&self) -> anyhow::Result<DevicesFile> {
        crate::keyarg::warn_if_shared(&self.devices);
        DevicesFile::load(&self.devices).map_err(|e| {
            // The errors say "devices.json": name the file when it is another one.
            match self.devices.to_str() {
                Some("devices.json") => anyhow!("{e}"),
                _ => anyhow!("{}: {e}", self.devices.display()),
            }
        })
    }

    /// The device named `name` (positional) or by the flags.
    fn resolve(&self, name: Option<&str>) -> anyhow::Result<Resolved> {
        if let Some(id) = &self.id {
            let key = self.key.value()?.context(
                "--id needs the device's local key: --key, TUYA_LOCAL_KEY, --key - (standard input) or --key-file",
            )?;
            let key = LocalKey::new(&key)?;
            let ip = self.ip.context("--ip is required with --id")?;
            let mut c = DeviceConfig::new(id.clone(), key, SocketAddr::new(ip, self.port));
            c.gateway = self.cid.is_some();
            self.tune(&mut c)?;
            return Ok(Resolved {
                config: c,
                cid: self.cid.clone(),
                entry: DeviceEntry {
                    id: id.clone(),
                    ..DeviceEntry::default()
                },
            });
        }
        let Some(name) = self.device.as_deref().or(name) else {
            bail!("which device? give a name or id from devices.json, or --id/--key/--ip");
        };
        let file = self.load()?;
        self.resolve_in(&file, name)
    }

    fn resolve_in(&self, file: &DevicesFile, name: &str) -> anyhow::Result<Resolved> {
        let entry = file.find(name).with_context(|| {
            format!(
                "no device named {name:?} in {} (by name or id)",
                self.devices.display()
            )
        })?;
        let r = file.resolve(entry).map_err(|e| anyhow!("{e}"))?;
        let mut config = r.config;
        self.tune(&mut config)?;
        Ok(Resolved {
            config,
            cid: r.cid,
            entry: entry.clone(),
        })
    }
}

fn label(entry: &DeviceEntry) -> String {
    match &entry.name {
        Some(n) if *n != entry.id => format!("{n} ({})", entry.id),
        _ => entry.id.clone(),
    }
}

fn dp_line(entry: &DeviceEntry, id: DpId, v: &DpValue) -> String {
    match entry.dp_name(id) {
        Some(code) => format!("{id} {code} = {v}"),
        None => format!("{id} = {v}"),
    }
}

/// `{"1": true}` plus `"codes": {"switch_1": true}` when the mapping names DPs.
fn dps_json(entry: &DeviceEntry, dps: &Dps) -> (Value, Option<Value>) {
    let codes: Map<String, Value> = dps
        .iter()
        .filter_map(|(k, v)| Some((entry.dp_name(*k)?.to_string(), v.to_json())))
        .collect();
    (
        dps_to_json(dps),
        (!codes.is_empty()).then_some(Value::Object(codes)),
    )
}

fn print_state(r: &Resolved, version: Option<Version>, dps: &Dps, as_json: bool) {
    if as_json {
        let (d, codes) = dps_json(&r.entry, dps);
        let mut o = json!({"id": r.entry.id, "dps": d});
        if let Some(n) = &r.entry.name {
            o["name"] = n.clone().into();
        }
        if let Some(c) = &r.cid {
            o["cid"] = c.clone().into();
        }
        if let Some(v) = version {
            o["version"] = v.as_str().into();
        }
        if let Some(c) = codes {
            o["codes"] = c;
        }
        println!("{o}");
    } else {
        let v = version.map(|v| format!(" [{v}]")).unwrap_or_default();
        println!("{}{v}", label(&r.entry));
        for (k, val) in dps {
            println!("  {}", dp_line(&r.entry, *k, val));
        }
    }
}

/// What to add to a wrong-key error: how to fetch the device's new key.
fn rekey_hint(e: &tuya_local::Error, devices: &std::path::Path) -> Option<String> {
    if !matches!(e, tuya_local::Error::WrongKey(_)) {
        return None;
    }
    let store = tuya_cloud::Store::locate(None).ok();
    Some(tuya_cloud::store::rekey_advice(store.as_ref(), devices))
}

/// What to add when a version was forced and the device did not answer: maybe not its version.
fn version_hint(t: &Target, e: &tuya_local::Error) -> Option<String> {
    let v = t.version?;
    matches!(e, tuya_local::Error::Timeout(_))
        .then(|| format!("the device may not speak {v}: run without --version to detect it"))
}

/// The device's error, with the re-keying hint when it refused the key, or the version hint.
fn failure(t: &Target, r: &Resolved, e: tuya_local::Error) -> anyhow::Error {
    match rekey_hint(&e, &t.devices).or_else(|| version_hint(t, &e)) {
        Some(hint) => anyhow!("{}: {e}\nhint: {hint}", label(&r.entry)),
        None => anyhow!("{}: {e}", label(&r.entry)),
    }
}

async fn open(t: &Target, r: &Resolved) -> anyhow::Result<Device> {
    Device::connect(r.config.clone())
        .await
        .map_err(|e| failure(t, r, e))
}

/// Runs `tuyactl get`.
pub fn get(a: GetArgs) -> anyhow::Result<ExitCode> {
    let r = a.target.resolve(a.name.as_deref())?;
    runtime()?.block_on(async {
        let d = open(&a.target, &r).await?;
        let dps = match &r.cid {
            Some(cid) => d.child(cid.clone()).status().await,
            None => d.status().await,
        }
        .map_err(|e| failure(&a.target, &r, e))?;
        print_state(&r, d.version(), &dps, a.json);
        Ok(ExitCode::SUCCESS)
    })
}

/// Parses `DP=VALUE` assignments; DP may be a mapping code. Each value is checked against
/// the mapping (type, range, options, the DP list): real firmware ignores a value it cannot
/// use without a word, so the mistake is caught here, before anything is sent.
fn parse_assignments(entry: &DeviceEntry, args: &[String]) -> anyhow::Result<Dps> {
    let mut dps = Dps::new();
    for a in args {
        let (k, v) = a
            .split_once('=')
            .with_context(|| format!("{a:?} is not DP=VALUE (e.g. 1=true)"))?;
        let id = match k.trim().parse::<DpId>() {
            Ok(id) => id,
            Err(e @ DpIdError::OutOfRange(_)) => bail!("{e}"),
            Err(_) => *entry
                .known_dps()
                .iter()
                .find(|id| entry.dp_name(**id) == Some(k.trim()))
                .with_context(|| {
                    format!("unknown DP {k:?}: use a number or a code from the mapping")
                })?,
        };
        let value = DpValue::parse_cli(v);
        entry
            .check_value(id, &value)
            .map_err(|e| anyhow!("{e} (--raw sends values unchecked)"))?;
        dps.insert(id, value);
    }
    Ok(dps)
}

/// Runs `tuyactl set`.
pub fn set(a: SetArgs) -> anyhow::Result<ExitCode> {
    let named = a.target.device.is_some() || a.target.id.is_some();
    let (name, assigns) = match (named, a.args.split_first()) {
        (false, Some((first, rest))) => (Some(first.as_str()), rest),
        _ => (None, a.args.as_slice()),
    };
    let r = a.target.resolve(name)?;
    let mut dps = parse_assignments(&r.entry, assigns)?;
    if let Some(raw) = &a.raw {
        let v: Value = serde_json::from_str(raw).context("--raw is not JSON")?;
        if !v.is_object() {
            bail!("--raw must be a JSON object like '{{\"1\":true}}'");
        }
        dps.extend(try_dps_from_json(&v).context("--raw")?);
    }
    if dps.is_empty() {
        bail!("nothing to set: give DP=VALUE pairs (e.g. 1=true 2=50) or --raw");
    }
    runtime()?.block_on(async {
        let d = open(&a.target, &r).await?;
        let st = match &r.cid {
            Some(cid) => d.child(cid.clone()).set(dps).await,
            None => d.set(dps).await,
        }
        .map_err(|e| failure(&a.target, &r, e))?;
        print_state(&r, d.version(), &st, a.json);
        Ok(ExitCode::SUCCESS)
    })
}

/// What monitor knows about each connection: the entry, and the children to report on.
struct Watched {
    entry: DeviceEntry,
    /// cid → entry; empty map means "every child" for a gateway opened by name.
    children: BTreeMap<String, DeviceEntry>,
    /// Only these cids are reported (a sub-device was asked for by name).
    only_children: bool,
    connected: bool,
    /// The re-keying hint was printed.
    hinted: bool,
}

/// Runs `tuyactl monitor`.
pub fn monitor(a: MonitorArgs) -> anyhow::Result<ExitCode> {
    let mut watched: BTreeMap<String, (DeviceConfig, Watched)> = BTreeMap::new();
    if a.target.id.is_some() {
        let r = a.target.resolve(None)?;
        add(&mut watched, r, None);
    } else {
        let file = a.target.load()?;
        let names: Vec<String> = match (&a.target.device, a.names.is_empty()) {
            (Some(d), _) => vec![d.clone()],
            (None, false) => a.names.clone(),
            (None, true) => file
                .entries
                .iter()
                .filter(|e| !e.is_sub())
                .map(|e| e.id.clone())
                .collect(),
        };
        if names.is_empty() {
            bail!("{} lists no devices", a.target.devices.display());
        }
        for n in &names {
            let r = a.target.resolve_in(&file, n)?;
            let children: BTreeMap<String, DeviceEntry> = file
                .children_of(&r.config.id)
                .map(|c| (c.node_id.clone().unwrap_or_else(|| c.id.clone()), c.clone()))
                .collect();
            add(&mut watched, r, Some(children));
        }
    }
    let for_ = a.duration;
    runtime()?.block_on(run_monitor(watched, a.json, for_, &a.target.devices))
}

fn add(
    watched: &mut BTreeMap<String, (DeviceConfig, Watched)>,
    r: Resolved,
    children: Option<BTreeMap<String, DeviceEntry>>,
) {
    let id = r.config.id.clone();
    let slot = watched.entry(id).or_insert_with(|| {
        let entry = match &r.cid {
            Some(_) => DeviceEntry {
                id: r.config.id.clone(),
                ..DeviceEntry::default()
            },
            None => r.entry.clone(),
        };
        (
            r.config.clone(),
            Watched {
                entry,
                children: BTreeMap::new(),
                only_children: r.cid.is_some(),
                connected: false,
                hinted: false,
            },
        )
    });
    match &r.cid {
        Some(cid) => {
            slot.1.children.insert(cid.clone(), r.entry.clone());
        }
        None => {
            slot.1.entry = r.entry.clone();
            slot.1.only_children = false;
            if let Some(c) = children {
                slot.1.children.extend(c);
            }
        }
    }
}

async fn run_monitor(
    watched: BTreeMap<String, (DeviceConfig, Watched)>,
    as_json: bool,
    for_: Option<Duration>,
    devices: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let (configs, mut info): (Vec<_>, BTreeMap<String, Watched>) = {
        let mut cs = Vec::new();
        let mut m = BTreeMap::new();
        for (id, (mut c, w)) in watched {
            c.command_deadline = c.request_timeout * 2;
            cs.push(c);
            m.insert(id, w);
        }
        (cs, m)
    };
    let mut fleet = Fleet::open(configs, FleetOptions::default());
    let (child_tx, mut child_rx) = tokio::sync::mpsc::channel::<(String, String, Dps)>(64);
    let stop = async {
        match for_ {
            Some(d) => tokio::time::sleep(d).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some((id, cid, dps)) = child_rx.recv() => {
                if let Some(w) = info.get(&id) {
                    let entry = w.children.get(&cid).cloned().unwrap_or_default();
                    line(as_json, "state", &w.entry, Some((&cid, &entry)), &dps, None);
                }
            }
            e = fleet.next_event() => {
                let Some(e) = e else { break };
                let id = e.id.to_string();
                let Some(w) = info.get_mut(&id) else { continue };
                let Some(dev) = fleet.device(&id).cloned() else { continue };
                match e.event {
                    Event::Connected { version } => {
                        w.connected = true;
                        if !w.only_children {
                            line(as_json, "connected", &w.entry, None, &dev.state(), Some(&format!("{version}")));
                        } else {
                            note(as_json, "connected", &w.entry, &version.to_string());
                        }
                        for cid in w.children.keys() {
                            let (tx, child, id, cid) = (child_tx.clone(), dev.child(cid.clone()), id.clone(), cid.clone());
                            tokio::spawn(async move {
                                if let Ok(dps) = child.status().await {
                                    let _ = tx.send((id, cid, dps)).await;
                                }
                            });
                        }
                    }
                    Event::Disconnected { reason } => {
                        w.connected = false;
                        note(as_json, "disconnected", &w.entry, &reason);
                    }
                    Event::Update { cid, changed, pushed } => {
                        // Replies to our own reads are printed as state lines, and updates
                        // before the connect line are part of the full state it prints.
                        if !w.connected || !pushed {
                            continue;
                        }
                        match cid {
                            Some(c) => {
                                if w.only_children && !w.children.contains_key(&c) {
                                    continue;
                                }
                                let entry = w.children.get(&c).cloned().unwrap_or_default();
                                line(as_json, "change", &w.entry, Some((&c, &entry)), &changed, None);
                            }
                            None if w.only_children => {}
                            None => line(as_json, "change", &w.entry, None, &changed, None),
                        }
                    }
                    Event::Notice(n) => note(as_json, "notice", &w.entry, &n),
                    Event::Error(err) => {
                        tracing::info!(device = %id, "{err}");
                        if !w.connected {
                            note(as_json, "error", &w.entry, &err);
                            // Once per device: it will refuse the same key at every retry.
                            if let Some(hint) = dev.last_error().and_then(|e| rekey_hint(&e, devices)) {
                                if !w.hinted {
                                    w.hinted = true;
                                    note(as_json, "hint", &w.entry, &hint);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One state or change line.
fn line(
    as_json: bool,
    kind: &str,
    dev: &DeviceEntry,
    child: Option<(&str, &DeviceEntry)>,
    dps: &Dps,
    version: Option<&str>,
) {
    let named = child.map(|(_, e)| e).unwrap_or(dev);
    if as_json {
        let (d, codes) = dps_json(named, dps);
        let mut o = json!({"event": kind, "id": dev.id, "dps": d});
        if let Some(n) = &dev.name {
            o["name"] = n.clone().into();
        }
        if let Some((cid, e)) = child {
            o["cid"] = cid.into();
            if let Some(n) = &e.name {
                o["child_name"] = n.clone().into();
            }
        }
        if let Some(v) = version {
            o["version"] = v.into();
        }
        if let Some(c) = codes {
            o["codes"] = c;
        }
        println!("{o}");
        return;
    }
    let who = match child {
        Some((cid, e)) => format!(
            "{} via {}",
            e.name.clone().unwrap_or_else(|| cid.to_string()),
            label(dev)
        ),
        None => label(dev),
    };
    let mut text = format!("{who}: {kind}");
    if let Some(v) = version {
        text.push_str(&format!(" [{v}]"));
    }
    let items: Vec<String> = dps.iter().map(|(k, v)| dp_line(named, *k, v)).collect();
    if !items.is_empty() {
        text.push(' ');
        text.push_str(&items.join(", "));
    }
    println!("{text}");
}

fn note(as_json: bool, kind: &str, dev: &DeviceEntry, text: &str) {
    if as_json {
        let mut o = json!({"event": kind, "id": dev.id, "message": text});
        if let Some(n) = &dev.name {
            o["name"] = n.clone().into();
        }
        println!("{o}");
    } else {
        println!("{}: {kind}: {text}", label(dev));
    }
}
