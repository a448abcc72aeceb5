//! The device record both clients produce, and the DP mappings in tinytuya's format.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One device as the cloud knows it, with what local control needs.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudDevice {
    /// The device id (`devId`).
    pub id: String,
    /// The name given in the app.
    pub name: String,
    /// The local key (secret: left out of `Debug`).
    pub local_key: String,
    /// The product id (`product_id`, `productKey`).
    pub product_key: String,
    /// The product's name.
    pub product_name: String,
    /// The category code (`cz`, `dj`, `wg2`, …).
    pub category: String,
    /// The model, when given.
    pub model: String,
    /// The device's UUID.
    pub uuid: String,
    /// The MAC address, when given.
    pub mac: Option<String>,
    /// The IP address the cloud last saw (usually the public one), when given.
    pub ip: Option<String>,
    /// Whether this is a sub-device behind a gateway.
    pub sub: bool,
    /// The gateway of a sub-device.
    pub parent: Option<String>,
    /// The sub-device's node id (its `cid` on the gateway).
    pub node_id: Option<String>,
    /// The DP mapping in tinytuya's format: `{"<dp>": {"code", "type", "values"}}`.
    pub mapping: Value,
}

impl std::fmt::Debug for CloudDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudDevice")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("local_key", &"****")
            .field("product_key", &self.product_key)
            .field("product_name", &self.product_name)
            .field("category", &self.category)
            .field("model", &self.model)
            .field("uuid", &self.uuid)
            .field("mac", &self.mac)
            .field("ip", &self.ip)
            .field("sub", &self.sub)
            .field("parent", &self.parent)
            .field("node_id", &self.node_id)
            .field("mapping", &self.mapping)
            .finish()
    }
}

/// A text field of `v` under the first of `names` present: strings as they are, numbers as
/// text, anything else as missing.
pub(crate) fn text(v: &Value, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match v.get(*n)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(x) => Some(x.to_string()),
        _ => None,
    })
}

fn text_or_empty(v: &Value, names: &[&str]) -> String {
    text(v, names).unwrap_or_default()
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

impl CloudDevice {
    /// A device from a cloud record (either API's field names); `None` without an id. Public
    /// so that a reply fetched some other way (and the fuzz target) reads the same.
    pub fn from_record(v: &Value) -> Option<Self> {
        let id = non_empty(text(v, &["id", "devId", "device_id"]))?;
        let sub = match v.get("sub") {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0) != 0,
            Some(Value::String(s)) => s == "true" || s == "1",
            _ => false,
        };
        Some(Self {
            id,
            name: text_or_empty(v, &["name"]),
            local_key: text_or_empty(v, &["local_key", "localKey"]),
            product_key: text_or_empty(v, &["product_id", "productId", "productKey"]),
            product_name: text_or_empty(v, &["product_name", "productName"]),
            category: text_or_empty(v, &["category"]),
            model: text_or_empty(v, &["model"]),
            uuid: text_or_empty(v, &["uuid"]),
            mac: non_empty(text(v, &["mac"])),
            ip: non_empty(text(v, &["ip"])),
            sub,
            parent: non_empty(text(v, &["gateway_id", "gatewayId", "parent_id"])),
            node_id: non_empty(text(v, &["node_id", "nodeId"])),
            mapping: Value::Object(Map::new()),
        })
    }
}

impl CloudDevice {
    /// The device as a devices.json entry in tinytuya's field names (`key`, `product_id`,
    /// `parent`, `node_id`, `mapping`, …), ready for [`tuya_devices::DevicesFile::merge_account`].
    /// The cloud's `ip` is left out: it is the address the cloud saw (usually the home's
    /// public one), never the LAN address local control needs.
    pub fn to_entry(&self) -> tuya_devices::DeviceEntry {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let mut extra = Map::new();
        for (k, v) in [
            ("product_id", &self.product_key),
            ("product_name", &self.product_name),
            ("category", &self.category),
            ("model", &self.model),
            ("uuid", &self.uuid),
        ] {
            if !v.is_empty() {
                extra.insert(k.into(), Value::String(v.clone()));
            }
        }
        if let Some(mac) = &self.mac {
            extra.insert("mac".into(), Value::String(mac.clone()));
        }
        let mapping = self
            .mapping
            .as_object()
            .is_some_and(|m| !m.is_empty())
            .then(|| self.mapping.clone());
        tuya_devices::DeviceEntry {
            id: self.id.clone(),
            name: some(&self.name),
            key: some(&self.local_key),
            ip: None,
            version: None,
            mapping,
            sub: Some(self.sub),
            parent: self.parent.clone(),
            node_id: self.node_id.clone(),
            extra,
        }
    }
}

