//! `tuyactl cloud` as a user runs it, against the fakes of Tuya's cloud on 127.0.0.1 (which
//! verify every signature and sealed request) and `tuyactl sim`: QR login, the devices with
//! their keys into devices.json, the LAN scan, and `tuyactl get` working with the result.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;
use tuya_cloud_fake::account::{BULB_KEY, GW_KEY, PLUG_KEY, SENSOR_KEY};
use tuya_cloud_fake::app_fake::{self, FIRST_ACCESS, FIRST_REFRESH, QR_TOKEN, USER_CODE};
use tuya_cloud_fake::openapi_fake::{self, CLIENT_ID, SECRET};

const BIN: &str = env!("CARGO_BIN_EXE_tuyactl");
const KEYS: [&str; 4] = [PLUG_KEY, GW_KEY, BULB_KEY, SENSOR_KEY];

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tuyactl-cli-cloud-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out: Output = Command::new(BIN)
        .current_dir(dir)
        .env("TUYACTL_CONFIG_DIR", dir.join("config"))
        .env_remove("TUYA_USER_CODE")
        .env_remove("TUYA_CLIENT_SECRET")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn no_secret(text: &str) {
    for k in KEYS.iter().chain(&[FIRST_ACCESS, FIRST_REFRESH, SECRET]) {
        assert!(!text.contains(k), "a secret in the output:\n{text}");
    }
}

