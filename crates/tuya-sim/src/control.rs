//! The control channel: one text command per line (what `tuyactl sim` reads on standard
//! input), one answer line per command, starting with `ok` or `error`.
//!
//! | command | effect | answer |
//! |---|---|---|
//! | `set <id\|name> <dp>=<value> …` | "physical" change, pushed to the connected client | `ok set <id> <dps json>` |
//! | `child <id\|name> <cid> <dp>=<value> …` | gateway child change, pushed with its cid | `ok child <id> <cid> <dps json>` |
//! | `child-offline <id\|name> <cid>` / `child-online …` | how the gateway's online query reports the child | `ok child-offline <id> <cid>` |
//! | `offline <id\|name>` / `online <id\|name>` | drop the client and refuse connections / serve again | `ok offline <id>` |
//! | `rekey <id\|name> <16-char key>` | re-pair: new local key, client dropped | `ok rekey <id>` (the key is not echoed) |
//! | `faults <id\|name> <json>` | replace the faults, e.g. `{"delay_ms":200,"drop_ratio":0.1}` | `ok faults <id>` |
//! | `quirks <id\|name> <json>` | replace the quirks, e.g. `{"own_seq":true}` | `ok quirks <id>` |
//! | `firmware <id\|name> <json>` | replace the firmware rules, e.g. `{"max_clients":3}` | `ok firmware <id>` |
//! | `status <id\|name> [cid]` | the DP state | `ok {"1":true,"2":50}` |
//! | `info <id\|name>` | connection facts | `ok {"connected":true,"clients":1,"accepted":2,"online":true}` |
//! | `list` | every device | `ok <id>@<ip>:<port>/<version> …` |
//!
//! Values follow the CLI convention: `true`/`false`, integers, JSON, else a string
//! (`"50"` quoted is the string 50). Empty lines and lines starting with `#` are ignored
//! (answered with nothing).

use serde_json::Value;
use tuya_proto::dp::dps_to_json;
use tuya_proto::{DpId, DpValue, Dps};

use crate::{DeviceHandle, Faults, Firmware, Quirks, Simulator};

/// Runs one control line against the simulator and returns the answer line, or `None` for
/// blank and comment lines.
///
/// ```no_run
/// # async fn demo(sim: tuya_sim::Simulator) {
/// let answer = tuya_sim::control::execute(&sim, "set Plug 1=true").unwrap();
/// assert!(answer.starts_with("ok"));
/// # }
/// ```
pub fn execute(sim: &Simulator, line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    Some(match run(sim, line) {
        Ok(s) => format!("ok {s}"),
        Err(e) => format!("error {e}"),
    })
}

fn device(sim: &Simulator, name: Option<&str>) -> Result<DeviceHandle, String> {
    let name = name.ok_or("missing device id or name")?;
    sim.find(name)
        .ok_or_else(|| format!("no device with id or name {name:?}"))
}

fn parse_dps<'a>(args: impl Iterator<Item = &'a str>) -> Result<Dps, String> {
    let mut dps = Dps::new();
    for a in args {
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| format!("expected <dp>=<value>, got {a:?}"))?;
        let id: DpId = k.parse().map_err(|_| format!("bad DP id {k:?}"))?;
        dps.insert(id, DpValue::parse_cli(v));
    }
    if dps.is_empty() {
        return Err("expected at least one <dp>=<value>".into());
    }
    Ok(dps)
}

fn json_of(dps: &Dps) -> String {
    dps_to_json(dps).to_string()
}

fn run(sim: &Simulator, line: &str) -> Result<String, String> {
    let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let mut words = rest.split_whitespace();
    match cmd {
        "set" => {
            let d = device(sim, words.next())?;
            let dps = parse_dps(words)?;
            for (k, v) in &dps {
                d.set_dp(*k, v.clone());
            }
            Ok(format!("set {} {}", d.id(), json_of(&dps)))
        }
        "child" => {
            let d = device(sim, words.next())?;
            let cid = words.next().ok_or("missing cid")?;
            if d.child_dps(cid).is_none() {
                return Err(format!("device {} has no child {cid:?}", d.id()));
            }
            let dps = parse_dps(words)?;
            for (k, v) in &dps {
                d.set_child_dp(cid, *k, v.clone());
            }
            Ok(format!("child {} {cid} {}", d.id(), json_of(&dps)))
        }
        "child-offline" | "child-online" => {
            let d = device(sim, words.next())?;
            let cid = words.next().ok_or("missing cid")?;
            if !d.set_child_online(cid, cmd == "child-online") {
                return Err(format!("device {} has no child {cid:?}", d.id()));
            }
            Ok(format!("{cmd} {} {cid}", d.id()))
        }
        "offline" | "online" => {
            let d = device(sim, words.next())?;
            d.set_online(cmd == "online");
            Ok(format!("{cmd} {}", d.id()))
        }
        "rekey" => {
            let d = device(sim, words.next())?;
            let key = words.next().ok_or("missing new key")?;
            d.try_set_local_key(key).map_err(|e| e.to_string())?;
            Ok(format!("rekey {}", d.id()))
        }
        "faults" | "quirks" | "firmware" => {
            let (name, json) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let d = device(sim, Some(name).filter(|n| !n.is_empty()))?;
            let v: Value = serde_json::from_str(json.trim()).map_err(|e| format!("bad JSON: {e}"))?;
            if cmd == "faults" {
                let f: Faults = serde_json::from_value(v).map_err(|e| format!("bad faults: {e}"))?;
                if !(0.0..=1.0).contains(&f.drop_ratio) {
                    return Err("drop_ratio must be between 0 and 1".into());
                }
                d.set_faults(f);
            } else if cmd == "firmware" {
                let f: Firmware =
                    serde_json::from_value(v).map_err(|e| format!("bad firmware: {e}"))?;
                if f.max_clients == 0 {
                    return Err("max_clients must be at least 1".into());
                }
                d.set_firmware(f);
            } else {
                let q: Quirks = serde_json::from_value(v).map_err(|e| format!("bad quirks: {e}"))?;
                d.set_quirks(q);
            }
            Ok(format!("{cmd} {}", d.id()))
        }
        "status" => {
            let d = device(sim, words.next())?;
            match words.next() {
                Some(cid) => d
                    .child_dps(cid)
                    .map(|dps| json_of(&dps))
                    .ok_or_else(|| format!("device {} has no child {cid:?}", d.id())),
                None => Ok(json_of(&d.dps())),
            }
        }
        "info" => {
            let d = device(sim, words.next())?;
            Ok(serde_json::json!({
                "connected": d.is_connected(),
                "clients": d.client_count(),
                "accepted": d.connections_accepted(),
                "online": d.is_online(),
            })
            .to_string())
        }
        "list" => Ok(sim
            .devices()
            .iter()
            .map(|d| format!("{}@{}/{}", d.id(), d.addr(), d.version()))
            .collect::<Vec<_>>()
            .join(" ")),
        other => Err(format!(
            "unknown command {other:?} (set, child, child-offline, child-online, offline, online, rekey, faults, quirks, firmware, status, info, list)"
        )),
    }
}
