//! The root of the payload, and the simulator's fleet.

use super::*;

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
