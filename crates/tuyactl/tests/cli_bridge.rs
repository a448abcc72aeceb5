//! `tuyactl bridge` on the command line: settings refused with the cause, before anything runs.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tuyactl");

fn bridge(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).arg("bridge").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn bad_settings_are_refused_with_their_cause() {
    let (ok, err) = bridge(&[]);
    assert!(!ok);
    assert!(err.contains("no broker") && err.contains("--mqtt"), "{err}");
    let (ok, err) = bridge(&["--mqtt", "mqtt://127.0.0.1:1", "--shard", "3/2"]);
    assert!(!ok);
    assert!(err.contains("bad shard"), "{err}");
    let (ok, err) = bridge(&["--mqtt", "http://127.0.0.1"]);
    assert!(!ok);
    assert!(err.contains("unknown scheme"), "{err}");
    let (ok, err) = bridge(&["--mqtt", "mqtt://me:hunter2@127.0.0.1:x"]);
    assert!(!ok);
    assert!(
        err.contains("bad port") && !err.contains("hunter2"),
        "{err}"
    );
    let dir = std::env::temp_dir().join(format!("tuyactl-cli-bridge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("bridge.toml");
    std::fs::write(&conf, "mqtt = \"mqtt://127.0.0.1:1\"\nprefx = \"x\"\n").unwrap();
    let (ok, err) = bridge(&["--config", conf.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("prefx"), "{err}");
    let (ok, err) = bridge(&[
        "--mqtt",
        "mqtt://127.0.0.1:1",
        "--devices",
        dir.join("missing.json").to_str().unwrap(),
        "--no-announcements",
    ]);
    assert!(!ok);
    assert!(err.contains("missing.json"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
