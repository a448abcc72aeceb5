//! Device sets: the `--config` file, generated fleets, and the tinytuya `devices.json` they
//! correspond to.

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tuya_proto::dp::try_dps_from_json;
use tuya_proto::{DpId, DpValue, Dps, Version};

use crate::spec::{ChildSpec, DeviceSpec, Faults, Firmware, Quirks, DEFAULT_PORT};
use crate::SimError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigDevice {
    id: String,
    #[serde(default)]
    name: Option<String>,
    key: String,
    version: Version,
    ip: Ipv4Addr,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    product_key: Option<String>,
    #[serde(default)]
    dps: Option<Value>,
    #[serde(default)]
    device22: bool,
    #[serde(default)]
    children: Vec<ConfigChild>,
    #[serde(default)]
    quirks: Quirks,
    #[serde(default)]
    faults: Faults,
    #[serde(default)]
    firmware: Firmware,
    #[serde(default)]
    heartbeat_timeout_secs: Option<f64>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    mapping: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigChild {
    cid: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    dps: Option<Value>,
}

fn dps_of(v: Option<Value>, who: &str) -> Result<Dps, SimError> {
    match v {
        None => Ok(Dps::new()),
        Some(v @ Value::Object(_)) => {
            try_dps_from_json(&v).map_err(|e| SimError::Config(format!("{who}: {e}")))
        }
        Some(_) => Err(SimError::Config(format!(
            "{who}: \"dps\" must be an object like {{\"1\": true}}"
        ))),
    }
}

/// Reads the `tuyactl sim --config` format: a JSON object `{"devices": [...]}` (or just the
/// list). Each device:
///
/// ```json
/// {
///   "id": "bf0123456789abcdef01", "name": "Desk lamp", "key": "0123456789abcdef",
///   "version": "3.4", "ip": "127.0.1.1", "port": 6668, "product_key": "keyabc",
///   "dps": {"1": true, "2": 50}, "device22": false,
///   "heartbeat_timeout_secs": 30, "category": "dj", "mapping": {"1": {"code": "switch_led"}},
///   "quirks": {"own_seq": true, "seq_zero_pushes": false, "header_counter": false,
///              "status_without_t": false, "push_only_dps": [18], "multi_dp": "accept",
///              "min_command_gap_ms": 500, "refresh_fails": false, "split_pushes": false,
///              "encrypted_errors": false},
///   "faults": {"delay_ms": 100, "drop_ratio": 0.1, "close_after_frames": 10,
///              "garbage": false, "bad_integrity": false, "refuse_for_ms": 2000},
///   "firmware": {"max_clients": 3, "strict_seq": true, "zero_key_is_no_key": true,
///                "zero_key_handshakes": 0, "pre_session_limit": 3, "max_frame": 4096,
///                "close_on_bad_frame": true, "answers_devinfo": null},
///   "children": [{"cid": "a4c1380000000001", "name": "Sensor", "dps": {"1": 21}}]
/// }
/// ```
///
/// Only `id`, `key`, `version` and `ip` are required; unknown fields are errors (typos show).
/// `multi_dp` is one of `accept`, `reject`, `half_apply`. `firmware` fields are those of
/// [`crate::Firmware`] (all optional; `answers_devinfo` null = 3.5 devices only).
pub fn load_config(json: &str) -> Result<Vec<DeviceSpec>, SimError> {
    let cfg = |e: serde_json::Error| SimError::Config(e.to_string());
    let mut v: Value = serde_json::from_str(json).map_err(cfg)?;
    let list = match &mut v {
        Value::Object(m) if m.contains_key("devices") && m.len() == 1 => {
            m.remove("devices").unwrap_or_default()
        }
        Value::Array(_) => v,
        _ => {
            return Err(SimError::Config(
                "expected {\"devices\": [...]} or a list of devices".into(),
            ))
        }
    };
    let devices: Vec<ConfigDevice> = serde_json::from_value(list).map_err(cfg)?;
    devices
        .into_iter()
        .map(|d| {
            let mut s = DeviceSpec::new(&d.id, &d.key, d.version, d.ip);
            s.name = d.name.unwrap_or_else(|| d.id.clone());
            s.port = d.port.unwrap_or(DEFAULT_PORT);
            if let Some(pk) = d.product_key {
                s.product_key = pk;
            }
            s.dps = dps_of(d.dps, &d.id)?;
            s.device22 = d.device22;
            s.quirks = d.quirks;
            s.faults = d.faults;
            s.firmware = d.firmware;
            if let Some(t) = d.heartbeat_timeout_secs {
                if !(t.is_finite() && t > 0.0 && t < 86_400.0) {
                    return Err(SimError::Config(format!(
                        "{}: heartbeat_timeout_secs must be between 0 and 86400",
                        d.id
                    )));
                }
                s.heartbeat_timeout = Duration::from_secs_f64(t);
            }
            s.category = d.category;
            s.mapping = d.mapping;
            s.children = d
                .children
                .into_iter()
                .map(|c| {
                    Ok(ChildSpec {
                        name: c.name.unwrap_or_else(|| c.cid.clone()),
                        dps: dps_of(c.dps, &c.cid)?,
                        cid: c.cid,
                    })
                })
                .collect::<Result<_, SimError>>()?;
            Ok(s)
        })
        .collect()
}

/// A deterministic mixing function (splitmix64), so fleets are the same on every run.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn key_for(i: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let (mut a, mut b) = (mix(i as u64 * 2 + 1), mix(i as u64 * 2 + 2));
    (0..16)
        .map(|n| {
            let src = if n < 8 { &mut a } else { &mut b };
            let c = ALPHABET[(*src % ALPHABET.len() as u64) as usize];
            *src /= ALPHABET.len() as u64;
            c as char
        })
        .collect()
}

