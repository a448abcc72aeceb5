//! `tuyactl demo`: a simulated home on loopback addresses — one device per protocol version
//! and a gateway with two sub-devices — driven end to end with tuya-local: connect, read,
//! switch, and watch a "physical" change arrive as a push. The devices are found the way a
//! user finds real ones: the demo starts from a devices.json holding ids and keys only, hears the
//! devices' announcements (asking the 3.5 device with REQ_DEVINFO), and merges in what it heard.

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use serde_json::json;
use tuya_local::devices::Resolve;
use tuya_local::discovery::{Listener, ListenerConfig};
use tuya_local::merge::Finding;
use tuya_local::{DevicesFile, Event, Fleet, FleetOptions, TaggedEvent};
use tuya_proto::{DpId, DpValue, Dps, Version};
use tuya_sim::{ChildSpec, DeviceSpec, SimOptions, Simulator};

/// Arguments of `tuyactl demo`.
#[derive(clap::Args)]
pub struct Args {
    /// First loopback address of the simulated home (devices take consecutive addresses).
    #[arg(long, default_value = "127.0.7.1")]
    base_ip: Ipv4Addr,
    /// Seconds any single step may take before the demo fails.
    #[arg(long, default_value = "10", value_parser = crate::seconds::parse)]
    step_timeout: Duration,
    /// Then keep the home running with its live web page until Ctrl-C.
    #[arg(long)]
    serve: bool,
    /// Where --serve serves the page.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
    http: std::net::SocketAddr,
}

fn dps(pairs: &[(u32, DpValue)]) -> Dps {
    pairs.iter().map(|(k, v)| (DpId(*k), v.clone())).collect()
}