/// Fills in the parent of sub-devices that have none as tinytuya does: the non-sub device
/// with the same local key (a gateway shares its key with its children).
pub(crate) fn guess_parents(devices: &mut [CloudDevice]) {
    let gateways: Vec<(String, String)> = devices
        .iter()
        .filter(|d| !d.sub && !d.local_key.is_empty())
        .map(|d| (d.local_key.clone(), d.id.clone()))
        .collect();
    for d in devices.iter_mut().filter(|d| d.sub && d.parent.is_none()) {
        d.parent = gateways
            .iter()
            .find(|(k, id)| *k == d.local_key && *id != d.id)
            .map(|(_, id)| id.clone());
    }
}

/// A `values` field: a JSON string parsed, an object as it is, anything else `{}`.
fn parse_values(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(o @ Value::Object(_)) => o,
            _ => Value::Object(Map::new()),
        },
        Some(o @ Value::Object(_)) => o.clone(),
        _ => Value::Object(Map::new()),
    }
}

fn entry(code: String, kind: String, raw: Option<&Value>) -> Value {
    let mut e = Map::new();
    e.insert("code".into(), Value::String(code));
    e.insert("type".into(), Value::String(kind.clone()));
    e.insert("values".into(), parse_values(raw));
    if kind.eq_ignore_ascii_case("json") {
        if let Some(Value::String(s)) = raw {
            e.insert("raw_values".into(), Value::String(s.clone()));
        }
    }
    Value::Object(e)
}

/// The mapping of an OpenAPI `/v1.1/devices/{id}/specifications` result: `status` then
/// `functions`, items `{code, dp_id (or dpId), type, values}`; the first entry for a DP wins.
pub fn mapping_from_specs(result: &Value) -> Value {
    let mut m = Map::new();
    for list in ["status", "functions"] {
        let Some(items) = result.get(list).and_then(Value::as_array) else {
            continue;
        };
        for it in items {
            let (Some(dp), Some(code)) = (text(it, &["dp_id", "dpId"]), text(it, &["code"])) else {
                continue;
            };
            if m.contains_key(&dp) {
                continue;
            }
            let kind = text_or_empty(it, &["type"]);
            m.insert(dp, entry(code, kind, it.get("values")));
        }
    }
    Value::Object(m)
}

/// The mapping of an app API `/v1.0/m/life/devices/{id}/status` result:
/// `dpStatusRelationDTOS[{dpId, statusCode, valueType, valueDesc}]`.
pub fn mapping_from_status(result: &Value) -> Value {
    let mut m = Map::new();
    if let Some(items) = result.get("dpStatusRelationDTOS").and_then(Value::as_array) {
        for it in items {
            let (Some(dp), Some(code)) = (text(it, &["dpId"]), text(it, &["statusCode"])) else {
                continue;
            };
            let kind = text_or_empty(it, &["valueType"]);
            m.entry(dp)
                .or_insert_with(|| entry(code, kind, it.get("valueDesc")));
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn specifications_become_tinytuyas_mapping() {
        let specs = json!({"category": "cz", "functions": [
            {"code": "switch_1", "dp_id": 1, "type": "Boolean", "values": "{}"},
            {"code": "countdown_1", "dp_id": 9, "type": "Integer",
             "values": "{\"unit\":\"s\",\"min\":0,\"max\":86400,\"scale\":0,\"step\":1}"}],
            "status": [{"code": "switch_1", "dpId": 1, "type": "Boolean", "values": "{}"},
            {"code": "cfg", "dp_id": 101, "type": "Json", "values": "{\"a\":1}"},
            {"code": "broken", "dp_id": 102, "type": "Enum", "values": "not json"},
            {"code": "no_dp"}, 7, {"dp_id": [1], "code": "x"}]});
        let m = mapping_from_specs(&specs);
        assert_eq!(
            m["1"],
            json!({"code": "switch_1", "type": "Boolean", "values": {}})
        );
        assert_eq!(m["9"]["values"]["max"], 86400);
        assert_eq!(m["101"]["raw_values"], "{\"a\":1}");
        assert_eq!(m["102"]["values"], json!({}));
        assert_eq!(m.as_object().unwrap().len(), 4);
        assert_eq!(mapping_from_specs(&json!("x")), json!({}));
    }

    #[test]
    fn records_of_either_api_and_a_redacted_debug() {
        let d = CloudDevice::from_record(&json!({"id": "a", "local_key": "k3y!<&>x",
            "product_id": "p", "sub": 1, "node_id": 5, "gateway_id": ""}))
        .unwrap();
        assert!(d.sub && d.node_id.as_deref() == Some("5") && d.parent.is_none());
        assert!(!format!("{d:?}").contains("k3y"));
        assert!(CloudDevice::from_record(&json!({"name": "no id"})).is_none());
        let e = d.to_entry();
        assert_eq!(e.key.as_deref(), Some("k3y!<&>x"));
        assert_eq!(e.extra["product_id"], "p");
        assert!(e.is_sub() && e.node_id.as_deref() == Some("5") && e.ip.is_none());
        assert!(
            e.name.is_none() && e.mapping.is_none(),
            "empty fields stay out"
        );
        assert!(CloudDevice::from_record(&json!([1])).is_none());
    }
}
