//! Discovery payloads checked key by key against HA's documented MQTT discovery schema.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;

use serde_json::{json, Value};
use tuya_proto::{DpId, DpValue};

use super::*;

// ---------------------------------------------------------------------------------------------
// HA's schema, as documented (abbreviation table of the MQTT integration page, platform pages).
// ---------------------------------------------------------------------------------------------

/// Every component key we may emit: the abbreviation (or full name) → HA's full option name.
/// Taken from HA's "supported abbreviations" list; full names are accepted as themselves.
const COMPONENT_KEYS: &[(&str, &str)] = &[
    ("p", "platform"),
    ("unique_id", "unique_id"),
    ("name", "name"),
    ("ent_cat", "entity_category"),
    ("dev_cla", "device_class"),
    ("stat_t", "state_topic"),
    ("cmd_t", "command_topic"),
    ("cmd_tpl", "command_template"),
    ("val_tpl", "value_template"),
    ("pl_on", "payload_on"),
    ("pl_off", "payload_off"),
    ("stat_on", "state_on"),
    ("stat_off", "state_off"),
    ("unit_of_meas", "unit_of_measurement"),
    ("stat_cla", "state_class"),
    ("ops", "options"),
    ("min", "min"),
    ("max", "max"),
    ("step", "step"),
    ("mode", "mode"),
    ("bri_cmd_t", "brightness_command_topic"),
    ("bri_cmd_tpl", "brightness_command_template"),
    ("bri_scl", "brightness_scale"),
    ("bri_stat_t", "brightness_state_topic"),
    ("clr_temp_cmd_t", "color_temp_command_topic"),
    ("clr_temp_cmd_tpl", "color_temp_command_template"),
    ("clr_temp_k", "color_temp_kelvin"),
    ("clr_temp_stat_t", "color_temp_state_topic"),
    ("clr_temp_val_tpl", "color_temp_value_template"),
    ("min_k", "min_kelvin"),
    ("max_k", "max_kelvin"),
    ("hs_cmd_t", "hs_command_topic"),
    ("hs_cmd_tpl", "hs_command_template"),
    ("hs_stat_t", "hs_state_topic"),
    ("hs_val_tpl", "hs_value_template"),
    ("clrm_stat_t", "color_mode_state_topic"),
    ("clrm_val_tpl", "color_mode_value_template"),
    ("sup_clrm", "supported_color_modes"),
    ("pl_open", "payload_open"),
    ("pl_cls", "payload_close"),
    ("pl_stop", "payload_stop"),
    ("set_pos_t", "set_position_topic"),
    ("pos_t", "position_topic"),
    ("pos_open", "position_open"),
    ("pos_clsd", "position_closed"),
];

/// Root keys of a device-based discovery payload.
const ROOT_KEYS: &[&str] = &["dev", "o", "avty", "avty_mode", "qos", "cmps"];
/// Device block (`dev`) keys: HA's device abbreviations, plus `via_device` (not abbreviated).
const DEVICE_KEYS: &[&str] = &["ids", "name", "mf", "mdl", "mdl_id", "via_device"];
/// Origin block (`o`) keys.
const ORIGIN_KEYS: &[&str] = &["name", "sw", "url"];
/// Keys of one `avty` entry.
const AVAILABILITY_KEYS: &[&str] = &["t", "pl_avail", "pl_not_avail"];

/// HA's binary sensor device classes (those used here and their neighbours).
const BINARY_SENSOR_CLASSES: &[&str] = &[
    "battery",
    "door",
    "gas",
    "moisture",
    "motion",
    "occupancy",
    "smoke",
    "tamper",
    "opening",
    "window",
    "presence",
];
/// HA's cover device classes.
const COVER_CLASSES: &[&str] = &[
    "awning", "blind", "curtain", "damper", "door", "garage", "gate", "shade", "shutter", "window",
];

/// Options every entity platform has.
const ENTITY_OPTIONS: &[&str] = &["platform", "unique_id", "name", "entity_category"];