fn mapping(entries: &[(u32, &str, &str)]) -> Value {
    let m: serde_json::Map<String, Value> = entries
        .iter()
        .map(|(dp, code, ty)| {
            (
                dp.to_string(),
                json!({"code": code, "type": ty, "values": {}}),
            )
        })
        .collect();
    Value::Object(m)
}

/// The id [`generate_fleet`] gives its `number`th device (from 1): `bfsim000000000000001`.
pub fn fleet_id(number: usize) -> String {
    format!("bfsim{number:015}")
}

/// `n` devices with deterministic ids, keys and names: a plug / bulb / cover mix, versions
/// taken round-robin from `versions`, on consecutive addresses from `base_ip`, port 6668.
pub fn generate_fleet(n: usize, base_ip: Ipv4Addr, versions: &[Version]) -> Vec<DeviceSpec> {
    let versions = if versions.is_empty() {
        &[Version::V33][..]
    } else {
        versions
    };
    let base = u32::from(base_ip);
    (0..n)
        .map(|i| {
            let ip = Ipv4Addr::from(base.wrapping_add(i as u32));
            let id = fleet_id(i + 1);
            let mut s = DeviceSpec::new(&id, &key_for(i), versions[i % versions.len()], ip);
            let dps: Vec<(u32, DpValue)>;
            match i % 3 {
                0 => {
                    s.name = format!("Plug {}", i + 1);
                    s.category = Some("cz".into());
                    s.product_key = "simplugproduct01".into();
                    dps = vec![
                        (1, DpValue::Bool(false)),
                        (9, DpValue::Integer(0)),
                        (18, DpValue::Integer(0)),
                        (19, DpValue::Integer(0)),
                        (20, DpValue::Integer(2300)),
                    ];
                    s.mapping = Some(mapping(&[
                        (1, "switch_1", "Boolean"),
                        (9, "countdown_1", "Integer"),
                        (18, "cur_current", "Integer"),
                        (19, "cur_power", "Integer"),
                        (20, "cur_voltage", "Integer"),
                    ]));
                }
                1 => {
                    s.name = format!("Bulb {}", i + 1);
                    s.category = Some("dj".into());
                    s.product_key = "simbulbproduct01".into();
                    dps = vec![
                        (20, DpValue::Bool(true)),
                        (21, DpValue::String("white".into())),
                        (22, DpValue::Integer(500)),
                        (23, DpValue::Integer(300)),
                    ];
                    s.mapping = Some(mapping(&[
                        (20, "switch_led", "Boolean"),
                        (21, "work_mode", "Enum"),
                        (22, "bright_value_v2", "Integer"),
                        (23, "temp_value_v2", "Integer"),
                    ]));
                }
                _ => {
                    s.name = format!("Cover {}", i + 1);
                    s.category = Some("cl".into());
                    s.product_key = "simcoverproduct1".into();
                    dps = vec![
                        (1, DpValue::String("stop".into())),
                        (2, DpValue::Integer(0)),
                    ];
                    s.mapping = Some(mapping(&[
                        (1, "control", "Enum"),
                        (2, "percent_control", "Integer"),
                    ]));
                }
            }
            s.dps = dps.into_iter().map(|(k, v)| (DpId(k), v)).collect();
            s
        })
        .collect()
}

