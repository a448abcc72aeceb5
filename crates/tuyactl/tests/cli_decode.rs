//! `tuyactl decode` against the independent vectors (copied into tuya-proto/tests/vectors).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

fn vectors(name: &str) -> Value {
    let p = format!(
        "{}/../tuya-proto/vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn tuyactl(args: &[&str], stdin: Option<&str>) -> (bool, Vec<Value>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tuyactl"))
        .arg("decode")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut si = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            si.write_all(s.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    (out.status.success(), lines)
}

#[test]
fn every_tinytuya_record_decodes_as_expected() {
    let v = vectors("tinytuya-1.20.json");
    for rec in v["vectors"].as_array().unwrap() {
        let args: Vec<&str> = rec["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let (ok, out) = tuyactl(&args, None);
        let name = rec["name"].as_str().unwrap();
        assert!(ok, "{name}: {out:?}");
        assert_eq!(out.len(), 1, "{name}");
        let o = &out[0];
        assert_eq!(o["payload"], rec["expect"]["payload"], "{name}");
        assert_eq!(o["cmd"], rec["expect"]["cmd"], "{name}");
        assert_eq!(o["integrity_ok"], true, "{name}");
        if let Some(seq) = rec["expect"].get("seq") {
            assert_eq!(&o["seq"], seq, "{name}");
            assert!(
                o["cmd_name"].is_string() && o.get("retcode").is_some() && o["prefix"].is_string()
            );
        }
    }
}

#[test]
fn every_tuyapi_frame_decodes_and_version_is_detected() {
    let v = vectors("tuyapi-7.7.1.json");
    let key = v["key"].as_str().unwrap();
    let mut session = String::new();
    for rec in v["vectors"].as_array().unwrap() {
        if let Some(sk) = rec.get("sessionKey") {
            session = sk.as_str().unwrap().to_string();
            continue;
        }
        let version = rec["version"].as_str().unwrap();
        let hex = rec["hex"].as_str().unwrap();
        let mut args = vec!["--key", key, "--from", "client"];
        let negotiation = rec["name"].as_str().unwrap().starts_with("SESS");
        if version == "3.4" || version == "3.5" {
            if !negotiation {
                args.extend(["--session-key", session.as_str()]);
            }
        } else {
            // no --version: detected from the frame
        }
        if version != "3.1" && version != "3.3" {
            args.extend(["--version", version]);
        }
        args.push(hex);
        let (ok, out) = tuyactl(&args, None);
        assert!(ok, "{} {}: {out:?}", version, rec["name"]);
        if let Some(p) = rec.get("payload") {
            assert_eq!(&out[0]["payload"], p);
        }
        assert_eq!(out[0]["version"], version, "{}", rec["name"]);
    }
}

#[test]
fn stdin_streams_and_failures() {
    let v = vectors("tinytuya-1.20.json");
    let rec = &v["vectors"][3]; // 3.3 dp_query reply
    let hex = rec["args"][4].as_str().unwrap();
    // Two frames in one line (a stream), a second line, and a corrupted frame.
    let mut bad = hex.to_string();
    bad.replace_range(60..62, if &bad[60..62] == "00" { "01" } else { "00" });
    let input = format!("{hex}{hex}\n{hex}\n{bad}\n");
    let (ok, out) = tuyactl(
        &["--key", "0f1e2d3c4b5a6978", "--version", "3.3"],
        Some(&input),
    );
    assert!(!ok, "a failed frame makes the command fail");
    assert_eq!(out.len(), 4);
    for o in &out[..3] {
        assert_eq!(o["payload"], rec["expect"]["payload"]);
    }
    assert_eq!(out[3]["error"]["kind"], "crc_mismatch");
    assert_eq!(out[3]["integrity_ok"], false);
    assert_eq!(out[3]["seq"], 12);

    // Wrong key: the error says so.
    let (ok, out) = tuyactl(
        &["--key", "ffffffffffffffff", "--version", "3.3", hex],
        None,
    );
    assert!(!ok);
    let msg = out[0]["error"]["message"].as_str().unwrap();
    assert!(msg.contains("wrong local key"), "{msg}");

    // Truncated input.
    let (ok, out) = tuyactl(&["--key", "0f1e2d3c4b5a6978", &hex[..hex.len() - 10]], None);
    assert!(!ok);
    assert_eq!(out[0]["error"]["kind"], "truncated");
}

#[test]
fn closed_output_pipe_ends_quietly() {
    // Like `tuyactl decode … | head -1`: the reader goes away while output is still coming.
    let v = vectors("tinytuya-1.20.json");
    let hex = v["vectors"][3]["args"][4].as_str().unwrap().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tuyactl"))
        .args(["decode", "--key", "0f1e2d3c4b5a6978", "--version", "3.3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // nobody reads
    {
        let mut si = child.stdin.take().unwrap();
        for _ in 0..2000 {
            if si.write_all(format!("{hex}\n").as_bytes()).is_err() {
                break;
            }
        }
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.status.success());
}
