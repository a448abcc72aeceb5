//! `tuyactl scan` against `tuyactl sim`: announcements heard, a force scan that identifies every
//! device, and `--update` restoring addresses and versions in devices.json.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tuyactl");

struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tuyactl sim` and waits for its "listening" line.
fn start_sim(args: &[&str]) -> Sim {
    let mut child = Command::new(BIN)
        .arg("sim")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.contains("listening") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("simulator starts within 30 s");
    Sim(child)
}

fn scan(args: &[&str]) -> Vec<Value> {
    // A scan that never ends is a failure here, not a stuck CI job (its own --timeout is far less).
    let out = assert_cmd::Command::new(BIN)
        .arg("scan")
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A simulated fleet started with `args`, writing its devices.json into a fresh folder named
/// after `name`: the simulator, the folder, the devices file, and every listed entry.
fn fleet(name: &str, args: &[&str]) -> (Sim, std::path::PathBuf, std::path::PathBuf, Vec<Value>) {
    let dir = std::env::temp_dir().join(format!("tuyactl-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let devices = dir.join("devices.json");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--write-devices", devices.to_str().unwrap()]);
    let sim = start_sim(&all);
    let listed: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&devices).unwrap()).unwrap();
    (sim, dir, devices, listed)
}

/// The entries that have an address: the simulated devices.
fn with_address(listed: &[Value]) -> Vec<&Value> {
    listed
        .iter()
        .filter(|d| d["ip"].as_str().is_some_and(|ip| !ip.is_empty()))
        .collect()
}

/// The scan's row for `d`, checked to have found it where and as devices.json says.
fn found_as_listed<'a>(out: &'a [Value], d: &Value) -> &'a Value {
    let row = out.iter().find(|r| r["id"] == d["id"]).unwrap();
    assert_eq!(
        (&row["ip"], &row["version"], &row["found"]),
        (&d["ip"], &d["version"], &Value::Bool(true)),
        "{row}"
    );
    row
}

/// Rewrites devices.json with every address and version forgotten.
fn forget_addresses(devices: &std::path::Path, listed: &[Value]) {
    let mut blank = listed.to_vec();
    for d in &mut blank {
        if d.get("ip").is_some() {
            d["ip"] = Value::String(String::new());
            d["version"] = Value::String(String::new());
        }
    }
    std::fs::write(devices, serde_json::to_vec_pretty(&blank).unwrap()).unwrap();
}

#[test]
fn scan_finds_and_identifies_a_simulated_fleet() {
    let (_sim, dir, devices, listed) = fleet(
        "cli-scan",
        &[
            "--fleet",
            "12",
            "--base-ip",
            "127.0.8.1",
            "--versions",
            "3.1,3.3,3.4,3.5",
            "--announce",
            "1",
        ],
    );
    let devices_s = devices.to_str().unwrap();
    let fleet = with_address(&listed);
    assert_eq!(fleet.len(), 12);

    // 1. Announcements.
    let out = scan(&[
        "--timeout",
        "4",
        "--json",
        "--devices",
        devices_s,
        "--bind",
        "127.0.0.1",
        "--probe-target",
        "127.0.0.1:7000",
    ]);
    for d in &fleet {
        let row = out
            .iter()
            .find(|r| r["id"] == d["id"])
            .unwrap_or_else(|| panic!("{} not listed", d["id"]));
        assert_eq!(row["found"], true, "{row}");
        assert_eq!(row["ip"], d["ip"]);
        assert_eq!(row["version"], d["version"], "{row}");
        assert_eq!(row["key_known"], true);
    }
    // Other simulators running at the same time (other tests) may be heard too.
    assert!(out.last().unwrap()["summary"]["found"].as_u64().unwrap() >= 12);

    // 2. Force scan with --update, after forgetting every address and version.
    forget_addresses(&devices, &listed);
    let out = scan(&[
        "--subnet",
        "127.0.8.0/27",
        "--json",
        "--devices",
        devices_s,
        "--probe-timeout",
        "400",
        "--update",
    ]);
    for d in &fleet {
        found_as_listed(&out, d);
    }
    let summary = &out.last().unwrap()["summary"];
    assert_eq!(summary["found"], 12);
    assert_eq!(summary["absent_hosts"], 30 - 12);
    let merged: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&devices).unwrap()).unwrap();
    for d in &fleet {
        let m = merged.iter().find(|m| m["id"] == d["id"]).unwrap();
        assert_eq!(
            (&m["ip"], &m["version"], &m["key"], &m["name"]),
            (&d["ip"], &d["version"], &d["key"], &d["name"])
        );
    }
    assert!(dir.join("devices.json.bak").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn force_scan_identifies_strict_firmware_and_31_devices() {
    // Every device closes the connection at the first frame it cannot read, and 3.5 devices
    // answer the unicast REQ_DEVINFO pass on their own addresses.
    let (_sim, dir, devices, listed) = fleet(
        "cli-scan-strict",
        &[
            "--fleet",
            "8",
            "--base-ip",
            "127.0.71.1",
            "--versions",
            "3.1,3.3,3.4,3.5",
            "--firmware",
            "strict",
            "--firmware",
            "max-clients=1",
            "--devinfo-unicast-port",
            "47071",
            "--announce",
            "0",
        ],
    );
    let devices_s = devices.to_str().unwrap();
    let fleet = with_address(&listed);
    assert_eq!(fleet.len(), 8);
    assert!(fleet.iter().any(|d| d["version"] == "3.1"));
    forget_addresses(&devices, &listed);
    let out = scan(&[
        "--subnet",
        "127.0.71.0/28",
        "--json",
        "--devices",
        devices_s,
        "--probe-timeout",
        "400",
        "--bind",
        "127.0.0.1",
        "--devinfo-port",
        "47071",
    ]);
    for d in &fleet {
        let row = found_as_listed(&out, d);
        // 3.5 devices answer the REQ_DEVINFO pass; the others take a TCP probe each key.
        let via = if d["version"] == "3.5" {
            "devinfo"
        } else {
            "tcp"
        };
        assert_eq!(row["via"], via, "{row}");
    }
    assert_eq!(out.last().unwrap()["summary"]["found"], 8);
    std::fs::remove_dir_all(&dir).unwrap();
}
