//! `tuyactl import`: other tools' key files into devices.json — a private file and backup,
//! re-keys reported, the user's names kept, no key shown without `--show-keys`, `--dry-run`
//! writing nothing, and clear errors.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use assert_cmd::Command;
use serde_json::Value;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tuya-devices/tests/samples");

/// Every key in the samples (as imported), and fragments of them long enough to be telling.
const KEYS: [&str; 6] = [
    "q'w\"e<r>t&y12345",
    "ab<cd>ef&gh\"ij'k",
    "tooshort!",
    "a1b2c3d4e5f6g7h8",
    "it's{}[]:,!?#a1b",
    "a'b\"c`d\\e&f<g>h1",
];
const FRAGMENTS: [&str; 6] = ["q'w", "ef&gh", "tooshort", "a1b2c3", "#a1b", "f<g>h1"];

/// A fresh, empty folder of its own for each test.
fn tmpdir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "tuyactl-import-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sample(name: &str) -> PathBuf {
    Path::new(SAMPLES).join(name)
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn import(args: &[&str], devices: &Path) -> Out {
    let out = Command::cargo_bin("tuyactl")
        .unwrap()
        .arg("import")
        .args(args)
        .arg("--devices")
        .arg(devices)
        .output()
        .unwrap();
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn assert_no_keys(o: &Out) {
    for k in KEYS.iter().chain(&FRAGMENTS) {
        assert!(!o.stdout.contains(k), "stdout shows {k:?}:\n{}", o.stdout);
        assert!(!o.stderr.contains(k), "stderr shows {k:?}:\n{}", o.stderr);
    }
}

fn read(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn key_of(v: &Value, id: &str) -> String {
    let e = v
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap();
    e["key"].as_str().unwrap().to_string()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn fresh_import_writes_a_private_file_and_shows_no_key() {
    let d = tmpdir("fresh");
    let dev = d.join("devices.json");
    let list_app = sample("tuya-cli-list-app.json");
    let o = import(&["tuya-cli", list_app.to_str().unwrap()], &dev);
    assert!(o.ok, "{}", o.stderr);
    assert!(o.stdout.contains("3 devices read"), "{}", o.stdout);
    assert!(
        o.stdout.contains("added: Desk lamp (0120015260091453a970)"),
        "{}",
        o.stdout
    );
    // The wrong-length key is named by its device, and the HTML-escaped one was decoded.
    assert!(
        o.stderr
            .contains("warning: Old plug (bf3a00000000000000bb): the key is 9 characters"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains("It's mine (bf3a00000000000000aa): the key was HTML-escaped"),
        "{}",
        o.stderr
    );
    assert_no_keys(&o);
    let v = read(&dev);
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert_eq!(key_of(&v, "0120015260091453a970"), KEYS[0]);
    assert_eq!(key_of(&v, "bf3a00000000000000aa"), KEYS[1]);
    assert_eq!(key_of(&v, "bf3a00000000000000bb"), KEYS[2]);
    #[cfg(unix)]
    assert_eq!(mode(&dev), 0o600);
    assert!(!d.join("devices.json.bak").exists(), "nothing to back up");
    // The same file again changes nothing and writes nothing.
    let o = import(&["tuya-cli", list_app.to_str().unwrap()], &dev);
    assert!(
        o.ok && o.stdout.contains("already up to date"),
        "{}",
        o.stdout
    );
    assert!(!d.join("devices.json.bak").exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_changed_key_is_reported_with_a_private_backup_and_the_users_names_survive() {
    let d = tmpdir("rekey");
    let dev = d.join("devices.json");
    let wizard = sample("tuya-cli-wizard.txt");
    assert!(import(&["tuya-cli", wizard.to_str().unwrap()], &dev).ok);
    // The user renames a device and adds a field of their own.
    let mut v = read(&dev);
    for e in v.as_array_mut().unwrap() {
        if e["id"] == "0120015260091453a970" {
            e["name"] = "Reading light".into();
            e["room"] = "study".into();
        }
    }
    std::fs::write(&dev, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let before = std::fs::read(&dev).unwrap();
    // The device was re-paired: tuya-cli now lists another key (and its own name).
    let new_key = "N3w!k3y<&>\"'{}[]";
    let changed = d.join("wizard2.txt");
    std::fs::write(
        &changed,
        format!(
            "[\n  {{ name: 'Desk lamp', id: '0120015260091453a970', key: `{new_key}` }},\n  {{ name: 'New one', id: 'bfnew000000000000000', key: 'zzzzzzzzzzzzzzzz' }}\n]\n"
        ),
    )
    .unwrap();
    let o = import(&["tuya-cli", changed.to_str().unwrap()], &dev);
    assert!(o.ok, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("key changed: re-paired? Reading light (0120015260091453a970)"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("added: New one (bfnew000000000000000)"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains("kept, not in the import: Quotes (bf3a00000000000000cc)"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("previous file kept as"), "{}", o.stdout);
    assert!(
        !o.stdout.contains(new_key) && !o.stdout.contains("N3w"),
        "{}",
        o.stdout
    );
    assert_no_keys(&o);
    let bak = d.join("devices.json.bak");
    assert_eq!(std::fs::read(&bak).unwrap(), before);
    let v = read(&dev);
    assert_eq!(key_of(&v, "0120015260091453a970"), new_key);
    let lamp = v
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "0120015260091453a970")
        .unwrap();
    assert_eq!(lamp["name"], "Reading light");
    assert_eq!(lamp["room"], "study");
    assert_eq!(
        v.as_array().unwrap().len(),
        6,
        "devices the import does not list are kept"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&dev), 0o600);
        assert_eq!(mode(&bak), 0o600);
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn keys_only_with_show_keys() {
    let d = tmpdir("show");
    let dev = d.join("devices.json");
    let wizard = sample("tuya-cli-wizard.txt");
    let o = import(
        &["tuya-cli", wizard.to_str().unwrap(), "--dry-run", "--json"],
        &dev,
    );
    assert!(o.ok, "{}", o.stderr);
    assert_no_keys(&o);
    let s: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(s["source"], "tuya-cli-wizard");
    assert_eq!(s["imported"], 5);
    assert_eq!(s["added"].as_array().unwrap().len(), 5);
    assert!(s["added"][0].get("key").is_none());
    assert_eq!(s["warnings"].as_array().unwrap().len(), 1);
    let o = import(
        &[
            "tuya-cli",
            wizard.to_str().unwrap(),
            "--dry-run",
            "--show-keys",
        ],
        &dev,
    );
    assert!(o.ok);
    for k in &KEYS[3..] {
        assert!(o.stdout.contains(k), "{k:?} not shown:\n{}", o.stdout);
    }
    let o = import(
        &[
            "tuya-cli",
            wizard.to_str().unwrap(),
            "--dry-run",
            "--json",
            "--show-keys",
        ],
        &dev,
    );
    let s: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(s["added"][0]["key"], KEYS[3]);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn dry_run_writes_nothing() {
    let d = tmpdir("dry");
    let dev = d.join("devices.json");
    let devices = sample("tinytuya-devices.json");
    let o = import(&["tinytuya", devices.to_str().unwrap(), "--dry-run"], &dev);
    assert!(o.ok, "{}", o.stderr);
    assert!(
        o.stdout.contains("3 added") && o.stdout.contains("dry run"),
        "{}",
        o.stdout
    );
    assert!(!dev.exists(), "a dry run creates nothing");
    assert!(import(&["tinytuya", devices.to_str().unwrap()], &dev).ok);
    let before = std::fs::read(&dev).unwrap();
    // A snapshot would change the key and the address; a dry run only says so.
    let snap = sample("tinytuya-snapshot.json");
    let o = import(&["tinytuya", snap.to_str().unwrap(), "--dry-run"], &dev);
    assert!(o.ok, "{}", o.stderr);
    assert!(
        o.stdout.contains("key changed: re-paired? Küche Licht"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains("address/version seen on the LAN: Küche Licht"),
        "{}",
        o.stdout
    );
    assert_eq!(std::fs::read(&dev).unwrap(), before);
    assert!(!d.join("devices.json.bak").exists());
    // For real: the snapshot's address and version win.
    assert!(import(&["tinytuya", snap.to_str().unwrap()], &dev).ok);
    let v = read(&dev);
    let bulb = v
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "bf0123456789abcdefgh")
        .unwrap();
    assert_eq!(
        (&bulb["ip"], &bulb["version"]),
        (&Value::from("192.0.2.20"), &Value::from("3.5"))
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn standard_input_and_tuya_raw() {
    let d = tmpdir("stdin");
    let dev = d.join("devices.json");
    let out = Command::cargo_bin("tuyactl")
        .unwrap()
        .args(["import", "tinytuya", "-", "--json", "--devices"])
        .arg(&dev)
        .write_stdin(std::fs::read(sample("tuya-raw.json")).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["source"], "tinytuya-raw");
    assert_eq!(s["written"], true);
    let v = read(&dev);
    assert_eq!(v[1]["parent"], "eb0123456789gatewayx");
    assert!(
        v[0].get("ip").is_none(),
        "the cloud's public address is not imported"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bad_input_fails_clearly_without_echoing_a_key() {
    let d = tmpdir("bad");
    let dev = d.join("devices.json");
    let bad = d.join("bad.txt");
    std::fs::write(
        &bad,
        "[\n  { name: 'A', id: 'a', key: 'Zq9!secretk3y001' 'x' }\n]\n",
    )
    .unwrap();
    let o = import(&["tuya-cli", bad.to_str().unwrap()], &dev);
    assert!(!o.ok);
    assert!(
        o.stderr.contains(
            "bad.txt: line 2, column 49: expected `,` or `}` after a property, found `'`"
        ),
        "{}",
        o.stderr
    );
    assert!(
        !o.stderr.contains("Zq9") && !o.stdout.contains("Zq9"),
        "{}",
        o.stderr
    );
    assert!(!dev.exists());

    std::fs::write(&bad, r#"{"timestamp": 1700000000, "devices": null}"#).unwrap();
    let o = import(&["tinytuya", bad.to_str().unwrap()], &dev);
    assert!(
        !o.ok && o.stderr.contains("snapshot.json has no devices list"),
        "{}",
        o.stderr
    );

    std::fs::write(&bad, r#"[{"id": "a", "key": 1234567890123456}]"#).unwrap();
    let o = import(&["tinytuya", bad.to_str().unwrap()], &dev);
    assert!(
        !o.ok
            && o.stderr
                .contains("device 1 (a): `key` is a number, expected text"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("1234567890123456"), "{}", o.stderr);

    let o = import(
        &["tinytuya", d.join("missing.json").to_str().unwrap()],
        &dev,
    );
    assert!(!o.ok && o.stderr.contains("missing.json"), "{}", o.stderr);

    let o = import(&["nosuchtool", bad.to_str().unwrap()], &dev);
    assert!(!o.ok && o.stderr.contains("tuya-cli"), "{}", o.stderr);
    std::fs::remove_dir_all(&d).unwrap();
}