/// `tuyactl sim` with the fake account's plug (its id and key) on `ip`, until killed.
struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sim_plug(ip: &str) -> Sim {
    let mut child = Command::new(BIN)
        .args(["sim", "--id", "ebplug0000000001", "--key", PLUG_KEY])
        .args(["--version", "3.4", "--ip", ip, "--quiet", "--for", "120"])
        .args(["--dps", r#"{"1":true,"9":0,"19":1234}"#])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening"), "{line}");
    Sim(child)
}

#[test]
fn app_login_then_devices_json_that_get_uses_against_the_simulator() {
    let fake = app_fake::start();
    let dir = temp_dir("app");
    let base = fake.base().to_string();
    let login = [
        "cloud",
        "--endpoint",
        &base,
        "login",
        "--user-code",
        USER_CODE,
        "--poll-interval",
        "0.05",
        "--wait",
        "30",
    ];
    let (ok, out, err) = run(&dir, &login);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains(&format!("tuyaSmart--qrLogin?token={QR_TOKEN}")),
        "{out}"
    );
    assert!(out.contains('█'), "the QR code is drawn:\n{out}");
    assert!(out.contains("Logged in as me@example.com"), "{out}");
    no_secret(&out);
    no_secret(&err);
    let config = dir.join("config");
    let stored: Value =
        serde_json::from_slice(&std::fs::read(config.join("cloud.json")).unwrap()).unwrap();
    assert_eq!(stored["app"]["session"]["endpoint"], base, "kept as given");
    #[cfg(unix)]
    assert_eq!(
        (mode(&config), mode(&config.join("cloud.json"))),
        (0o700, 0o600)
    );

    // The session's own endpoint is used from now on: no --endpoint. The scan finds the
    // plug that `tuyactl sim` serves with the account's id and key.
    let sim = sim_plug("127.47.0.2");
    let first = [
        "cloud",
        "devices",
        "--write",
        "devices.json",
        "--scan",
        "--subnet",
        "127.47.0.2/32",
    ];
    let (ok, out, err) = run(&dir, &first);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("Desk plug (ebplug0000000001)"), "{out}");
    assert!(
        out.contains("switch_1") && out.contains("0..86400 s"),
        "{out}"
    );
    assert!(out.contains("sub-device of ebgateway0000001"), "{out}");
    assert!(out.contains("5 devices: 5 new"), "{out}");
    no_secret(&out);
    no_secret(&err);
    let file = dir.join("devices.json");
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    let plug_of = |file: &Path| -> Value {
        let list: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == "ebplug0000000001")
            .unwrap()
            .clone()
    };
    let plug = plug_of(&file);
    assert_eq!(plug["key"], PLUG_KEY);
    assert_eq!(plug["mapping"]["1"]["code"], "switch_1");
    assert_eq!(plug["product_id"], "prodplug");
    assert_eq!(plug["ip"], "127.47.0.2", "found by the scan");
    assert_eq!(plug["version"], "3.4", "found by the scan");

    let (ok, out, err) = run(&dir, &["get", "Desk plug", "--json"]);
    assert!(ok, "{out}\n{err}");
    let state: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(state["dps"]["1"], true);
    assert_eq!(state["dps"]["19"], 1234);
    assert_eq!(
        state["codes"]["switch_1"], true,
        "named from the cloud's mapping"
    );
    assert_eq!(state["version"], "3.4");

    // The user renames the plug and adds a field; the plug is re-paired elsewhere, so the
    // file now holds a key the device refuses.
    let mut list: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    for d in list.as_array_mut().unwrap() {
        if d["id"] == "ebplug0000000001" {
            d["name"] = "Kitchen plug".into();
            d["key"] = "0ld-key-0ld-key!".into();
            d["note"] = "mine".into();
        }
    }
    std::fs::write(&file, serde_json::to_vec_pretty(&list).unwrap()).unwrap();
    let (ok, out, err) = run(&dir, &["get", "Kitchen plug", "--timeout", "3"]);
    let all = format!("{out}{err}");
    assert!(!ok, "{all}");
    assert!(
        all.contains("Kitchen plug (ebplug0000000001): wrong local key")
            && all.contains("a cloud login is configured")
            && all.contains("`tuyactl cloud devices --write devices.json`"),
        "a wrong key names the device and the fix:\n{all}"
    );

    // monitor keeps retrying; it says once which device and what to run.
    let monitor = [
        "monitor",
        "Kitchen plug",
        "--json",
        "--timeout",
        "1",
        "--for",
        "5",
    ];
    let (_, out, err) = run(&dir, &monitor);
    let hints: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "hint")
        .collect();
    assert_eq!(hints.len(), 1, "{out}\n{err}");
    assert_eq!(hints[0]["id"], "ebplug0000000001");
    let msg = hints[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("tuyactl cloud devices --write devices.json"),
        "{msg}"
    );
    no_secret(&out);

    let (ok, out, err) = run(&dir, &["cloud", "devices", "--write", "devices.json"]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("new key (re-paired since the last run): Kitchen plug (ebplug0000000001)"),
        "{out}"
    );
    assert!(out.contains("devices.json.bak"), "{out}");
    no_secret(&out);
    no_secret(&err);
    let plug = plug_of(&file);
    assert_eq!(plug["name"], "Kitchen plug", "the user's name is kept");
    assert_eq!(plug["note"], "mine", "a field the user added is kept");
    assert_eq!(plug["key"], PLUG_KEY, "the new key");
    assert_eq!(plug["ip"], "127.47.0.2", "the scanned address is kept");
    #[cfg(unix)]
    assert_eq!(mode(&dir.join("devices.json.bak")), 0o600);
    let (ok, out, err) = run(&dir, &["get", "Kitchen plug", "--json"]);
    assert!(ok, "{out}\n{err}");
    drop(sim);

    let (ok, out, _) = run(&dir, &["cloud", "devices", "--json", "--show-keys"]);
    assert!(ok);
    let listed: Value = serde_json::from_str(out.trim()).unwrap();
    let keys: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["local_key"].as_str())
        .collect();
    assert!(keys.contains(&PLUG_KEY) && keys.contains(&GW_KEY), "{out}");
    let (ok, out, _) = run(&dir, &["cloud", "status"]);
    assert!(ok && out.contains("app: me@example.com"), "{out}");
    no_secret(&out);
    let (ok, _, _) = run(&dir, &["cloud", "logout"]);
    assert!(ok && !config.join("cloud.json").exists());
    let (ok, _, err) = run(&dir, &["cloud", "devices"]);
    assert!(!ok && err.contains("tuyactl cloud login"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn developer_setup_checks_the_secret_and_lists_the_project() {
    let fake = openapi_fake::start(true);
    let dir = temp_dir("dev");
    let base = fake.base().to_string();
    let setup = |secret: &str| {
        let out = Command::new(BIN)
            .current_dir(&dir)
            .env("TUYACTL_CONFIG_DIR", dir.join("config"))
            .env("TUYA_CLIENT_SECRET", secret)
            .args(["cloud", "--endpoint", &base, "setup", "--developer"])
            .args(["--client-id", CLIENT_ID, "--region", "eu"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let wrong = "not-the-secret-0123456789abcdef!";
    let (ok, text) = setup(wrong);
    assert!(
        !ok && text.contains("sign invalid: check the secret"),
        "{text}"
    );
    assert!(!text.contains(wrong), "{text}");
    assert!(!dir.join("config/cloud.json").exists(), "nothing stored");
    let (ok, text) = setup(SECRET);
    assert!(ok, "{text}");
    no_secret(&text);
    let (ok, out, err) = run(&dir, &["cloud", "devices", "--json"]);
    assert!(ok, "{out}\n{err}");
    let list: Value = serde_json::from_str(out.trim()).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 6, "five listed and the gateway's BLE child");
    assert!(list.iter().all(|d| d.get("local_key").is_none()));
    assert!(list
        .iter()
        .any(|d| d["id"] == "ebblelock0000001" && d["parent"] == "ebgateway0000001"));
    no_secret(&out);
    let (ok, out, _) = run(&dir, &["cloud", "status"]);
    assert!(
        ok && out.contains("developer: project fakeclientid00000001 in eu"),
        "{out}"
    );
    no_secret(&out);
    let _ = std::fs::remove_dir_all(&dir);
}
