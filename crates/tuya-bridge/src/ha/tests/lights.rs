//! Lights and covers.

use super::*;

// ---------------------------------------------------------------------------------------------
// Lights.
// ---------------------------------------------------------------------------------------------

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
