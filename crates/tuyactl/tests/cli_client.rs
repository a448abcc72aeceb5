//! `tuyactl get / set / monitor / demo` run as a user would, against simulated devices started
//! in this process.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use tuya_proto::{DpId, DpValue, Version};
use tuya_sim::{ChildSpec, DeviceSpec, SimOptions, Simulator};

const KEY: &str = "0123456789abcdef";

struct Home {
    rt: tokio::runtime::Runtime,
    sim: Option<Simulator>,
    devices: PathBuf,
}

impl Drop for Home {
    fn drop(&mut self) {
        if let Some(s) = self.sim.take() {
            self.rt.block_on(s.shutdown());
        }
        let _ = std::fs::remove_file(&self.devices);
    }
}

fn ip(block: u8, n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 45, block, n)
}

fn spec(id: &str, name: &str, v: Version, ip: Ipv4Addr) -> DeviceSpec {
    let mut s = DeviceSpec::new(id, KEY, v, ip);
    s.name = name.into();
    s.dps = [
        (DpId(1), DpValue::Bool(false)),
        (DpId(2), DpValue::Integer(10)),
    ]
    .into_iter()
    .collect();
    s.mapping = Some(serde_json::json!({"1": {"code": "switch_1"}, "2": {"code": "bright"}}));
    s
}

