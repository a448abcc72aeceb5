//! Home Assistant MQTT device-based discovery: one retained config per device, with a component
//! per DP derived from the DP mapping and Tuya's standard DP codes.
//!
//! (Being written: see the interface below.)

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use tuya_proto::Dps;

/// What discovery needs to know about one bridged device.
#[derive(Debug, Clone, Default)]
pub struct DeviceInfo {
    /// Object id, unique across the fleet, `[a-zA-Z0-9_-]` only (the device id; for a gateway
    /// child `<gateway id>_<cid>`).
    pub object_id: String,
    /// Human name.
    pub name: String,
    /// The device's topic base, e.g. `tuya/living_room_lamp`: state on `<base>/dps/<dp>/state`
    /// (plain text: `true`/`false`, integers as raw device values, strings as is), commands on
    /// `<base>/dps/<dp>/command` (same text forms), availability on `<base>/status`.
    pub base: String,
    /// Further availability topics (the bridge's own status), all of which must be `online`.
    pub extra_availability: Vec<String>,
    /// Tuya category (`cz` plug, `dj` light, `cl` cover, `wsdcg` sensor, …).
    pub category: Option<String>,
    /// Product key.
    pub product_key: Option<String>,
    /// Model name, when known.
    pub model: Option<String>,
    /// tinytuya's DP mapping: `{"1": {"code": "switch_1", "type": "Boolean", "values": {...}}}`.
    pub mapping: Option<Value>,
    /// DPs seen so far with their values (typed), for DPs the mapping does not describe.
    pub dps: Dps,
    /// The gateway's object id, for a child.
    pub via_device: Option<String>,
    /// Per-DP overrides from the bridge's config, keyed by DP id.
    pub overrides: BTreeMap<String, DpOverride>,
}

/// A user's override of how one DP appears in Home Assistant.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DpOverride {
    /// The HA platform (`switch`, `sensor`, `number`, …).
    pub component: Option<String>,
    /// Entity name.
    pub name: Option<String>,
    /// HA device class.
    pub device_class: Option<String>,
    /// Unit of measurement.
    pub unit: Option<String>,
    /// Decimal places the raw integer carries (value = raw / 10^scale).
    pub scale: Option<u32>,
    /// Leave this DP out of discovery.
    pub ignore: bool,
}

/// Who publishes the discovery (HA's `o` block).
#[derive(Debug, Clone)]
pub struct Origin {
    /// Software name.
    pub name: String,
    /// Its version.
    pub sw: String,
    /// Its home page.
    pub url: String,
}

/// The retained discovery topic of a device: `<prefix>/device/<object_id>/config`.
pub fn config_topic(discovery_prefix: &str, object_id: &str) -> String {
    format!("{discovery_prefix}/device/{object_id}/config")
}

/// The discovery payload of a device.
pub fn config_payload(d: &DeviceInfo, origin: &Origin) -> Value {
    serde_json::json!({
        "dev": {"ids": [d.object_id], "name": d.name, "mf": "Tuya"},
        "o": {"name": origin.name, "sw": origin.sw, "url": origin.url},
        "cmps": {},
    })
}
