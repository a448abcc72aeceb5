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

// ---------------------------------------------------------------------------------------------
// The root.
// ---------------------------------------------------------------------------------------------

#[test]
fn topic_is_device_based() {
    assert_eq!(
        config_topic("homeassistant", "bf123"),
        "homeassistant/device/bf123/config"
    );
    assert_eq!(
        config_topic("ha", "gw 1/cid+#"),
        "ha/device/gw_1_cid__/config"
    );
}

#[test]
fn root_device_origin_availability() {
    let mut d = device("bf1", Some("cz"), json!({}), &[]);
    d.extra_availability = vec!["tuya/bridge/status".into(), "tuya/shard2/status".into()];
    let p = payload(&d);
    assert_eq!(
        p["dev"],
        json!({"ids": ["bf1"], "name": "Device bf1", "mf": "Tuya", "mdl": "Smart plug", "mdl_id": "pk123"})
    );
    assert_eq!(
        p["o"],
        json!({"name": "tuya-bridge", "sw": "0.1.0", "url": "https://example.invalid/tuyactl"})
    );
    assert_eq!(
        p["avty"],
        json!([
            {"t": "tuya/bf1/status", "pl_avail": "online", "pl_not_avail": "offline"},
            {"t": "tuya/bridge/status", "pl_avail": "online", "pl_not_avail": "offline"},
            {"t": "tuya/shard2/status", "pl_avail": "online", "pl_not_avail": "offline"},
        ])
    );
    assert_eq!(p["avty_mode"], "all");
    assert_eq!(p["qos"], 1);
    assert_eq!(p["cmps"], json!({}));
}

#[test]
fn model_falls_back_to_category_then_product_key() {
    let mut d = device("bf1", Some("cz"), json!({}), &[]);
    d.model = Some("SP-10".into());
    assert_eq!(payload(&d)["dev"]["mdl"], "SP-10");
    d.model = None;
    d.category = Some("zzz".into());
    assert_eq!(payload(&d)["dev"]["mdl"], "pk123");
    d.product_key = None;
    assert_eq!(payload(&d)["dev"]["mdl"], "zzz");
    d.category = None;
    assert!(payload(&d)["dev"].get("mdl").is_none());
    d.name = String::new();
    assert_eq!(payload(&d)["dev"]["name"], "bf1");
}

#[test]
fn gateway_child_has_via_device() {
    let mut d = device(
        "gw1_cid7",
        Some("wsdcg"),
        json!({"1": {"code": "va_temperature", "type": "Integer"}}),
        &[],
    );
    d.via_device = Some("gw1".into());
    let p = payload(&d);
    assert_eq!(p["dev"]["via_device"], "gw1");
    assert_eq!(p["dev"]["ids"], json!(["gw1_cid7"]));
    assert_eq!(p["cmps"]["dp1"]["unique_id"], "gw1_cid7_dp1");
    // Not a child: no via_device.
    d.via_device = None;
    assert!(payload(&d)["dev"].get("via_device").is_none());
}

#[test]
fn object_ids_are_sanitized() {
    assert_eq!(sanitize_id("abc-DEF_123"), "abc-DEF_123");
    assert_eq!(sanitize_id("a b/c+#é"), "a_b_c___");
    assert_eq!(sanitize_id(""), "_");
    let d = device(
        "dev.1 x",
        None,
        json!({"1": {"code": "switch_1", "type": "Boolean"}}),
        &[],
    );
    let p = payload(&d);
    assert_eq!(p["dev"]["ids"], json!(["dev_1_x"]));
    assert_eq!(p["cmps"]["dp1"]["unique_id"], "dev_1_x_dp1");
}

// ---------------------------------------------------------------------------------------------
// The simulator's fleet.
// ---------------------------------------------------------------------------------------------

#[test]
fn fleet_unique_ids_are_unique_and_valid() {
    let fleet = sim_fleet(30);
    assert_eq!(fleet.len(), 30);
    let mut seen = HashSet::new();
    let mut count = 0;
    for d in &fleet {
        let p = payload(d);
        assert!(is_id(p["dev"]["ids"][0].as_str().unwrap()));
        for c in cmps(&p).values() {
            let uid = c["unique_id"].as_str().unwrap();
            assert!(is_id(uid), "{uid}");
            assert!(seen.insert(uid.to_string()), "duplicate unique_id {uid}");
            count += 1;
        }
    }
    // 10 plugs × 5 + 10 bulbs × (light + mode) + 10 covers × 1.
    assert_eq!(count, 10 * 5 + 10 * 2 + 10);
}