/// Starts the simulator on its own runtime and writes a devices.json for it.
fn home(tag: &str, specs: Vec<DeviceSpec>) -> Home {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt
        .block_on(Simulator::start(specs.clone(), SimOptions::default()))
        .unwrap();
    let devices = std::env::temp_dir().join(format!(
        "tuyactl-cli-client-{tag}-{}.json",
        std::process::id()
    ));
    std::fs::write(&devices, tuya_sim::devices_json(&specs).to_string()).unwrap();
    // Private, as tuyactl writes it: a shared one draws a warning (tested in cli_bad_input.rs).
    std::fs::set_permissions(
        &devices,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    Home {
        rt,
        sim: Some(sim),
        devices,
    }
}

impl Home {
    fn sim(&self) -> &Simulator {
        self.sim.as_ref().unwrap()
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_tuyactl"))
            .args(args)
            .arg("--devices")
            .arg(&self.devices)
            .args(["--timeout", "3"])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let (ok, out, err) = self.run(args);
        assert!(ok, "tuyactl {args:?} failed: {err}");
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

#[test]
fn get_and_set_by_name_on_every_version() {
    let versions = [
        Version::V31,
        Version::V32,
        Version::V33,
        Version::V34,
        Version::V35,
    ];
    let specs: Vec<_> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            spec(
                &format!("cli-dev-{i}"),
                &format!("Lamp {i}"),
                *v,
                ip(1, i as u8 + 1),
            )
        })
        .collect();
    let h = home("versions", specs.clone());
    for (s, v) in specs.iter().zip(versions) {
        let got = h.json(&["get", &s.name, "--json"]);
        assert_eq!(got["id"], s.id.as_str());
        assert_eq!(got["dps"]["1"], false, "{v}");
        assert_eq!(got["dps"]["2"], 10, "{v}");
        assert_eq!(got["codes"]["bright"], 10, "{v}");
        let set = h.json(&["set", &s.name, "1=true", "bright=55", "--json"]);
        assert_eq!(set["dps"]["1"], true, "{v}");
        assert_eq!(set["dps"]["2"], 55, "{v}");
        let dps = h.sim().device(&s.id).unwrap().dps();
        assert_eq!(dps[&DpId(1)], DpValue::Bool(true), "{v}");
        assert_eq!(dps[&DpId(2)], DpValue::Integer(55), "{v}");
        // by id, with --raw, text output with DP names
        let (ok, out, err) = h.run(&["set", &s.id, "--raw", r#"{"2":7}"#]);
        assert!(ok, "{err}");
        assert!(out.contains("2 bright = 7"), "{out}");
    }
}

#[test]
fn flags_sub_devices_and_errors() {
    let mut gw = spec("cli-gw", "Hub", Version::V35, ip(2, 1));
    gw.dps.clear();
    gw.children = vec![ChildSpec {
        cid: "cidx".into(),
        name: "Porch".into(),
        dps: [(DpId(1), DpValue::Bool(false))].into_iter().collect(),
    }];
    let plain = spec("cli-plain", "Plain", Version::V33, ip(2, 2));
    let h = home("flags", vec![gw, plain]);
    // explicit flags, version detected
    let (ok, out, err) = h.run(&[
        "get",
        "--id",
        "cli-plain",
        "--key",
        KEY,
        "--ip",
        "127.45.2.2",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("[3.3]") && out.contains("2 = 10"), "{out}");
    let (ok, _, err) = h.run(&[
        "set",
        "--id",
        "cli-plain",
        "--key",
        KEY,
        "--ip",
        "127.45.2.2",
        "--version",
        "3.3",
        "2=99",
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        h.sim().device("cli-plain").unwrap().dps()[&DpId(2)],
        DpValue::Integer(99)
    );
    // a sub-device by name goes through its gateway
    let got = h.json(&["set", "Porch", "1=true", "--json"]);
    assert_eq!(got["cid"], "cidx");
    assert_eq!(got["dps"]["1"], true);
    assert_eq!(
        h.sim().device("cli-gw").unwrap().child_dps("cidx").unwrap()[&DpId(1)],
        DpValue::Bool(true)
    );
    // failures: non-zero, one clear line
    let (ok, _, err) = h.run(&["get", "Nobody"]);
    assert!(!ok);
    assert!(err.contains("no device named \"Nobody\""), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (ok, _, err) = h.run(&[
        "get",
        "--id",
        "cli-plain",
        "--key",
        "fedcba9876543210",
        "--ip",
        "127.45.2.2",
        "--version",
        "3.3",
    ]);
    assert!(!ok);
    assert!(err.contains("key"), "{err}");
    let (ok, _, err) = h.run(&["set", "Plain", "1"]);
    assert!(!ok);
    assert!(err.contains("DP=VALUE"), "{err}");

    // The key kept out of `ps`: from a file (a shared one is warned about), the environment,
    // or standard input.
    let flags = [
        "get",
        "--id",
        "cli-plain",
        "--ip",
        "127.45.2.2",
        "--version",
        "3.3",
    ];
    let key_file = std::env::temp_dir().join(format!("tuyactl-key-{}", std::process::id()));
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let by_file = |mode: u32| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let mut args = flags.to_vec();
        args.extend(["--key-file", key_file.to_str().unwrap()]);
        h.run(&args)
    };
    let (ok, out, err) = by_file(0o600);
    assert!(ok && out.contains("2 = 99"), "{out}{err}");
    assert!(!err.contains("warning"), "{err}");
    #[cfg(unix)]
    {
        let (ok, _, err) = by_file(0o644);
        assert!(ok, "{err}");
        assert!(
            err.contains("can be read by other users") && err.contains("chmod 600"),
            "{err}"
        );
    }
    let _ = std::fs::remove_file(&key_file);
    let out = Command::new(env!("CARGO_BIN_EXE_tuyactl"))
        .args(flags)
        .env("TUYA_LOCAL_KEY", KEY)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = assert_cmd::Command::cargo_bin("tuyactl")
        .unwrap()
        .args(flags)
        .args(["--key", "-"])
        .env_remove("TUYA_LOCAL_KEY")
        .write_stdin(format!("{KEY}\n"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 = 99"));
    let (ok, _, err) = h.run(&flags);
    assert!(
        !ok && err.contains("--key-file"),
        "no key at all names the ways to give one: {err}"
    );
}

#[test]
fn monitor_prints_state_then_changes_as_json_lines() {
    let specs = vec![
        spec("mon-a", "Mon A", Version::V31, ip(3, 1)),
        spec("mon-b", "Mon B", Version::V34, ip(3, 2)),
    ];
    let h = home("monitor", specs);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tuyactl"))
        .args(["monitor", "--json", "--for", "9", "--devices"])
        .arg(&h.devices)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&l) {
                let _ = tx.send(v);
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("monitor line")
    };
    let mut connected = Vec::new();
    while connected.len() < 2 {
        let v = next();
        if v["event"] == "connected" {
            assert_eq!(v["dps"]["2"], 10, "{v}");
            connected.push(v["id"].as_str().unwrap().to_string());
        }
    }
    connected.sort();
    assert_eq!(connected, ["mon-a", "mon-b"]);
    h.sim()
        .device("mon-b")
        .unwrap()
        .set_dp(DpId(2), DpValue::Integer(321));
    loop {
        let v = next();
        if v["event"] == "change" {
            assert_eq!(v["id"], "mon-b");
            assert_eq!(v["name"], "Mon B");
            assert_eq!(v["dps"]["2"], 321);
            break;
        }
    }
    // the device drops off and comes back: both are reported, and the state is printed again
    let b = h.sim().device("mon-b").unwrap();
    b.set_online(false);
    loop {
        let v = next();
        if v["event"] == "disconnected" {
            assert_eq!(v["id"], "mon-b");
            break;
        }
    }
    b.set_dp(DpId(1), DpValue::Bool(true));
    b.set_online(true);
    loop {
        let v = next();
        if v["event"] == "connected" {
            assert_eq!(v["id"], "mon-b");
            assert_eq!(v["dps"]["1"], true, "{v}");
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success());
}

#[test]
fn demo_exits_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_tuyactl"))
        .args(["demo", "--base-ip", "127.45.200.1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Demo complete"), "{text}");
    assert!(
        text.contains("Hallway sensor") && text.contains("pushed"),
        "{text}"
    );
    assert!(
        text.contains("tuyactl demo --serve"),
        "it says how to see the page:\n{text}"
    );
}

#[test]
fn demo_serve_keeps_the_home_and_its_page_until_stopped() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tuyactl"))
        .args(["demo", "--serve", "--base-ip", "127.45.201.1"])
        .args(["--http", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let _ = tx.send(line);
        }
    });
    let url = format!("http://127.0.0.1:{port}/");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("the demo says where the page is");
        if line.contains(&format!("open {url}")) {
            break;
        }
    }
    // Every device of the home online behind the page, the gateway's children known.
    let mut last = Value::Null;
    while std::time::Instant::now() < deadline {
        if let Ok(r) = ureq::get(&format!("{url}api/devices")).call() {
            last = serde_json::from_str(&r.into_string().unwrap()).unwrap();
            let all = last.as_array().unwrap();
            let kids = all
                .iter()
                .filter_map(|d| d["children"].as_array())
                .flatten();
            if all.len() == 5
                && all.iter().all(|d| d["online"] == true)
                && kids.clone().count() == 2
                && kids
                    .into_iter()
                    .all(|c| c["dps"].as_object().is_some_and(|m| !m.is_empty()))
            {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let all = last.as_array().expect("a device list");
    assert!(all.iter().all(|d| d["online"] == true), "{last}");
    let lamp = all.iter().find(|d| d["name"] == "Desk lamp").unwrap();
    assert_eq!(lamp["dps"]["1"], true, "the demo switched it on");
    let page = ureq::get(&url).call().unwrap().into_string().unwrap();
    assert!(page.contains("app.js"), "{page}");
    // SIGTERM stops it cleanly.
    #[cfg(unix)]
    {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
    #[cfg(not(unix))]
    {
        let _ = child.kill();
    }
}