/// A mapping as the cloud gives it: `(dp, code, type, values)`.
fn mapping(codes: &[(u32, &str, &str, serde_json::Value)]) -> serde_json::Value {
    codes
        .iter()
        .map(|(id, code, ty, values)| {
            (
                id.to_string(),
                json!({"code": code, "type": ty, "values": values}),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn boolean(dp: u32, code: &'static str) -> (u32, &'static str, &'static str, serde_json::Value) {
    (dp, code, "Boolean", json!({}))
}

/// The simulated home.
fn home(base: Ipv4Addr) -> Vec<DeviceSpec> {
    let ip = |n: u32| Ipv4Addr::from(u32::from(base) + n);
    let key = |n: u32| format!("demokey{n:09}");
    let mut v = Vec::new();
    let mut lamp = DeviceSpec::new("bfdemo0000000000lamp31", &key(1), Version::V31, ip(0));
    lamp.name = "Desk lamp".into();
    lamp.dps = dps(&[(1, DpValue::Bool(false))]);
    lamp.mapping = Some(mapping(&[boolean(1, "switch_1")]));
    v.push(lamp);
    let mut bulb = DeviceSpec::new("bfdemo0000000000bulb33", &key(2), Version::V33, ip(1));
    bulb.name = "Living room bulb".into();
    bulb.dps = dps(&[
        (20, DpValue::Bool(true)),
        (21, DpValue::String("white".into())),
        (22, DpValue::Integer(500)),
    ]);
    bulb.mapping = Some(mapping(&[
        boolean(20, "switch_led"),
        (
            21,
            "work_mode",
            "Enum",
            json!({"range": ["white", "colour", "scene"]}),
        ),
        (
            22,
            "bright_value_v2",
            "Integer",
            json!({"min": 10, "max": 1000, "step": 1, "scale": 0}),
        ),
    ]));
    v.push(bulb);
    let mut plug = DeviceSpec::new("bfdemo0000000000plug34", &key(3), Version::V34, ip(2));
    plug.name = "Kettle plug".into();
    plug.dps = dps(&[(1, DpValue::Bool(false)), (19, DpValue::Integer(0))]);
    plug.mapping = Some(mapping(&[
        boolean(1, "switch_1"),
        (
            19,
            "cur_power",
            "Integer",
            json!({"min": 0, "max": 99999, "scale": 1, "unit": "W"}),
        ),
    ]));
    v.push(plug);
    let mut cover = DeviceSpec::new("bfdemo000000000cover35", &key(4), Version::V35, ip(3));
    cover.name = "Bedroom blind".into();
    cover.dps = dps(&[
        (1, DpValue::String("stop".into())),
        (2, DpValue::Integer(0)),
    ]);
    cover.mapping = Some(mapping(&[
        (
            1,
            "control",
            "Enum",
            json!({"range": ["open", "stop", "close"]}),
        ),
        (
            2,
            "percent_control",
            "Integer",
            json!({"min": 0, "max": 100, "step": 1, "unit": "%"}),
        ),
    ]));
    v.push(cover);
    let mut gw = DeviceSpec::new("bfdemo00000000000gw34", &key(5), Version::V34, ip(4));
    gw.name = "Zigbee gateway".into();
    gw.children = vec![
        ChildSpec {
            cid: "a4c1380000000001".into(),
            name: "Hallway sensor".into(),
            dps: dps(&[(1, DpValue::Integer(215)), (2, DpValue::Integer(48))]),
        },
        ChildSpec {
            cid: "a4c1380000000002".into(),
            name: "Porch switch".into(),
            dps: dps(&[(1, DpValue::Bool(false))]),
        },
    ];
    v.push(gw);
    v
}

/// Runs `tuyactl demo`.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let step = a.step_timeout;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(demo(a.base_ip, step, a.serve.then_some(a.http)))
}

async fn within<T>(
    step: Duration,
    what: &str,
    f: impl std::future::Future<Output = T>,
) -> anyhow::Result<T> {
    tokio::time::timeout(step, f)
        .await
        .map_err(|_| anyhow!("demo step timed out: {what}"))
}

fn show(dps: &Dps, names: &serde_json::Value) -> String {
    dps.iter()
        .map(|(k, v)| {
            match names
                .get(k.to_string())
                .and_then(|m| m.get("code"))
                .and_then(|c| c.as_str())
            {
                Some(code) => format!("{code}={v}"),
                None => format!("{k}={v}"),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn demo(
    base: Ipv4Addr,
    step: Duration,
    serve: Option<std::net::SocketAddr>,
) -> anyhow::Result<ExitCode> {
    let specs = home(base);
    println!("Starting a simulated home on {base}..:");
    // Discovery first: a listener on loopback, devices announcing to it, and a REQ_DEVINFO
    // probe for the 3.5 device, which real firmware may keep silent until asked.
    let mut listener = Listener::bind(
        ListenerConfig::on(Ipv4Addr::LOCALHOST.into(), vec![0])
            .probe(devinfo_addr()?, Duration::from_millis(300)),
    )
    .await
    .context("cannot listen for announcements on 127.0.0.1")?;
    let port = listener.local_addrs()[0].port();
    let opts = SimOptions {
        announce_interval: Some(Duration::from_millis(500)),
        announce_port_override: Some(port),
        devinfo_listen: Some(devinfo_addr()?),
        ..SimOptions::default()
    };
    let sim = Simulator::start(specs.clone(), opts)
        .await
        .map_err(|e| anyhow!("cannot start the simulated home: {e}"))?;
    for s in &specs {
        println!("  {:<18} protocol {}", s.name, s.version);
        for c in &s.children {
            println!("    └ {:<14} sub-device {}", c.name, c.cid);
        }
    }
    // The devices.json a user would start from: names, ids and keys, no addresses or versions.
    let mut file = DevicesFile::parse(&tuya_sim::devices_json(&specs).to_string())
        .map_err(|e| anyhow!("simulator wrote no usable device list: {e}"))?;
    for e in &mut file.entries {
        if e.ip().is_some() {
            e.ip = Some(String::new());
            e.version = Some(json!(""));
        }
    }
    println!("\nListening for announcements (and asking 3.5 devices with REQ_DEVINFO)...");
    let mut findings = Vec::new();
    while findings.len() < specs.len() {
        let ev = within(step, "discovering the devices", listener.next())
            .await?
            .context("discovery ended")?;
        let d = ev.device();
        let Some(s) = specs.iter().find(|s| s.id == d.id) else {
            continue;
        };
        if findings.iter().any(|f: &Finding| f.id == d.id) {
            continue;
        }
        println!(
            "  found {:<18} at {:<12} protocol {}",
            s.name,
            d.ip,
            d.version.map(|v| v.as_str()).unwrap_or("?")
        );
        findings.push(Finding {
            id: d.id.clone(),
            ip: d.ip,
            version: d.version,
            product_key: d.product_key.clone(),
        });
    }
    drop(listener);
    file.merge_findings(&findings);
    let configs = file
        .entries
        .iter()
        .filter(|e| !e.is_sub())
        .map(|e| file.resolve(e).map(|r| r.config))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{e}"))?;
    let mut fleet = Fleet::open(configs, FleetOptions::default());

    println!("\nConnecting to every device...");
    let mut pending: Vec<&str> = specs.iter().map(|s| s.id.as_str()).collect();
    while !pending.is_empty() {
        let e = within(step, "connecting", fleet.next_event())
            .await?
            .context("connections ended")?;
        match e.event {
            Event::Connected { version } => {
                pending.retain(|id| **id != *e.id);
                let s = spec(&specs, &e.id)?;
                let d = fleet.device(&e.id).context("device handle")?;
                let names = s.mapping.clone().unwrap_or_default();
                println!(
                    "  ✓ {:<18} [{version}] {}",
                    s.name,
                    match s.children.len() {
                        0 => show(&d.state(), &names),
                        n => format!("gateway with {n} sub-devices"),
                    }
                );
                for c in &s.children {
                    let st = within(
                        step,
                        "reading a sub-device",
                        d.child(c.cid.clone()).status(),
                    )
                    .await?
                    .map_err(|e| anyhow!("{}: {e}", c.name))?;
                    println!(
                        "      └ {:<14} {}",
                        c.name,
                        show(&st, &serde_json::Value::Null)
                    );
                }
            }
            Event::Error(err) => bail!("{}: {err}", spec(&specs, &e.id)?.name),
            _ => {}
        }
    }

    // Handles cloned for commands live in this block only: once the fleet is dropped, no
    // connection may stay open (a simulated device serves one client, the page's bridge next).
    let gw = &specs[4];
    {
        println!("\nSwitching things...");
        let lamp = &specs[0];
        let d = fleet.device(&lamp.id).context("lamp")?.clone();
        let st = within(step, "switching the lamp", d.set_dp(DpId(1), true))
            .await?
            .map_err(|e| anyhow!("{}: {e}", lamp.name))?;
        check(&sim, lamp, DpId(1), &DpValue::Bool(true))?;
        println!(
            "  → {:<18} switch_1=true acknowledged; now {}",
            lamp.name,
            show(&st, &lamp.mapping.clone().unwrap_or_default())
        );
        let bulb = &specs[1];
        let d = fleet.device(&bulb.id).context("bulb")?.clone();
        let want = dps(&[
            (21, DpValue::String("colour".into())),
            (22, DpValue::Integer(800)),
        ]);
        let st = within(step, "setting the bulb", d.set(want))
            .await?
            .map_err(|e| anyhow!("{}: {e}", bulb.name))?;
        check(&sim, bulb, DpId(22), &DpValue::Integer(800))?;
        println!(
            "  → {:<18} two DPs in one command acknowledged; now {}",
            bulb.name,
            show(&st, &bulb.mapping.clone().unwrap_or_default())
        );
        let gw = &specs[4];
        let porch = &gw.children[1];
        let d = fleet.device(&gw.id).context("gateway")?.clone();
        within(
            step,
            "switching a sub-device",
            d.child(porch.cid.clone())
                .set(dps(&[(1, DpValue::Bool(true))])),
        )
        .await?
        .map_err(|e| anyhow!("{}: {e}", porch.name))?;
        let now = sim
            .device(&gw.id)
            .and_then(|h| h.child_dps(&porch.cid))
            .unwrap_or_default();
        if now.get(&DpId(1)) != Some(&DpValue::Bool(true)) {
            bail!("{} did not switch on", porch.name);
        }
        println!("  → {:<18} switched on through the gateway", porch.name);
    }

    // The pushes confirming our own commands were shown above as acknowledged state.
    while fleet.try_next_event().is_some() {}

    println!("\nSomeone switches the kettle on by hand, and the hallway warms up...");
    let plug = &specs[2];
    let h = sim.device(&plug.id).context("simulated plug")?;
    h.set_dp(DpId(1), DpValue::Bool(true));
    h.set_dp(DpId(19), DpValue::Integer(2150));
    sim.device(&gw.id)
        .context("simulated gateway")?
        .set_child_dp(&gw.children[0].cid, DpId(1), DpValue::Integer(231));
    let (mut kettle, mut sensor) = (false, false);
    while !(kettle && sensor) {
        let TaggedEvent { id, event } = within(step, "waiting for pushes", fleet.next_event())
            .await?
            .context("connections ended")?;
        if let Event::Update {
            cid,
            changed,
            pushed: true,
        } = event
        {
            let s = spec(&specs, &id)?;
            let who = match &cid {
                Some(c) => s
                    .children
                    .iter()
                    .find(|x| x.cid == *c)
                    .map_or(c.as_str(), |x| x.name.as_str()),
                None => s.name.as_str(),
            };
            println!(
                "  ← {who:<18} pushed {}",
                show(
                    &changed,
                    &if cid.is_some() {
                        serde_json::Value::Null
                    } else {
                        s.mapping.clone().unwrap_or_default()
                    }
                )
            );
            let f = fleet.device(&id).context("device")?;
            kettle |=
                id.as_ref() == plug.id && f.state().get(&DpId(19)) == Some(&DpValue::Integer(2150));
            sensor |= cid.as_deref() == Some(gw.children[0].cid.as_str())
                && changed.get(&DpId(1)) == Some(&DpValue::Integer(231));
        }
    }
    println!("\nDemo complete: 5 devices (protocols 3.1, 3.3, 3.4, 3.5 and a gateway with 2 sub-devices) read, switched and watched.");
    // The simulated devices serve one client at a time: the page's bridge takes over.
    drop(fleet);
    match serve {
        Some(addr) => crate::demo_page::serve(sim, &specs, &file, addr).await?,
        None => {
            sim.shutdown().await;
            println!(
                "\nSee it live in a browser: `tuyactl demo --serve` keeps this home running with \
                 its web page at http://127.0.0.1:8080/ until Ctrl-C."
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn spec<'a>(specs: &'a [DeviceSpec], id: &str) -> anyhow::Result<&'a DeviceSpec> {
    specs
        .iter()
        .find(|s| s.id == id)
        .with_context(|| format!("event from unknown device {id}"))
}

/// The simulator's own view confirms the device really changed.
fn check(sim: &Simulator, s: &DeviceSpec, dp: DpId, want: &DpValue) -> anyhow::Result<()> {
    let now = sim.device(&s.id).map(|h| h.dps()).unwrap_or_default();
    if now.get(&dp) != Some(want) {
        bail!(
            "{}: DP {dp} is {:?} on the device, expected {want}",
            s.name,
            now.get(&dp)
        );
    }
    Ok(())
}

/// A loopback UDP port for the simulator's REQ_DEVINFO listener, chosen once per run.
fn devinfo_addr() -> anyhow::Result<std::net::SocketAddr> {
    static ADDR: std::sync::OnceLock<std::net::SocketAddr> = std::sync::OnceLock::new();
    if let Some(a) = ADDR.get() {
        return Ok(*a);
    }
    let probe = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot find a free UDP port on 127.0.0.1")?;
    let a = probe.local_addr()?;
    drop(probe);
    Ok(*ADDR.get_or_init(|| a))
}
