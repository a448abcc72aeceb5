//! The fake account: two users (homes), five devices, a gateway with a child, local keys full
//! of symbols.

use serde_json::{json, Value};

/// One device of the fake account.
pub struct Dev {
    pub id: &'static str,
    pub name: &'static str,
    pub key: &'static str,
    /// The OpenAPI user (`u1`, `u2`); the app home is 1001 for `u1`, 1002 for `u2`.
    pub uid: &'static str,
    pub product_id: &'static str,
    pub category: &'static str,
    pub gateway: Option<&'static str>,
    pub node_id: Option<&'static str>,
    /// `(dp, code, type, values)`; `None`: the device has no DPs (code 2009).
    pub dps: Option<&'static [(u32, &'static str, &'static str, &'static str)]>,
}

pub const PLUG_KEY: &str = "k3y!<&>xA1b2C3d4";
pub const GW_KEY: &str = "g4t3\"w\\y/%+=?#&!";
pub const BULB_KEY: &str = "b'u{l}b<k>e&y;1:";
pub const SENSOR_KEY: &str = "s3n$0r_K3y~^|*@9";

pub const DEVICES: &[Dev] = &[
    Dev {
        id: "ebplug0000000001",
        name: "Desk plug",
        key: PLUG_KEY,
        uid: "u1",
        product_id: "prodplug",
        category: "cz",
        gateway: None,
        node_id: None,
        dps: Some(&[
            (1, "switch_1", "Boolean", "{}"),
            (
                9,
                "countdown_1",
                "Integer",
                r#"{"unit":"s","min":0,"max":86400,"scale":0,"step":1}"#,
            ),
            (
                19,
                "cur_power",
                "Integer",
                r#"{"unit":"W","min":0,"max":99999,"scale":1,"step":1}"#,
            ),
        ]),
    },
    Dev {
        id: "ebgateway0000001",
        name: "Zigbee gateway",
        key: GW_KEY,
        uid: "u1",
        product_id: "prodgw",
        category: "wg2",
        gateway: None,
        node_id: None,
        dps: Some(&[]),
    },
    Dev {
        id: "ebtrv00000000001",
        name: "Radiator valve",
        key: GW_KEY,
        uid: "u1",
        product_id: "prodtrv",
        category: "wkf",
        gateway: Some("ebgateway0000001"),
        node_id: Some("a4c13800000000aa"),
        dps: Some(&[
            (2, "mode", "Enum", r#"{"range":["auto","manual"]}"#),
            (
                3,
                "temp_current",
                "Integer",
                r#"{"unit":"℃","min":-200,"max":1000,"scale":1,"step":1}"#,
            ),
        ]),
    },
    Dev {
        id: "ebbulb000000001",
        name: "Hall bulb",
        key: BULB_KEY,
        uid: "u1",
        product_id: "prodbulb",
        category: "dj",
        gateway: None,
        node_id: None,
        dps: None,
    },
    Dev {
        id: "ebsensor0000002",
        name: "Cabin sensor",
        key: SENSOR_KEY,
        uid: "u2",
        product_id: "prodsens",
        category: "wsdcg",
        gateway: None,
        node_id: None,
        dps: Some(&[(
            1,
            "va_temperature",
            "Integer",
            r#"{"unit":"℃","min":-200,"max":600,"scale":1,"step":1}"#,
        )]),
    },
];

/// A Bluetooth child of the gateway that the account's device lists leave out, as the real
/// cloud can: only the gateway's sub-device list names it.
pub const BLE_CHILD: Dev = Dev {
    id: "ebblelock0000001",
    name: "Door lock",
    key: "",
    uid: "u1",
    product_id: "prodlock",
    category: "jtmspro",
    gateway: Some("ebgateway0000001"),
    node_id: Some("ble-00000000aa01"),
    dps: Some(&[(
        1,
        "unlock_ble",
        "Integer",
        r#"{"min":0,"max":999,"scale":0,"step":1}"#,
    )]),
};

pub fn by_id(id: &str) -> Option<&'static Dev> {
    DEVICES.iter().chain([&BLE_CHILD]).find(|d| d.id == id)
}

/// The sub-device list of a gateway (`None`: not a gateway).
pub fn children_of(gateway: &str) -> Option<Vec<&'static Dev>> {
    let kids: Vec<&Dev> = DEVICES
        .iter()
        .chain([&BLE_CHILD])
        .filter(|d| d.gateway == Some(gateway))
        .collect();
    (!kids.is_empty()).then_some(kids)
}

pub fn of_user(uid: &str) -> Vec<&'static Dev> {
    DEVICES.iter().filter(|d| d.uid == uid).collect()
}

/// The MAC address the fake's factory infos give a device.
pub fn mac_of(d: &Dev) -> String {
    format!("10:d5:61:00:00:{:02x}", d.id.len() + d.name.len())
}

/// The home (app API) of a user.
pub fn home_of(uid: &str) -> &'static str {
    if uid == "u1" {
        "1001"
    } else {
        "1002"
    }
}

/// The device's record: with `with_gateway` the OpenAPI v1.3 list's fields (gateway_id,
/// node_id), else those of the users/{uid}/devices and app lists.
pub fn record(d: &Dev, with_gateway: bool) -> Value {
    let mut v = json!({
        "id": d.id, "name": d.name, "local_key": d.key, "product_id": d.product_id,
        "product_name": format!("{} product", d.name), "category": d.category,
        "uuid": format!("uuid-{}", d.id), "ip": "203.0.113.7", "online": true,
        "sub": d.gateway.is_some(), "model": "M1", "uid": d.uid,
    });
    if with_gateway {
        v["gateway_id"] = json!(d.gateway.unwrap_or(""));
        v["node_id"] = json!(d.node_id.unwrap_or(""));
    }
    v
}

/// The expected mapping (tinytuya's format) of a device.
pub fn expected_mapping(d: &Dev) -> Value {
    let mut m = serde_json::Map::new();
    for (dp, code, kind, values) in d.dps.unwrap_or(&[]) {
        let parsed: Value = serde_json::from_str(values).unwrap();
        m.insert(
            dp.to_string(),
            json!({"code": code, "type": kind, "values": parsed}),
        );
    }
    Value::Object(m)
}