/// A platform's documented options (the ones relevant here) and its required ones.
fn platform_schema(p: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    let (options, required): (&[&str], &[&str]) = match p {
        "switch" => (
            &[
                "command_topic",
                "command_template",
                "device_class",
                "payload_on",
                "payload_off",
                "state_on",
                "state_off",
                "state_topic",
                "value_template",
            ],
            &["command_topic"],
        ),
        "binary_sensor" => (
            &[
                "device_class",
                "payload_on",
                "payload_off",
                "state_topic",
                "value_template",
            ],
            &["state_topic"],
        ),
        "sensor" => (
            &[
                "device_class",
                "options",
                "state_class",
                "state_topic",
                "unit_of_measurement",
                "value_template",
            ],
            &["state_topic"],
        ),
        "number" => (
            &[
                "command_template",
                "command_topic",
                "device_class",
                "max",
                "min",
                "mode",
                "state_topic",
                "step",
                "unit_of_measurement",
                "value_template",
            ],
            &["command_topic"],
        ),
        "select" => (
            &[
                "command_template",
                "command_topic",
                "options",
                "state_topic",
                "value_template",
            ],
            &["command_topic", "options"],
        ),
        "light" => (
            &[
                "brightness_command_template",
                "brightness_command_topic",
                "brightness_scale",
                "brightness_state_topic",
                "color_mode_state_topic",
                "color_mode_value_template",
                "color_temp_command_template",
                "color_temp_command_topic",
                "color_temp_kelvin",
                "color_temp_state_topic",
                "color_temp_value_template",
                "command_topic",
                "hs_command_template",
                "hs_command_topic",
                "hs_state_topic",
                "hs_value_template",
                "max_kelvin",
                "min_kelvin",
                "payload_off",
                "payload_on",
                "state_topic",
                "supported_color_modes",
            ],
            &["command_topic"],
        ),
        "cover" => (
            &[
                "command_topic",
                "device_class",
                "payload_close",
                "payload_open",
                "payload_stop",
                "position_closed",
                "position_open",
                "position_topic",
                "set_position_topic",
            ],
            &[],
        ),
        other => panic!("unexpected platform {other}"),
    };
    let mut all: Vec<&str> = ENTITY_OPTIONS.to_vec();
    all.extend_from_slice(options);
    let mut req = vec!["platform", "unique_id"];
    req.extend_from_slice(required);
    (all, req)
}

fn full_name(key: &str) -> Option<&'static str> {
    COMPONENT_KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, f)| *f)
}

/// Keys whose value is a topic the bridge subscribes to (commands) or publishes (state).
const COMMAND_TOPIC_KEYS: &[&str] = &[
    "cmd_t",
    "bri_cmd_t",
    "clr_temp_cmd_t",
    "hs_cmd_t",
    "set_pos_t",
];
const STATE_TOPIC_KEYS: &[&str] = &[
    "stat_t",
    "bri_stat_t",
    "clr_temp_stat_t",
    "hs_stat_t",
    "pos_t",
    "clrm_stat_t",
];

/// Checks a whole payload against the schema above; returns it for further checks.
fn check(d: &DeviceInfo, payload: &Value) {
    let root = payload.as_object().expect("payload is an object");
    for k in root.keys() {
        assert!(ROOT_KEYS.contains(&k.as_str()), "unknown root key {k}");
    }
    for k in ["dev", "o", "cmps"] {
        assert!(root.contains_key(k), "root lacks {k}");
    }
    for k in root["dev"].as_object().unwrap().keys() {
        assert!(DEVICE_KEYS.contains(&k.as_str()), "unknown device key {k}");
    }
    for k in root["o"].as_object().unwrap().keys() {
        assert!(ORIGIN_KEYS.contains(&k.as_str()), "unknown origin key {k}");
    }
    for a in root["avty"].as_array().unwrap() {
        for k in a.as_object().unwrap().keys() {
            assert!(AVAILABILITY_KEYS.contains(&k.as_str()), "avty key {k}");
        }
    }
    assert_eq!(root["avty_mode"], "all");
    assert_eq!(root["qos"], 1);
    let dps: HashSet<String> = dp_ids(d);
    for (key, c) in root["cmps"].as_object().unwrap() {
        assert!(is_id(key), "component key {key}");
        let c = c.as_object().unwrap();
        let p = c["p"].as_str().unwrap();
        let (allowed, required) = platform_schema(p);
        let full: Vec<&str> = c
            .keys()
            .map(|k| full_name(k).unwrap_or_else(|| panic!("{key}: unknown key {k}")))
            .collect();
        for f in &full {
            assert!(allowed.contains(f), "{key} ({p}): {f} is not a {p} option");
        }
        for r in required {
            assert!(full.contains(&r), "{key} ({p}): lacks {r}");
        }
        assert!(c["unique_id"].is_string());
        if matches!(p, "sensor" | "binary_sensor") {
            assert_ne!(
                c.get("ent_cat"),
                Some(&json!("config")),
                "{key}: config on {p}"
            );
        }
        if let Some(class) = c.get("dev_cla").and_then(Value::as_str) {
            let ok = match p {
                "switch" => ["outlet", "switch"].contains(&class),
                "binary_sensor" => BINARY_SENSOR_CLASSES.contains(&class),
                "sensor" | "number" => {
                    !BINARY_SENSOR_CLASSES.contains(&class) || class == "battery"
                }
                "cover" => COVER_CLASSES.contains(&class),
                _ => false,
            };
            assert!(ok, "{key}: device class {class} on {p}");
        }
        for (k, v) in c {
            let cmd = COMMAND_TOPIC_KEYS.contains(&k.as_str());
            let state = STATE_TOPIC_KEYS.contains(&k.as_str());
            if !(cmd || state) {
                assert!(!k.ends_with("_t"), "{key}: topic key {k} not classified");
                continue;
            }
            let t = v.as_str().unwrap();
            let rest = t
                .strip_prefix(&format!("{}/dps/", d.base))
                .unwrap_or_else(|| panic!("{key}: {k} = {t} is not under the base"));
            let (dp, leaf) = rest.split_once('/').unwrap();
            assert!(
                dps.contains(dp),
                "{key}: {k} names DP {dp} the device lacks"
            );
            assert_eq!(leaf, if cmd { "command" } else { "state" }, "{key}: {k}");
        }
    }
}