#[test]
fn sim_plug() {
    let d = sim_fleet(1).remove(0);
    let id = &d.object_id;
    let b = &d.base;
    let p = payload(&d);
    let c = cmps(&p);
    assert_eq!(
        c.keys().collect::<Vec<_>>(),
        ["dp1", "dp9", "dp18", "dp19", "dp20"]
    );
    assert_eq!(
        c["dp1"],
        json!({
            "p": "switch", "unique_id": format!("{id}_dp1"), "name": "Switch 1",
            "stat_t": format!("{b}/dps/1/state"), "cmd_t": format!("{b}/dps/1/command"),
            "pl_on": "true", "stat_on": "true", "pl_off": "false", "stat_off": "false",
        })
    );
    // countdown_1: no values in the mapping, the code's range (0–86400 s) makes it a number.
    assert_eq!(
        c["dp9"],
        json!({
            "p": "number", "unique_id": format!("{id}_dp9"), "name": "Countdown 1",
            "ent_cat": "config",
            "stat_t": format!("{b}/dps/9/state"), "cmd_t": format!("{b}/dps/9/command"),
            "cmd_tpl": "{{ value | float | round(0) | int }}",
            "min": 0, "max": 86400, "step": 1, "mode": "box", "unit_of_meas": "s",
        })
    );
    assert_eq!(
        c["dp18"],
        json!({
            "p": "sensor", "unique_id": format!("{id}_dp18"), "name": "Current",
            "stat_t": format!("{b}/dps/18/state"),
            "dev_cla": "current", "unit_of_meas": "mA", "stat_cla": "measurement",
        })
    );
    assert_eq!(
        c["dp19"],
        json!({
            "p": "sensor", "unique_id": format!("{id}_dp19"), "name": "Power",
            "stat_t": format!("{b}/dps/19/state"),
            "val_tpl": "{{ (value | float / 10) | round(1) }}",
            "dev_cla": "power", "unit_of_meas": "W", "stat_cla": "measurement",
        })
    );
    assert_eq!(c["dp20"]["dev_cla"], "voltage");
    assert_eq!(c["dp20"]["unit_of_meas"], "V");
}

