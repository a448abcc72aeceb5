//! Home Assistant MQTT device-based discovery: one retained config per device, with a component
//! per DP derived from the DP mapping and Tuya's standard DP codes. Pure functions, no I/O.
//!
//! # The payload
//!
//! [`config_payload`] returns `{"dev", "o", "avty", "avty_mode": "all", "qos": 1, "cmps"}`:
//! availability is shared at the root (the device's `<base>/status` plus every
//! [`DeviceInfo::extra_availability`] topic, all `online`/`offline`), and `cmps` holds one
//! component per DP keyed `dp<id>`, `unique_id` `<object_id>_dp<id>`. Topics are full strings
//! (no `~`): state on `<base>/dps/<dp>/state`, commands on `<base>/dps/<dp>/command`.
//!
//! # Entity rules
//!
//! - **Light**: `switch_led` (Boolean) in a light category (`dj`, `dd`, `xdd`, `fwd`, `dc`,
//!   `gyd`, `tyndj`, `fsd`), or next to a `bright_value(_v2)`, or overridden to `light`, becomes
//!   one `light` (default schema) keyed by the `switch_led` DP: on/off with payloads
//!   `true`/`false`; brightness on `bright_value_v2` (else `bright_value`), `bri_scl` = the range
//!   max (1000 / 255 by default), commands clamped up to the range min; colour temperature on
//!   `temp_value_v2` (else `temp_value`) in kelvin ([`MIN_KELVIN`]–[`MAX_KELVIN`], templates
//!   mapping the 0–max range linearly, integers out); HS colour on `colour_data_v2` (else
//!   `colour_data`): the state template reads all three Tuya forms (JSON `{"h","s","v"}`,
//!   12-hex `HHHHSSSSVVVV`, old 14-hex `rrggbb0hhhssvv`), the command template writes the form
//!   the device was seen using (12-hex when not seen yet), always at full value (v = 1000 / 255);
//!   a device seen using the 14-hex form gets no HS mode. `sup_clrm` follows HA's rules
//!   (`color_temp` and/or `hs`, else `brightness`, else `onoff`); with both, the colour mode is
//!   read from `work_mode` (`colour` → `hs`, anything else → `color_temp`). The DPs used are not
//!   repeated; `work_mode` stays a `select`.
//! - **Cover**: `control` in `cl`/`clkg` (or with open/close options, or overridden to `cover`)
//!   becomes one `cover` keyed by the control DP: `cmd_t` with `open`/`close`/`stop` (stop is
//!   `null` when the options lack it), `set_pos_t` on `percent_control`, `pos_t` on
//!   `percent_state` (else `percent_control`), `pos_open`/`pos_clsd` = range max/min (100/0),
//!   device class `curtain`. No `stat_t`: HA derives the state from the position.
//! - **Boolean**: `switch` (`pl_on`/`pl_off`/`stat_on`/`stat_off` = `true`/`false`), or
//!   `binary_sensor` for read-only codes (`doorcontact_state`, `temper_alarm`, `battery_low`, …)
//!   or `"mode": "ro"`.
//! - **Integer**: measurement codes → `sensor` with device class, unit, `stat_cla` and a scaling
//!   `val_tpl` (`cur_power` W/1, `cur_voltage` V/1, `cur_current` mA/0, `add_ele` kWh/3
//!   `total_increasing`, `va_temperature`/`temp_current` °C/1, `va_humidity`/`humidity_value` %,
//!   `battery_percentage` %, `pm25_value`, `co2_value`, …); other integers with a range (from
//!   the mapping or the code: `countdown_N` 0–86400 s, `bright_value*`, `temp_value*`,
//!   `percent_control`) → `number` with scaled `min`/`max`/`step`, a `cmd_tpl` back to the raw
//!   integer and a scaling `val_tpl` (`mode: box` past 1000 steps); the rest → `sensor`.
//! - **Enum**: `select` with `ops` from `range` (or the code's standard options); read-only
//!   codes → `binary_sensor` where Tuya's values are on/off-like (`pir`, `presence_state`,
//!   `watersensor_state`, …), else an `enum` `sensor`; no options at all → plain `sensor`.
//! - **String / Json / Bitmap / unknown type** → read-only `sensor`, no template. **Raw** is
//!   left out (base64 blobs make poor states); an override `component: sensor` brings it back.
//! - **DPs without a mapping entry**: Bool → `switch`, Integer → `sensor`, String/Json →
//!   `sensor`, Raw → left out; named `DP <id>`.
//! - Mapping `values` (`min`, `max`, `step`, `scale`, `unit`, `range`; an object or a string
//!   holding one) beat the code defaults; a [`DpOverride`] beats everything: `ignore` drops the
//!   DP (also from a light/cover), `component` forces the platform when it fits the DP's type
//!   (`none` drops it; a light/cover DP with another component leaves the group), `name`,
//!   `device_class`, `unit`, `scale` replace the derived ones.
//!
//! To drop components that disappeared since the last payload, see [`with_removed_components`];
//! to drop the whole device, publish an empty retained payload on [`config_topic`].