/// The tinytuya `devices.json` list for these devices: `name`, `id`, `key`, `ip`, `version`,
/// `product_key`, `category`, `mapping`, `sub: false`; children follow their gateway as
/// entries with `sub: true`, `parent` (the gateway id) and `node_id` (the cid).
/// Contains local keys: write it with mode 0600.
pub fn devices_json(specs: &[DeviceSpec]) -> Value {
    let mut out = Vec::new();
    for s in specs {
        out.push(json!({
            "name": s.name,
            "id": s.id,
            "key": s.key,
            "ip": s.ip.to_string(),
            "version": s.version.as_str(),
            "product_key": s.product_key,
            "category": s.category.clone().unwrap_or_default(),
            "mapping": s.mapping.clone().unwrap_or_else(|| json!({})),
            "sub": false,
        }));
        for c in &s.children {
            out.push(json!({
                "name": c.name,
                "id": c.cid,
                "key": s.key,
                "ip": "",
                "version": s.version.as_str(),
                "product_key": "",
                "category": "",
                "mapping": {},
                "sub": true,
                "parent": s.id,
                "node_id": c.cid,
            }));
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_is_deterministic_and_varied() {
        let a = generate_fleet(
            7,
            "127.0.1.250".parse().unwrap(),
            &[Version::V31, Version::V35],
        );
        let b = generate_fleet(
            7,
            "127.0.1.250".parse().unwrap(),
            &[Version::V31, Version::V35],
        );
        assert_eq!(
            a.iter().map(|s| &s.key).collect::<Vec<_>>(),
            b.iter().map(|s| &s.key).collect::<Vec<_>>()
        );
        assert_eq!(a[0].key.len(), 16);
        assert_ne!(a[0].key, a[1].key);
        assert_eq!(a[6].ip, "127.0.2.0".parse::<Ipv4Addr>().unwrap());
        assert_eq!(a[1].version, Version::V35);
        assert_eq!(a[1].category.as_deref(), Some("dj"));
        let j = devices_json(&a);
        assert_eq!(j[0]["id"], a[0].id);
        assert_eq!(j[0]["version"], "3.1");
        assert_eq!(j[0]["mapping"]["1"]["code"], "switch_1");
    }

    #[test]
    fn config_reads_the_documented_format_and_rejects_typos() {
        let specs = load_config(
            r#"{"devices":[{"id":"gw1","key":"0123456789abcdef","version":"3.4","ip":"127.0.1.9",
                "dps":{"1":true},"quirks":{"own_seq":true},"faults":{"delay_ms":5},
                "children":[{"cid":"c1","dps":{"1":21}}]}]}"#,
        )
        .unwrap();
        assert_eq!(specs[0].version, Version::V34);
        assert!(specs[0].quirks.own_seq);
        assert_eq!(specs[0].children[0].dps[&DpId(1)], DpValue::Integer(21));
        let j = devices_json(&specs);
        assert_eq!(j[1]["sub"], true);
        assert_eq!(j[1]["parent"], "gw1");
        assert_eq!(j[1]["node_id"], "c1");
        let e = load_config(
            r#"[{"id":"x","key":"0123456789abcdef","version":"3.3","ip":"127.0.0.1","dsp":{}}]"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("dsp"), "{e}");
        // 2^32 + 1 is no DP id: refused, not taken as DP 1.
        let e = load_config(
            r#"[{"id":"x","key":"0123456789abcdef","version":"3.3","ip":"127.0.0.1","dps":{"4294967297":true}}]"#,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("DP 4294967297 is out of range"),
            "{e}"
        );
    }

    #[test]
    fn config_reads_firmware_rules_and_refuses_unknown_ones() {
        let specs = load_config(
            r#"[{"id":"a","key":"0123456789abcdef","version":"3.5","ip":"127.0.1.9",
                "firmware":{"max_clients":3,"strict_seq":true,"zero_key_is_no_key":true,
                "zero_key_handshakes":2,"pre_session_limit":3,"max_frame":4096,
                "close_on_bad_frame":true,"answers_devinfo":false}},
               {"id":"b","key":"0123456789abcdef","version":"3.3","ip":"127.0.1.10"}]"#,
        )
        .unwrap();
        let f = &specs[0].firmware;
        assert_eq!(f.max_clients, 3);
        assert!(f.strict_seq && f.zero_key_is_no_key && f.close_on_bad_frame);
        assert_eq!(f.zero_key_handshakes, 2);
        assert_eq!((f.pre_session_limit, f.max_frame), (Some(3), Some(4096)));
        assert!(!f.answers_devinfo_for(Version::V35));
        assert_eq!(specs[1].firmware, Firmware::default());
        let e = load_config(
            r#"[{"id":"x","key":"0123456789abcdef","version":"3.3","ip":"127.0.0.1",
                "firmware":{"strict_sequence":true}}]"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("strict_sequence"), "{e}");
    }
}
