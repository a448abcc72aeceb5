//! Odd mappings, overrides and removal.

use super::*;

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