fn dp_ids(d: &DeviceInfo) -> HashSet<String> {
    let mut s: HashSet<String> = d.dps.keys().map(|k| k.to_string()).collect();
    if let Some(Value::Object(m)) = &d.mapping {
        s.extend(m.keys().cloned());
    }
    s
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

// ---------------------------------------------------------------------------------------------
// Fixtures.
// ---------------------------------------------------------------------------------------------

fn origin() -> Origin {
    Origin {
        name: "tuya-bridge".into(),
        sw: "0.1.0".into(),
        url: "https://example.invalid/tuyactl".into(),
    }
}

fn device(
    object_id: &str,
    category: Option<&str>,
    mapping: Value,
    dps: &[(u32, DpValue)],
) -> DeviceInfo {
    DeviceInfo {
        object_id: object_id.into(),
        name: format!("Device {object_id}"),
        base: format!("tuya/{object_id}"),
        extra_availability: vec!["tuya/bridge/status".into()],
        category: category.map(str::to_string),
        product_key: Some("pk123".into()),
        model: None,
        mapping: Some(mapping),
        dps: dps.iter().map(|(k, v)| (DpId(*k), v.clone())).collect(),
        via_device: None,
        overrides: BTreeMap::new(),
    }
}

fn sim_fleet(n: usize) -> Vec<DeviceInfo> {
    tuya_sim::generate_fleet(n, Ipv4Addr::new(10, 0, 0, 1), &[])
        .into_iter()
        .map(|s| DeviceInfo {
            object_id: s.id.clone(),
            name: s.name.clone(),
            base: format!("tuya/{}", s.id),
            extra_availability: vec!["tuya/bridge/status".into()],
            category: s.category.clone(),
            product_key: Some(s.product_key.clone()),
            model: None,
            mapping: s.mapping.clone(),
            dps: s.dps.clone(),
            via_device: None,
            overrides: BTreeMap::new(),
        })
        .collect()
}

fn payload(d: &DeviceInfo) -> Value {
    let p = config_payload(d, &origin());
    check(d, &p);
    p
}

fn cmps(p: &Value) -> &serde_json::Map<String, Value> {
    p["cmps"].as_object().unwrap()
}

fn keys(c: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

fn ov(component: Option<&str>) -> DpOverride {
    DpOverride {
        component: component.map(str::to_string),
        ..Default::default()
    }
}

/// The divisor of a `{{ (value | float / D) | round(n) }}` template, applied to `raw`.
fn apply_value_template(tpl: &str, raw: i64) -> f64 {
    let d: f64 = tpl
        .strip_prefix("{{ (value | float / ")
        .and_then(|r| r.split_once(')'))
        .map(|(d, _)| d.parse().unwrap())
        .unwrap_or_else(|| panic!("not a scaling template: {tpl}"));
    let places: i32 = tpl
        .rsplit_once("round(")
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(n, _)| n.parse().unwrap())
        .unwrap();
    let f = 10f64.powi(places);
    (raw as f64 / d * f).round() / f
}

/// The factor of a `{{ (value | float * F) | round(0) | int }}` template, applied to `v`.
fn apply_command_template(tpl: &str, v: f64) -> i64 {
    let f: f64 = tpl
        .strip_prefix("{{ (value | float * ")
        .and_then(|r| r.split_once(')'))
        .map(|(d, _)| d.parse().unwrap())
        .unwrap_or_else(|| panic!("not a scaling template: {tpl}"));
    (v * f).round() as i64
}

fn rgb_bulb(colour: Option<&str>) -> DeviceInfo {
    let mut dps = vec![(20, DpValue::Bool(true)), (21, DpValue::from("white"))];
    if let Some(c) = colour {
        dps.push((24, DpValue::from(c)));
    }
    device(
        "rgb",
        Some("dj"),
        json!({
            "20": {"code": "switch_led", "type": "Boolean", "values": {}},
            "21": {"code": "work_mode", "type": "Enum", "values": {"range": ["white", "colour", "scene", "music"]}},
            "22": {"code": "bright_value_v2", "type": "Integer", "values": {"min": 10, "max": 1000, "scale": 0, "step": 1}},
            "23": {"code": "temp_value_v2", "type": "Integer", "values": {"min": 0, "max": 1000, "scale": 0, "step": 1}},
            "24": {"code": "colour_data_v2", "type": "Json", "values": {"h": {"min": 0, "max": 360}}},
            "25": {"code": "scene_data_v2", "type": "Json", "values": {}},
        }),
        &dps,
    )
}

mod devices;
mod lights;
mod odd;
mod values;