mod codes;
mod entities;
mod mapping;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};
use tuya_proto::Dps;

use entities::{Platform, Topics};
pub use entities::{MAX_KELVIN, MIN_KELVIN};

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

/// The retained discovery topic of a device: `<prefix>/device/<object_id>/config` (the object
/// id sanitized, see [`sanitize_id`]).
pub fn config_topic(discovery_prefix: &str, object_id: &str) -> String {
    format!(
        "{discovery_prefix}/device/{}/config",
        sanitize_id(object_id)
    )
}

/// An id HA accepts in topics and ids: every character outside `[a-zA-Z0-9_-]` becomes `_`
/// (an empty id becomes `_`).
pub fn sanitize_id(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

/// The discovery payload of a device (see the module docs for the rules).
pub fn config_payload(d: &DeviceInfo, origin: &Origin) -> Value {
    let object_id = sanitize_id(&d.object_id);
    let mut dev = Map::new();
    dev.insert("ids".into(), json!([object_id]));
    let name = if d.name.trim().is_empty() {
        &d.object_id
    } else {
        &d.name
    };
    dev.insert("name".into(), json!(name));
    dev.insert("mf".into(), json!("Tuya"));
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
    let category = nonempty(&d.category);
    let model = nonempty(&d.model)
        .or_else(|| {
            category
                .as_deref()
                .and_then(codes::category_name)
                .map(str::to_string)
        })
        .or_else(|| nonempty(&d.product_key))
        .or_else(|| category.clone());
    if let Some(m) = model {
        dev.insert("mdl".into(), json!(m));
    }
    if let Some(pk) = nonempty(&d.product_key) {
        dev.insert("mdl_id".into(), json!(pk));
    }
    if let Some(via) = nonempty(&d.via_device) {
        dev.insert("via_device".into(), json!(sanitize_id(&via)));
    }

    let avty: Vec<Value> = std::iter::once(format!("{}/status", d.base))
        .chain(d.extra_availability.iter().cloned())
        .map(|t| json!({"t": t, "pl_avail": "online", "pl_not_avail": "offline"}))
        .collect();

    let mut root = Map::new();
    root.insert("dev".into(), Value::Object(dev));
    root.insert(
        "o".into(),
        json!({"name": origin.name, "sw": origin.sw, "url": origin.url}),
    );
    root.insert("avty".into(), Value::Array(avty));
    root.insert("avty_mode".into(), json!("all"));
    root.insert("qos".into(), json!(1));
    root.insert("cmps".into(), Value::Object(components(d, &object_id)));
    Value::Object(root)
}

fn components(d: &DeviceInfo, object_id: &str) -> Map<String, Value> {
    let specs = mapping::specs(d.mapping.as_ref(), &d.dps, &d.overrides);
    let t = Topics { base: &d.base };
    let category = d.category.as_deref().map(str::trim);
    let uid = |dp: u32| format!("{object_id}_dp{dp}");
    let mut cmps = Map::new();
    let mut consumed = vec![false; specs.len()];

    let light = entities::find_light(&specs, category);
    let cover = entities::find_cover(&specs, category);
    for i in light.iter().flat_map(|l| &l.consumed) {
        consumed[*i] = true;
    }
    for i in cover.iter().flat_map(|c| &c.consumed) {
        consumed[*i] = true;
    }
    // Components come out in DP order; a group sits at its first DP.
    for (i, s) in specs.iter().enumerate() {
        if let Some(l) = light.as_ref().filter(|l| l.switch == i) {
            cmps.insert(
                format!("dp{}", s.id),
                Value::Object(entities::light(&specs, l, &uid(s.id), &t)),
            );
            continue;
        }
        if let Some(c) = cover.as_ref().filter(|c| c.control == i) {
            cmps.insert(
                format!("dp{}", s.id),
                Value::Object(entities::cover(&specs, c, &uid(s.id), &t)),
            );
            continue;
        }
        if consumed[i] || s.ov.ignore {
            continue;
        }
        let platform = match entities::forced_platform(s) {
            Some(forced) => forced,
            None => entities::auto_platform(s),
        };
        let Some(p) = platform else { continue };
        let p = if p == Platform::Select && s.options.is_empty() {
            Platform::Sensor
        } else {
            p
        };
        cmps.insert(
            format!("dp{}", s.id),
            Value::Object(entities::standalone(s, p, &uid(s.id), &t)),
        );
    }
    cmps
}

/// `next` with every component of `previous` that `next` lacks sent as `{"p": <platform>}`, which
/// makes HA remove it (device-based discovery's way to drop one entity). Anything odd in
/// `previous` is ignored.
pub fn with_removed_components(previous: &Value, mut next: Value) -> Value {
    let Some(old) = previous.get("cmps").and_then(Value::as_object) else {
        return next;
    };
    let Some(new) = next.get_mut("cmps").and_then(Value::as_object_mut) else {
        return next;
    };
    for (k, v) in old {
        if new.contains_key(k) {
            continue;
        }
        if let Some(p) = v.get("p").and_then(Value::as_str) {
            new.insert(k.clone(), json!({ "p": p }));
        }
    }
    next
}
