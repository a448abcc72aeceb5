//! Integers, booleans, enums and strings.

use super::*;

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