#[test]
fn voltage_scale_gives_tenths() {
    let d = sim_fleet(1).remove(0);
    let p = payload(&d);
    let tpl = p["cmps"]["dp20"]["val_tpl"].as_str().unwrap();
    assert_eq!(tpl, "{{ (value | float / 10) | round(1) }}");
    assert_eq!(apply_value_template(tpl, 2301), 230.1);
    // The mapping's scale wins over the code's.
    let d = device(
        "m",
        Some("cz"),
        json!({"20": {"code": "cur_voltage", "type": "Integer", "values": {"scale": 2, "unit": "V"}}}),
        &[],
    );
    let tpl = payload(&d)["cmps"]["dp20"]["val_tpl"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(tpl, "{{ (value | float / 100) | round(2) }}");
    assert_eq!(apply_value_template(&tpl, 23012), 230.12);
}

#[test]
fn sim_bulb() {
    let d = sim_fleet(2).remove(1);
    assert_eq!(d.category.as_deref(), Some("dj"));
    let (id, b) = (&d.object_id, &d.base);
    let p = payload(&d);
    let c = cmps(&p);
    // The light stands for 20, 22, 23; work_mode stays a select.
    assert_eq!(c.keys().collect::<Vec<_>>(), ["dp20", "dp21"]);
    assert_eq!(
        c["dp20"],
        json!({
            "p": "light", "unique_id": format!("{id}_dp20"), "name": null,
            "stat_t": format!("{b}/dps/20/state"), "cmd_t": format!("{b}/dps/20/command"),
            "pl_on": "true", "pl_off": "false",
            "bri_stat_t": format!("{b}/dps/22/state"), "bri_cmd_t": format!("{b}/dps/22/command"),
            "bri_scl": 1000, "bri_cmd_tpl": "{{ [value | int, 10] | max }}",
            "clr_temp_stat_t": format!("{b}/dps/23/state"),
            "clr_temp_cmd_t": format!("{b}/dps/23/command"),
            "clr_temp_k": true, "min_k": 2700, "max_k": 6500,
            "clr_temp_val_tpl": "{{ (2700 + ((value | int) - 0) * 3800 / 1000) | round(0) | int }}",
            "clr_temp_cmd_tpl": "{{ ([[((value | int) - 2700) * 1000 / 3800 + 0, 0] | max, 1000] | min) | round(0) | int }}",
            "sup_clrm": ["color_temp"],
        })
    );
    assert_eq!(
        c["dp21"],
        json!({
            "p": "select", "unique_id": format!("{id}_dp21"), "name": "Mode",
            "stat_t": format!("{b}/dps/21/state"), "cmd_t": format!("{b}/dps/21/command"),
            "ops": ["white", "colour", "scene", "music"],
        })
    );
}

#[test]
fn sim_cover() {
    let d = sim_fleet(3).remove(2);
    let (id, b) = (&d.object_id, &d.base);
    let p = payload(&d);
    let c = cmps(&p);
    assert_eq!(c.keys().collect::<Vec<_>>(), ["dp1"]);
    assert_eq!(
        c["dp1"],
        json!({
            "p": "cover", "unique_id": format!("{id}_dp1"), "name": null,
            "cmd_t": format!("{b}/dps/1/command"),
            "pl_open": "open", "pl_cls": "close", "pl_stop": "stop", "dev_cla": "curtain",
            "set_pos_t": format!("{b}/dps/2/command"), "pos_t": format!("{b}/dps/2/state"),
            "pos_open": 100, "pos_clsd": 0,
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Lights.
// ---------------------------------------------------------------------------------------------

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

#[test]
fn rgb_light_hex_colour() {
    let d = rgb_bulb(Some("000003e803e8"));
    let p = payload(&d);
    let c = cmps(&p);
    assert_eq!(c.keys().collect::<Vec<_>>(), ["dp20", "dp21", "dp25"]);
    let l = &c["dp20"];
    assert_eq!(l["sup_clrm"], json!(["color_temp", "hs"]));
    assert_eq!(l["hs_stat_t"], "tuya/rgb/dps/24/state");
    assert_eq!(l["hs_cmd_t"], "tuya/rgb/dps/24/command");
    assert_eq!(
        l["hs_cmd_tpl"],
        "{{ '%04x%04x%04x' | format(hue | round(0) | int, (sat * 10) | round(0) | int, 1000) }}"
    );
    let v = l["hs_val_tpl"].as_str().unwrap();
    assert!(
        v.starts_with("{% if value[:1] == '{' %}{{ value_json.h | int }},"),
        "{v}"
    );
    assert!(
        v.contains("((value_json.s | float) / 10) | round(1)"),
        "{v}"
    );
    assert!(v.contains(
        "{{ value[0:4] | int(0, 16) }},{{ ((value[4:8] | int(0, 16)) / 10) | round(1) }}"
    ));
    assert!(v.ends_with("{% endif %}"));
    // Both modes: the colour mode comes from work_mode.
    assert_eq!(l["clrm_stat_t"], "tuya/rgb/dps/21/state");
    assert_eq!(
        l["clrm_val_tpl"],
        "{{ 'hs' if value == 'colour' else 'color_temp' }}"
    );
    // scene_data_v2 is a plain text sensor.
    assert_eq!(keys(&c["dp25"]), ["name", "p", "stat_t", "unique_id"]);
}

#[test]
fn rgb_light_json_colour_when_seen_as_json() {
    let d = rgb_bulb(Some(r#"{"h":120,"s":1000,"v":1000}"#));
    let p = payload(&d);
    assert_eq!(
        p["cmps"]["dp20"]["hs_cmd_tpl"],
        r#"{"h":{{ hue | round(0) | int }},"s":{{ (sat * 10) | round(0) | int }},"v":1000}"#
    );
    // Colour not seen yet: 12-hex, what LAN devices use.
    let p = payload(&rgb_bulb(None));
    assert!(p["cmps"]["dp20"]["hs_cmd_tpl"]
        .as_str()
        .unwrap()
        .contains("%04x%04x%04x"));
}

#[test]
fn old_fourteen_hex_colour_is_not_offered_as_hs() {
    let d = rgb_bulb(Some("ff00000000ffff"));
    let p = payload(&d);
    let l = &p["cmps"]["dp20"];
    assert!(l.get("hs_cmd_t").is_none());
    assert!(l.get("clrm_stat_t").is_none());
    assert_eq!(l["sup_clrm"], json!(["color_temp"]));
    // The colour DP is still visible, read-only.
    assert_eq!(p["cmps"]["dp24"]["p"], "sensor");
}

#[test]
fn v1_light_ranges() {
    let d = device(
        "v1",
        Some("dj"),
        json!({
            "1": {"code": "switch_led", "type": "Boolean"},
            "2": {"code": "work_mode", "type": "Enum", "values": "{\"range\":[\"white\",\"colour\"]}"},
            "3": {"code": "bright_value", "type": "Integer"},
            "4": {"code": "temp_value", "type": "Integer"},
        }),
        &[],
    );
    let p = payload(&d);
    let l = &p["cmps"]["dp1"];
    assert_eq!(l["bri_scl"], 255);
    assert_eq!(l["bri_cmd_tpl"], "{{ [value | int, 25] | max }}");
    assert_eq!(
        l["clr_temp_val_tpl"],
        "{{ (2700 + ((value | int) - 0) * 3800 / 255) | round(0) | int }}"
    );
    assert_eq!(p["cmps"]["dp2"]["ops"], json!(["white", "colour"]));
}

#[test]
fn mapping_max_sets_brightness_scale() {
    let d = device(
        "l",
        Some("dj"),
        json!({
            "20": {"code": "switch_led", "type": "Boolean"},
            "22": {"code": "bright_value_v2", "type": "Integer", "values": {"min": 1, "max": 100}},
        }),
        &[],
    );
    let l = &payload(&d)["cmps"]["dp20"];
    assert_eq!(l["bri_scl"], 100);
    assert_eq!(l["bri_cmd_tpl"], "{{ [value | int, 1] | max }}");
    assert_eq!(l["sup_clrm"], json!(["brightness"]));
}

#[test]
fn switch_led_alone_outside_light_categories_is_a_switch() {
    let m = json!({"20": {"code": "switch_led", "type": "Boolean"}});
    let p = payload(&device("s", Some("kg"), m.clone(), &[]));
    assert_eq!(p["cmps"]["dp20"]["p"], "switch");
    assert_eq!(p["cmps"]["dp20"]["name"], "Light");
    // In a light category it is an on/off light.
    let p = payload(&device("s", Some("dj"), m.clone(), &[]));
    assert_eq!(p["cmps"]["dp20"]["p"], "light");
    assert_eq!(p["cmps"]["dp20"]["sup_clrm"], json!(["onoff"]));
    // With a brightness DP it is a light whatever the category.
    let mut m = m;
    m["22"] = json!({"code": "bright_value_v2", "type": "Integer"});
    let p = payload(&device("s", None, m, &[]));
    assert_eq!(p["cmps"]["dp20"]["p"], "light");
    assert_eq!(p["cmps"].as_object().unwrap().len(), 1);
}

#[test]
fn kelvin_templates_match_the_math() {
    // The same arithmetic as the templates, on the v2 range.
    let to_k = |raw: f64| (2700.0 + raw * 3800.0 / 1000.0).round();
    let from_k = |k: f64| ((k - 2700.0) * 1000.0 / 3800.0).clamp(0.0, 1000.0).round();
    assert_eq!(to_k(0.0), 2700.0);
    assert_eq!(to_k(1000.0), 6500.0);
    assert_eq!(from_k(6500.0), 1000.0);
    assert_eq!(from_k(2000.0), 0.0);
    assert_eq!(from_k(to_k(500.0)), 500.0);
    assert_eq!(
        entities::kelvin_value_template(0, 1000),
        "{{ (2700 + ((value | int) - 0) * 3800 / 1000) | round(0) | int }}"
    );
    assert_eq!(
        entities::kelvin_command_template(0, 1000),
        "{{ ([[((value | int) - 2700) * 1000 / 3800 + 0, 0] | max, 1000] | min) | round(0) | int }}"
    );
}

// ---------------------------------------------------------------------------------------------
// Covers.
// ---------------------------------------------------------------------------------------------

#[test]
fn cover_prefers_percent_state_and_honours_options() {
    let d = device(
        "c",
        Some("cl"),
        json!({
            "1": {"code": "control", "type": "Enum", "values": {"range": ["open", "close", "continue"]}},
            "2": {"code": "percent_control", "type": "Integer", "values": {"min": 0, "max": 100, "unit": "%"}},
            "3": {"code": "percent_state", "type": "Integer", "values": {"min": 0, "max": 100}},
            "5": {"code": "control_back_mode", "type": "Enum", "values": {"range": ["forward", "back"]}},
        }),
        &[],
    );
    let p = payload(&d);
    let c = cmps(&p);
    assert_eq!(c.keys().collect::<Vec<_>>(), ["dp1", "dp5"]);
    assert_eq!(c["dp1"]["set_pos_t"], "tuya/c/dps/2/command");
    assert_eq!(c["dp1"]["pos_t"], "tuya/c/dps/3/state");
    assert_eq!(c["dp1"]["pl_stop"], Value::Null);
    assert_eq!(c["dp5"]["p"], "select");
    assert_eq!(c["dp5"]["ent_cat"], "config");
}

#[test]
fn control_outside_covers_is_a_select() {
    let d = device(
        "x",
        Some("kg"),
        json!({"1": {"code": "control", "type": "Enum", "values": {"range": ["a", "b"]}}}),
        &[],
    );
    assert_eq!(payload(&d)["cmps"]["dp1"]["p"], "select");
}

// ---------------------------------------------------------------------------------------------
// Integers.
// ---------------------------------------------------------------------------------------------

#[test]
fn number_scale_applies_to_range_and_templates() {
    let d = device(
        "n",
        None,
        json!({"101": {"code": "temp_set", "type": "Integer", "values": {"min": 0, "max": 1000, "scale": 1, "step": 1, "unit": "℃"}}}),
        &[],
    );
    let p = payload(&d);
    let n = &p["cmps"]["dp101"];
    assert_eq!(n["p"], "number");
    assert_eq!(n["min"], json!(0));
    assert_eq!(n["max"], json!(100));
    assert_eq!(n["step"], json!(0.1));
    assert_eq!(n["unit_of_meas"], "°C");
    assert_eq!(n["name"], "Temp set");
    let cmd = n["cmd_tpl"].as_str().unwrap();
    assert_eq!(cmd, "{{ (value | float * 10) | round(0) | int }}");
    assert_eq!(apply_command_template(cmd, 21.5), 215);
    let val = n["val_tpl"].as_str().unwrap();
    assert_eq!(apply_value_template(val, 215), 21.5);
    // 1000 steps: a slider.
    assert!(n.get("mode").is_none());
}

#[test]
fn measurement_codes() {
    let d = device(
        "m",
        Some("wsdcg"),
        json!({
            "1": {"code": "va_temperature", "type": "Integer", "values": {"unit": "℃", "min": -200, "max": 600, "scale": 1}},
            "2": {"code": "va_humidity", "type": "Integer", "values": {"unit": "%", "min": 0, "max": 100}},
            "4": {"code": "battery_percentage", "type": "Integer"},
            "17": {"code": "add_ele", "type": "Integer"},
        }),
        &[],
    );
    let p = payload(&d);
    let c = cmps(&p);
    assert_eq!(c["dp1"]["p"], "sensor");
    assert_eq!(c["dp1"]["dev_cla"], "temperature");
    assert_eq!(c["dp1"]["unit_of_meas"], "°C");
    assert_eq!(
        apply_value_template(c["dp1"]["val_tpl"].as_str().unwrap(), -55),
        -5.5
    );
    assert_eq!(c["dp2"]["dev_cla"], "humidity");
    assert!(c["dp2"].get("val_tpl").is_none());
    assert_eq!(c["dp4"]["dev_cla"], "battery");
    assert_eq!(c["dp4"]["ent_cat"], "diagnostic");
    assert_eq!(c["dp17"]["dev_cla"], "energy");
    assert_eq!(c["dp17"]["unit_of_meas"], "kWh");
    assert_eq!(c["dp17"]["stat_cla"], "total_increasing");
    assert_eq!(
        c["dp17"]["val_tpl"],
        "{{ (value | float / 1000) | round(3) }}"
    );
    assert_eq!(
        apply_value_template(c["dp17"]["val_tpl"].as_str().unwrap(), 12345),
        12.345
    );
}

#[test]
fn integer_without_range_is_a_sensor() {
    let d = device(
        "i",
        None,
        json!({"7": {"code": "mystery", "type": "Integer", "values": {}}, "8": {"code": "with_unit", "type": "Integer", "values": {"unit": "lux"}}}),
        &[],
    );
    let p = payload(&d);
    assert_eq!(
        keys(&p["cmps"]["dp7"]),
        ["name", "p", "stat_t", "unique_id"]
    );
    assert_eq!(p["cmps"]["dp8"]["unit_of_meas"], "lx");
    assert_eq!(p["cmps"]["dp8"]["stat_cla"], "measurement");
}

#[test]
fn huge_and_odd_ranges_do_not_panic() {
    let d = device(
        "h",
        None,
        json!({
            "1": {"code": "a", "type": "Integer", "values": {"min": -9.9e300, "max": 9.9e300, "scale": 4000000000u64}},
            "2": {"code": "b", "type": "Integer", "values": {"min": i64::MIN, "max": i64::MAX, "step": 0}},
            "3": {"code": "c", "type": "Integer", "values": {"min": "5", "max": "50", "step": "5", "scale": "1"}},
            "4": {"code": "d", "type": "Integer", "values": {"min": 10, "max": 1}},
            "5": {"code": "e", "type": "Integer", "values": {"min": [], "max": {}, "scale": -3, "unit": 7}},
        }),
        &[],
    );
    let p = payload(&d);
    let c = cmps(&p);
    // Out of f64's exact range: no usable range → sensor.
    assert_eq!(c["dp1"]["p"], "sensor");
    assert_eq!(
        c["dp1"]["val_tpl"],
        "{{ (value | float / 1000000000) | round(9) }}"
    );
    assert_eq!(c["dp2"]["p"], "sensor");
    // Numbers as strings are read.
    assert_eq!(c["dp3"]["p"], "number");
    assert_eq!(
        (
            c["dp3"]["min"].clone(),
            c["dp3"]["max"].clone(),
            c["dp3"]["step"].clone()
        ),
        (json!(0.5), json!(5), json!(0.5))
    );
    // min > max: no range.
    assert_eq!(c["dp4"]["p"], "sensor");
    assert_eq!(c["dp5"]["p"], "sensor");
    assert!(c["dp5"].get("val_tpl").is_none());
}

#[test]
fn huge_but_exact_range_is_a_boxed_number() {
    let d = device(
        "h",
        None,
        json!({"1": {"code": "big", "type": "Integer", "values": {"min": -2147483648i64, "max": 2147483647, "scale": 0}}}),
        &[],
    );
    let p = payload(&d);
    let n = &p["cmps"]["dp1"];
    assert_eq!(n["p"], "number");
    assert_eq!(n["min"], json!(-2147483648i64));
    assert_eq!(n["max"], json!(2147483647));
    assert_eq!(n["mode"], "box");
}

// ---------------------------------------------------------------------------------------------
// Booleans, enums, strings.
// ---------------------------------------------------------------------------------------------

#[test]
fn read_only_booleans_and_on_off_enums_are_binary_sensors() {
    let d = device(
        "b",
        Some("mcs"),
        json!({
            "1": {"code": "doorcontact_state", "type": "Boolean"},
            "2": {"code": "pir", "type": "Enum", "values": {"range": ["pir", "none"]}},
            "3": {"code": "anything", "type": "Boolean", "mode": "ro"},
            "4": {"code": "other", "type": "Boolean", "values": {"mode": "ro"}},
            "5": {"code": "child_lock", "type": "Boolean"},
        }),
        &[],
    );
    let p = payload(&d);
    let c = cmps(&p);
    assert_eq!(
        c["dp1"],
        json!({
            "p": "binary_sensor", "unique_id": "b_dp1", "name": "Door",
            "stat_t": "tuya/b/dps/1/state", "pl_on": "true", "pl_off": "false", "dev_cla": "door",
        })
    );
    assert_eq!(
        (c["dp2"]["pl_on"].clone(), c["dp2"]["pl_off"].clone()),
        (json!("pir"), json!("none"))
    );
    assert_eq!(c["dp2"]["dev_cla"], "motion");
    assert_eq!(c["dp3"]["p"], "binary_sensor");
    assert_eq!(c["dp4"]["p"], "binary_sensor");
    assert_eq!(c["dp5"]["p"], "switch");
    assert_eq!(c["dp5"]["ent_cat"], "config");
}

#[test]
fn enums() {
    let d = device(
        "e",
        None,
        json!({
            "1": {"code": "relay_status", "type": "Enum", "values": {"range": ["0", "1", "2"]}},
            "2": {"code": "relay_status", "type": "Enum"},
            "3": {"code": "strange", "type": "Enum", "values": {}},
            "4": {"code": "battery_state", "type": "Enum"},
            "5": {"code": "nums", "type": "Enum", "values": {"range": [1, 2, "x", null]}},
        }),
        &[],
    );
    let p = payload(&d);
    let c = cmps(&p);
    assert_eq!(c["dp1"]["p"], "select");
    assert_eq!(c["dp1"]["ops"], json!(["0", "1", "2"]));
    assert_eq!(c["dp2"]["ops"], json!(["power_off", "power_on", "last"]));
    assert_eq!(keys(&c["dp3"]), ["name", "p", "stat_t", "unique_id"]);
    assert_eq!(c["dp4"]["p"], "sensor");
    assert_eq!(c["dp4"]["dev_cla"], "enum");
    assert_eq!(c["dp4"]["ops"], json!(["low", "middle", "high"]));
    assert_eq!(c["dp5"]["ops"], json!(["1", "2", "x"]));
}

#[test]
fn strings_json_bitmap_raw() {
    let d = device(
        "s",
        None,
        json!({
            "1": {"code": "text", "type": "String", "values": {"maxlen": 255}},
            "2": {"code": "blob", "type": "Json"},
            "3": {"code": "fault", "type": "Bitmap", "values": {"label": ["a", "b"]}},
            "4": {"code": "raw_thing", "type": "Raw"},
        }),
        &[],
    );
    let p = payload(&d);
    let c = cmps(&p);
    assert_eq!(keys(&c["dp1"]), ["name", "p", "stat_t", "unique_id"]);
    assert_eq!(keys(&c["dp2"]), ["name", "p", "stat_t", "unique_id"]);
    assert_eq!(c["dp3"]["p"], "sensor");
    assert_eq!(c["dp3"]["ent_cat"], "diagnostic");
    assert!(!c.contains_key("dp4"), "raw is left out");
    // Brought back by an override.
    let mut d = d;
    d.overrides.insert("4".into(), ov(Some("sensor")));
    assert_eq!(payload(&d)["cmps"]["dp4"]["p"], "sensor");
}

// ---------------------------------------------------------------------------------------------
// Odd mappings.
// ---------------------------------------------------------------------------------------------

#[test]
fn values_as_json_string_are_parsed() {
    let d = device(
        "j",
        None,
        json!({
            "2": {"code": "percent_control", "type": "Integer", "values": "{\"min\":0,\"max\":1000,\"scale\":1,\"step\":5,\"unit\":\"%\"}"},
            "3": {"code": "mode", "type": "Enum", "values": "{\"range\":[\"a\",\"b\"]}"},
            "4": {"code": "bad", "type": "Integer", "values": "not json"},
            "5": {"code": "arr", "type": "Integer", "values": "[1,2]"},
        }),
        &[],
    );
    let p = payload(&d);
    let c = cmps(&p);
    assert_eq!(c["dp2"]["p"], "number");
    assert_eq!(
        (c["dp2"]["max"].clone(), c["dp2"]["step"].clone()),
        (json!(100), json!(0.5))
    );
    assert_eq!(c["dp3"]["ops"], json!(["a", "b"]));
    assert_eq!(c["dp4"]["p"], "sensor");
    assert_eq!(c["dp5"]["p"], "sensor");
}

#[test]
fn unknown_types_and_odd_entries_do_not_panic() {
    let d = device(
        "o",
        None,
        json!({
            "1": {"code": "x", "type": "Float"},
            "2": {"code": 5, "type": 7, "values": 3},
            "3": "switch_2",
            "4": null,
            "5": [1, 2],
            "six": {"code": "switch_6", "type": "Boolean"},
            "7": {"type": "Boolean"},
            "8": {"code": "y", "type": "Float"},
            "99999999999": {"code": "z", "type": "Boolean"},
        }),
        &[(8, DpValue::Integer(3))],
    );
    let p = payload(&d);
    let c = cmps(&p);
    assert_eq!(c["dp1"]["p"], "sensor");
    assert_eq!(c["dp2"]["name"], "DP 2");
    // A bare code string: the code is known, the type is not (nothing seen): a sensor.
    assert_eq!(c["dp3"]["name"], "Switch 2");
    assert_eq!(c["dp4"]["name"], "DP 4");
    assert!(!c.contains_key("dpsix"));
    assert_eq!(c["dp7"]["p"], "switch");
    assert_eq!(c["dp7"]["name"], "DP 7");
    // Unknown type, integer seen: treated as an integer.
    assert_eq!(c["dp8"]["p"], "sensor");
    // Not a u32: skipped.
    assert_eq!(c.len(), 7);

    // Mappings that are not objects.
    for m in [json!(null), json!([1, 2]), json!("x"), json!(3)] {
        let d = device("o", None, m, &[(1, DpValue::Bool(true))]);
        let p = payload(&d);
        assert_eq!(cmps(&p).len(), 1);
    }
    let mut d = device("o", None, json!({}), &[]);
    d.mapping = None;
    assert_eq!(payload(&d)["cmps"], json!({}));
}

#[test]
fn unmapped_dps_by_value_type() {
    let d = device(
        "u",
        None,
        json!({"1": {"code": "switch_1", "type": "Boolean"}}),
        &[
            (1, DpValue::Bool(true)),
            (101, DpValue::Bool(false)),
            (102, DpValue::Integer(5)),
            (103, DpValue::from("hello")),
            (104, DpValue::Json(json!({"a": 1}))),
            (105, DpValue::Raw(vec![1, 2, 3])),
        ],
    );
    let p = payload(&d);
    let c = cmps(&p);
    assert_eq!(
        c.keys().collect::<Vec<_>>(),
        ["dp1", "dp101", "dp102", "dp103", "dp104"]
    );
    assert_eq!(c["dp101"]["p"], "switch");
    assert_eq!(c["dp101"]["name"], "DP 101");
    assert_eq!(c["dp101"]["cmd_t"], "tuya/u/dps/101/command");
    assert_eq!(keys(&c["dp102"]), ["name", "p", "stat_t", "unique_id"]);
    assert_eq!(c["dp102"]["name"], "DP 102");
    assert_eq!(c["dp103"]["p"], "sensor");
    assert_eq!(c["dp104"]["p"], "sensor");
}

// ---------------------------------------------------------------------------------------------
// Overrides.
// ---------------------------------------------------------------------------------------------

#[test]
fn overrides_change_platform_and_ignore_drops() {
    let mut d = sim_fleet(1).remove(0);
    d.overrides.insert("1".into(), ov(Some("light")));
    d.overrides.insert("9".into(), ov(Some("sensor")));
    d.overrides.insert(
        "18".into(),
        DpOverride {
            ignore: true,
            ..Default::default()
        },
    );
    d.overrides.insert(
        "19".into(),
        DpOverride {
            name: Some("Load".into()),
            unit: Some("kW".into()),
            scale: Some(4),
            device_class: Some("power".into()),
            ..Default::default()
        },
    );
    d.overrides.insert("20".into(), ov(Some("select"))); // no options: ignored, stays a sensor
    let p = payload(&d);
    let c = cmps(&p);
    assert_eq!(c.keys().collect::<Vec<_>>(), ["dp1", "dp9", "dp19", "dp20"]);
    assert_eq!(c["dp1"]["p"], "light");
    assert_eq!(c["dp1"]["sup_clrm"], json!(["onoff"]));
    assert_eq!(c["dp9"]["p"], "sensor");
    assert_eq!(c["dp19"]["name"], "Load");
    assert_eq!(c["dp19"]["unit_of_meas"], "kW");
    assert_eq!(
        c["dp19"]["val_tpl"],
        "{{ (value | float / 10000) | round(4) }}"
    );
    assert_eq!(c["dp20"]["p"], "sensor");
    // `none` drops too.
    d.overrides.insert("20".into(), ov(Some("none")));
    assert!(!cmps(&payload(&d)).contains_key("dp20"));
}

#[test]
fn overrides_reach_into_lights_and_covers() {
    let mut d = rgb_bulb(Some("000003e803e8"));
    d.overrides.insert(
        "24".into(),
        DpOverride {
            ignore: true,
            ..Default::default()
        },
    );
    d.overrides.insert("23".into(), ov(Some("number")));
    d.overrides.insert(
        "20".into(),
        DpOverride {
            name: Some("Desk lamp".into()),
            ..Default::default()
        },
    );
    let p = payload(&d);
    let c = cmps(&p);
    assert_eq!(
        c.keys().collect::<Vec<_>>(),
        ["dp20", "dp21", "dp23", "dp25"]
    );
    assert_eq!(c["dp20"]["name"], "Desk lamp");
    assert_eq!(c["dp20"]["sup_clrm"], json!(["brightness"]));
    assert_eq!(c["dp23"]["p"], "number");
    assert_eq!(c["dp23"]["max"], 1000);

    let mut d = sim_fleet(3).remove(2);
    d.overrides.insert(
        "1".into(),
        DpOverride {
            device_class: Some("blind".into()),
            name: Some("Blind".into()),
            ..Default::default()
        },
    );
    d.overrides.insert("2".into(), ov(Some("number")));
    let p = payload(&d);
    let c = cmps(&p);
    assert_eq!(c["dp1"]["dev_cla"], "blind");
    assert_eq!(c["dp1"]["name"], "Blind");
    assert!(c["dp1"].get("set_pos_t").is_none());
    assert_eq!(c["dp2"]["p"], "number");
    // Switching switch_led's light off: its DPs come back standalone.
    let mut d = sim_fleet(2).remove(1);
    d.overrides.insert("20".into(), ov(Some("switch")));
    let p = payload(&d);
    let c = cmps(&p);
    assert_eq!(c["dp20"]["p"], "switch");
    assert_eq!(c["dp22"]["p"], "number");
    assert_eq!(c["dp22"]["min"], 10);
}

#[test]
fn forced_platforms_keep_only_fitting_classes_and_categories() {
    let mut d = device(
        "f",
        Some("cz"),
        json!({
            "1": {"code": "doorcontact_state", "type": "Boolean"},
            "2": {"code": "pir", "type": "Enum", "values": {"range": ["pir", "none"]}},
            "3": {"code": "cur_power", "type": "Integer", "values": {"min": 0, "max": 50000, "scale": 1}},
            "4": {"code": "child_lock", "type": "Boolean"},
            "5": {"code": "relay_status", "type": "Enum"},
        }),
        &[],
    );
    for (dp, comp) in [
        ("1", "switch"),
        ("2", "sensor"),
        ("3", "number"),
        ("4", "sensor"),
        ("5", "sensor"),
    ] {
        d.overrides.insert(dp.into(), ov(Some(comp)));
    }
    let p = payload(&d);
    let c = cmps(&p);
    assert_eq!(c["dp1"]["p"], "switch");
    assert!(c["dp1"].get("dev_cla").is_none());
    assert_eq!(
        (c["dp2"]["dev_cla"].clone(), c["dp2"]["ops"].clone()),
        (json!("enum"), json!(["pir", "none"]))
    );
    assert_eq!(c["dp3"]["p"], "number");
    assert_eq!(c["dp3"]["dev_cla"], "power");
    assert_eq!(c["dp3"]["max"], 5000);
    assert!(c["dp4"].get("ent_cat").is_none());
    assert_eq!(c["dp5"]["dev_cla"], "enum");
    // An explicit class is the user's call.
    d.overrides.insert(
        "1".into(),
        DpOverride {
            component: Some("switch".into()),
            device_class: Some("outlet".into()),
            ..Default::default()
        },
    );
    assert_eq!(payload(&d)["cmps"]["dp1"]["dev_cla"], "outlet");
}

#[test]
fn override_deserializes_and_rejects_unknown_fields() {
    let o: DpOverride = toml::from_str("component = \"sensor\"\nscale = 2\nignore = true").unwrap();
    assert_eq!(o.component.as_deref(), Some("sensor"));
    assert_eq!(o.scale, Some(2));
    assert!(o.ignore);
    assert!(toml::from_str::<DpOverride>("colour = 1").is_err());
}

// ---------------------------------------------------------------------------------------------
// Removal.
// ---------------------------------------------------------------------------------------------

#[test]
fn removed_components_are_sent_with_only_p() {
    let mut d = sim_fleet(1).remove(0);
    let before = payload(&d);
    d.overrides.insert(
        "9".into(),
        DpOverride {
            ignore: true,
            ..Default::default()
        },
    );
    let after = with_removed_components(&before, config_payload(&d, &origin()));
    assert_eq!(after["cmps"]["dp9"], json!({"p": "number"}));
    assert_eq!(after["cmps"]["dp1"]["p"], "switch");
    // Odd previous payloads change nothing.
    let next = config_payload(&d, &origin());
    assert_eq!(with_removed_components(&json!(null), next.clone()), next);
    assert_eq!(
        with_removed_components(&json!({"cmps": {"x": 1}}), next.clone()),
        next
    );
}

#[test]
fn payload_is_deterministic() {
    let d = rgb_bulb(Some("000003e803e8"));
    assert_eq!(config_payload(&d, &origin()), config_payload(&d, &origin()));
}
