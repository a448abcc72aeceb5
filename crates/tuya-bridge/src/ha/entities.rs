//! DP specs → Home Assistant components (`cmps` entries of a device-based discovery payload).
//!
//! Topics are written out in full (no `~` substitution): `<base>/dps/<dp>/state` and
//! `<base>/dps/<dp>/command`, with the plain-text forms the bridge publishes and parses.

use serde_json::{json, Map, Value};
use tuya_proto::DpValue;

use super::codes::{display_name, is_light_category};
use super::mapping::{DpSpec, DpType};

/// Colour temperature range the light's 0–max Tuya scale is mapped onto (warm → cold).
pub const MIN_KELVIN: i64 = 2700;
/// See [`MIN_KELVIN`].
pub const MAX_KELVIN: i64 = 6500;

/// The HA platforms this module emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Platform {
    Switch,
    BinarySensor,
    Sensor,
    Number,
    Select,
    Light,
    Cover,
}

impl Platform {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Switch => "switch",
            Self::BinarySensor => "binary_sensor",
            Self::Sensor => "sensor",
            Self::Number => "number",
            Self::Select => "select",
            Self::Light => "light",
            Self::Cover => "cover",
        }
    }
}

/// Where a device's DPs live on MQTT.
pub(crate) struct Topics<'a> {
    pub base: &'a str,
}

impl Topics<'_> {
    pub(crate) fn state(&self, dp: u32) -> String {
        format!("{}/dps/{dp}/state", self.base)
    }
    pub(crate) fn command(&self, dp: u32) -> String {
        format!("{}/dps/{dp}/command", self.base)
    }
}

/// `10^scale` as template text: `1`, `10`, `1000`, ….
pub(crate) fn divisor(scale: u32) -> String {
    format!("1{}", "0".repeat(scale as usize))
}

/// The state template of a scaled integer: raw → value (none for scale 0).
pub(crate) fn scaled_value_template(scale: u32) -> Option<String> {
    (scale > 0).then(|| {
        format!(
            "{{{{ (value | float / {}) | round({scale}) }}}}",
            divisor(scale)
        )
    })
}

/// The command template of a scaled integer: value → raw integer text.
pub(crate) fn scaled_command_template(scale: u32) -> String {
    if scale == 0 {
        "{{ value | float | round(0) | int }}".to_string()
    } else {
        format!(
            "{{{{ (value | float * {}) | round(0) | int }}}}",
            divisor(scale)
        )
    }
}

/// A JSON number: an integer when the value is whole, else a float.
pub(crate) fn num(x: f64) -> Value {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// `raw / 10^scale` as a JSON number.
pub(crate) fn scaled(raw: i64, scale: u32) -> Value {
    num(raw as f64 / 10f64.powi(scale as i32))
}

fn entity_name(s: &DpSpec) -> String {
    if let Some(n) = &s.name {
        return n.clone();
    }
    if s.code.is_empty() {
        format!("DP {}", s.id)
    } else {
        display_name(&s.code)
    }
}

/// `p`, `unique_id`, `name`, and the entity category.
fn base(p: Platform, uid: &str, name: Value, s: Option<&DpSpec>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("p".into(), json!(p.as_str()));
    m.insert("unique_id".into(), json!(uid));
    m.insert("name".into(), name);
    // HA refuses `config` on read-only platforms.
    let read_only = matches!(p, Platform::Sensor | Platform::BinarySensor);
    if let Some(cat) = s
        .and_then(|s| s.info.entity_category)
        .filter(|c| !(read_only && *c == "config"))
    {
        m.insert("ent_cat".into(), json!(cat));
    }
    m
}

/// The device class of a standalone DP on platform `p`: the override's as given; the code's only
/// where it belongs (a measurement's on sensors and numbers, a binary code's on binary sensors;
/// switches get none).
pub(crate) fn device_class(s: &DpSpec, p: Platform) -> Option<&str> {
    if let Some(c) = s.ov.device_class.as_deref() {
        return Some(c);
    }
    let c = s.info.device_class?;
    let measurement = s.info.unit.is_some();
    match p {
        Platform::Sensor | Platform::Number if measurement => Some(c),
        Platform::BinarySensor if !measurement => Some(c),
        _ => None,
    }
}

fn put_opt(m: &mut Map<String, Value>, k: &str, v: Option<&str>) {
    if let Some(v) = v {
        m.insert(k.into(), json!(v));
    }
}

/// The platform a standalone DP gets by the rules (None: left out).
pub(crate) fn auto_platform(s: &DpSpec) -> Option<Platform> {
    Some(match s.ty {
        DpType::Bool if s.read_only || s.info.binary.is_some() => Platform::BinarySensor,
        DpType::Bool => Platform::Switch,
        DpType::Integer if s.read_only || s.info.state_class.is_some() => Platform::Sensor,
        DpType::Integer if s.range.is_some() => Platform::Number,
        DpType::Integer => Platform::Sensor,
        DpType::Enum if s.read_only && s.info.binary.is_some() => Platform::BinarySensor,
        DpType::Enum if !s.read_only && !s.options.is_empty() => Platform::Select,
        DpType::Enum => Platform::Sensor,
        DpType::Raw => return None,
        DpType::String | DpType::Json | DpType::Bitmap | DpType::Unknown => Platform::Sensor,
    })
}

/// The platform an override asks for, when it makes sense for the DP: `Some(None)` leaves the
/// DP out (`none`), `None` means "use the rules" (no override, or one that does not fit).
pub(crate) fn forced_platform(s: &DpSpec) -> Option<Option<Platform>> {
    let c = s.ov.component.as_deref()?.trim().to_ascii_lowercase();
    let boolish = matches!(s.ty, DpType::Bool | DpType::Unknown);
    Some(Some(match c.as_str() {
        "none" | "ignore" | "" => return Some(None),
        "switch" if boolish => Platform::Switch,
        "binary_sensor" if boolish || s.ty == DpType::Enum => Platform::BinarySensor,
        "light" if boolish => Platform::Light,
        "sensor" => Platform::Sensor,
        "number" if matches!(s.ty, DpType::Integer | DpType::Unknown) => Platform::Number,
        "select" if !s.options.is_empty() => Platform::Select,
        _ => return None,
    }))
}

/// The component of one standalone DP.
pub(crate) fn standalone(s: &DpSpec, p: Platform, uid: &str, t: &Topics) -> Map<String, Value> {
    let mut m = base(p, uid, json!(entity_name(s)), Some(s));
    let (st, ct) = (t.state(s.id), t.command(s.id));
    match p {
        Platform::Switch => {
            m.insert("stat_t".into(), json!(st));
            m.insert("cmd_t".into(), json!(ct));
            for k in ["pl_on", "stat_on"] {
                m.insert(k.into(), json!("true"));
            }
            for k in ["pl_off", "stat_off"] {
                m.insert(k.into(), json!("false"));
            }
            put_opt(&mut m, "dev_cla", device_class(s, p));
        }
        Platform::Light => {
            m.insert("stat_t".into(), json!(st));
            m.insert("cmd_t".into(), json!(ct));
            m.insert("pl_on".into(), json!("true"));
            m.insert("pl_off".into(), json!("false"));
            m.insert("sup_clrm".into(), json!(["onoff"]));
        }
        Platform::BinarySensor => {
            m.insert("stat_t".into(), json!(st));
            let (on, off) = match (s.ty, s.info.binary) {
                (DpType::Enum, Some((on, off))) => (on.to_string(), off.to_string()),
                (DpType::Enum, None) => (
                    s.options.first().cloned().unwrap_or_else(|| "true".into()),
                    s.options.get(1).cloned().unwrap_or_else(|| "false".into()),
                ),
                _ => ("true".into(), "false".into()),
            };
            m.insert("pl_on".into(), json!(on));
            m.insert("pl_off".into(), json!(off));
            put_opt(&mut m, "dev_cla", device_class(s, p));
        }
        Platform::Sensor => {
            m.insert("stat_t".into(), json!(st));
            sensor_keys(&mut m, s);
        }
        Platform::Number => {
            m.insert("stat_t".into(), json!(st));
            m.insert("cmd_t".into(), json!(ct));
            m.insert("cmd_tpl".into(), json!(scaled_command_template(s.scale)));
            if let Some(tpl) = scaled_value_template(s.scale) {
                m.insert("val_tpl".into(), json!(tpl));
            }
            // Tuya integers are 32-bit; a forced number without a range gets the lot.
            let (lo, hi) = s.range.unwrap_or((0, i32::MAX as i64));
            m.insert("min".into(), scaled(lo, s.scale));
            m.insert("max".into(), scaled(hi, s.scale));
            m.insert("step".into(), scaled(s.step, s.scale));
            if (hi as f64 - lo as f64) / s.step as f64 > 1000.0 {
                m.insert("mode".into(), json!("box"));
            }
            put_opt(&mut m, "unit_of_meas", s.unit.as_deref());
            put_opt(&mut m, "dev_cla", device_class(s, p));
        }
        Platform::Select => {
            m.insert("stat_t".into(), json!(st));
            m.insert("cmd_t".into(), json!(ct));
            m.insert("ops".into(), json!(s.options));
        }
        // Covers are built from their DP group ([`cover`]); a lone DP only gets commands.
        Platform::Cover => {
            m.insert("cmd_t".into(), json!(ct));
        }
    }
    m
}

fn sensor_keys(m: &mut Map<String, Value>, s: &DpSpec) {
    let numeric = matches!(s.ty, DpType::Integer);
    if numeric {
        if let Some(tpl) = scaled_value_template(s.scale) {
            m.insert("val_tpl".into(), json!(tpl));
        }
    }
    let class = device_class(s, Platform::Sensor);
    let enum_sensor = s.ty == DpType::Enum && !s.options.is_empty() && class.is_none();
    if enum_sensor {
        m.insert("dev_cla".into(), json!("enum"));
        m.insert("ops".into(), json!(s.options));
        return;
    }
    put_opt(m, "dev_cla", class);
    if numeric {
        put_opt(m, "unit_of_meas", s.unit.as_deref());
        let class = s
            .info
            .state_class
            .or_else(|| s.unit.is_some().then_some("measurement"));
        put_opt(m, "stat_cla", class);
    }
}

/// Indexes (into the spec list) of the DPs one light is made of.
#[derive(Debug, Clone, Default)]
pub(crate) struct LightParts {
    pub switch: usize,
    pub bright: Option<usize>,
    pub temp: Option<usize>,
    pub colour: Option<usize>,
    pub mode: Option<usize>,
    /// Every DP the light stands for (not repeated as components).
    pub consumed: Vec<usize>,
}

fn usable(s: &DpSpec, platform: &str) -> bool {
    !s.ov.ignore
        && s.ov
            .component
            .as_deref()
            .is_none_or(|c| c.eq_ignore_ascii_case(platform))
}

fn find(specs: &[DpSpec], code: &str, platform: &str, types: &[DpType]) -> Option<usize> {
    specs
        .iter()
        .position(|s| s.code == code && types.contains(&s.ty) && usable(s, platform))
}

const INTEGERISH: &[DpType] = &[DpType::Integer, DpType::Unknown];
const TEXTISH: &[DpType] = &[DpType::String, DpType::Json, DpType::Unknown];

/// The light of a device: a `switch_led` in a light category, or next to a brightness DP, or
/// overridden to `light`.
pub(crate) fn find_light(specs: &[DpSpec], category: Option<&str>) -> Option<LightParts> {
    let switch = find(
        specs,
        "switch_led",
        "light",
        &[DpType::Bool, DpType::Unknown],
    )?;
    let pick = |v2: &str, v1: &str, types: &[DpType]| {
        let a = find(specs, v2, "light", types);
        let b = find(specs, v1, "light", types);
        (a.or(b), [a, b])
    };
    let (bright, b_all) = pick("bright_value_v2", "bright_value", INTEGERISH);
    let forced = specs[switch].ov.component.is_some();
    if !(forced || bright.is_some() || category.is_some_and(is_light_category)) {
        return None;
    }
    let (temp, t_all) = pick("temp_value_v2", "temp_value", INTEGERISH);
    let (colour, c_all) = pick("colour_data_v2", "colour_data", TEXTISH);
    let colour = colour.filter(|&i| colour_format(&specs[i]).is_some());
    let mode = find(
        specs,
        "work_mode",
        "select",
        &[DpType::Enum, DpType::String],
    );
    let mut consumed = vec![switch];
    consumed.extend(b_all.into_iter().chain(t_all).flatten());
    if colour.is_some() {
        consumed.extend(c_all.into_iter().flatten());
    }
    Some(LightParts {
        switch,
        bright,
        temp,
        colour,
        mode,
        consumed,
    })
}

/// How a colour DP's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColourFormat {
    /// `{"h":0-360,"s":..,"v":..}`, s and v 0–1000 (`_v2`) or 0–255.
    Json { v2: bool },
    /// `HHHHSSSSVVVV` hex, h 0–360, s and v 0–1000 (what LAN devices report for both codes).
    Hex12,
}

/// The colour format of a DP, from the value seen (12-char hex when none was seen). `None` for
/// the old 14-char `rrggbb0hhhssvv` form, which is not offered as an HS colour.
pub(crate) fn colour_format(s: &DpSpec) -> Option<ColourFormat> {
    let v2 = s.code.ends_with("_v2");
    let text = match &s.seen {
        Some(DpValue::String(t)) => t.trim().to_string(),
        Some(DpValue::Json(Value::Object(_))) => return Some(ColourFormat::Json { v2 }),
        Some(DpValue::Json(Value::String(t))) => t.trim().to_string(),
        _ => return Some(ColourFormat::Hex12),
    };
    if text.starts_with('{') {
        Some(ColourFormat::Json { v2 })
    } else if text.len() == 14 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        None
    } else {
        Some(ColourFormat::Hex12)
    }
}

/// `hs_val_tpl`: any of the three Tuya forms → "h,s" (h 0–360, s 0–100).
pub(crate) fn hs_value_template(json_v2: bool) -> String {
    let jd = if json_v2 { "10" } else { "2.55" };
    format!(
        "{{% if value[:1] == '{{' %}}{{{{ value_json.h | int }}}},{{{{ ((value_json.s | float) / {jd}) | round(1) }}}}\
         {{% elif value | length == 14 %}}{{{{ value[7:10] | int(0, 16) }}}},{{{{ ((value[10:12] | int(0, 16)) / 2.55) | round(1) }}}}\
         {{% else %}}{{{{ value[0:4] | int(0, 16) }}}},{{{{ ((value[4:8] | int(0, 16)) / 10) | round(1) }}}}{{% endif %}}"
    )
}

/// `hs_cmd_tpl`: HA's `hue` (0–360) and `sat` (0–100) → the device's form, at full value.
pub(crate) fn hs_command_template(f: ColourFormat) -> String {
    match f {
        ColourFormat::Hex12 => {
            "{{ '%04x%04x%04x' | format(hue | round(0) | int, (sat * 10) | round(0) | int, 1000) }}"
                .to_string()
        }
        ColourFormat::Json { v2: true } => {
            "{\"h\":{{ hue | round(0) | int }},\"s\":{{ (sat * 10) | round(0) | int }},\"v\":1000}"
                .to_string()
        }
        ColourFormat::Json { v2: false } => {
            "{\"h\":{{ hue | round(0) | int }},\"s\":{{ (sat * 2.55) | round(0) | int }},\"v\":255}"
                .to_string()
        }
    }
}

/// `clr_temp_val_tpl`: raw `lo..=hi` → kelvin.
pub(crate) fn kelvin_value_template(lo: i64, hi: i64) -> String {
    format!(
        "{{{{ ({MIN_KELVIN} + ((value | int) - {lo}) * {} / {}) | round(0) | int }}}}",
        MAX_KELVIN - MIN_KELVIN,
        hi - lo
    )
}

/// `clr_temp_cmd_tpl`: kelvin → raw `lo..=hi`, clamped.
pub(crate) fn kelvin_command_template(lo: i64, hi: i64) -> String {
    format!(
        "{{{{ ([[((value | int) - {MIN_KELVIN}) * {} / {} + {lo}, {lo}] | max, {hi}] | min) | round(0) | int }}}}",
        hi - lo,
        MAX_KELVIN - MIN_KELVIN
    )
}

/// The light component.
pub(crate) fn light(specs: &[DpSpec], l: &LightParts, uid: &str, t: &Topics) -> Map<String, Value> {
    let sw = &specs[l.switch];
    let name = sw.name.clone().map_or(Value::Null, Value::from);
    let mut m = base(Platform::Light, uid, name, None);
    m.insert("stat_t".into(), json!(t.state(sw.id)));
    m.insert("cmd_t".into(), json!(t.command(sw.id)));
    m.insert("pl_on".into(), json!("true"));
    m.insert("pl_off".into(), json!("false"));
    let mut modes: Vec<&str> = Vec::new();
    if let Some(b) = l.bright.map(|i| &specs[i]) {
        let (lo, hi) = b.range.unwrap_or(if b.code.ends_with("_v2") {
            (10, 1000)
        } else {
            (25, 255)
        });
        m.insert("bri_stat_t".into(), json!(t.state(b.id)));
        m.insert("bri_cmd_t".into(), json!(t.command(b.id)));
        m.insert("bri_scl".into(), json!(hi.max(1)));
        // HA never sends 0 but may send less than the device's minimum.
        m.insert(
            "bri_cmd_tpl".into(),
            json!(format!("{{{{ [value | int, {}] | max }}}}", lo.max(0))),
        );
    }
    if let Some(c) = l.temp.map(|i| &specs[i]) {
        let (lo, hi) = c.range.unwrap_or(if c.code.ends_with("_v2") {
            (0, 1000)
        } else {
            (0, 255)
        });
        m.insert("clr_temp_stat_t".into(), json!(t.state(c.id)));
        m.insert("clr_temp_cmd_t".into(), json!(t.command(c.id)));
        m.insert("clr_temp_k".into(), json!(true));
        m.insert("min_k".into(), json!(MIN_KELVIN));
        m.insert("max_k".into(), json!(MAX_KELVIN));
        m.insert(
            "clr_temp_val_tpl".into(),
            json!(kelvin_value_template(lo, hi)),
        );
        m.insert(
            "clr_temp_cmd_tpl".into(),
            json!(kelvin_command_template(lo, hi)),
        );
        modes.push("color_temp");
    }
    if let Some(c) = l.colour.map(|i| &specs[i]) {
        let f = colour_format(c).unwrap_or(ColourFormat::Hex12);
        m.insert("hs_stat_t".into(), json!(t.state(c.id)));
        m.insert("hs_cmd_t".into(), json!(t.command(c.id)));
        m.insert(
            "hs_val_tpl".into(),
            json!(hs_value_template(c.code.ends_with("_v2"))),
        );
        m.insert("hs_cmd_tpl".into(), json!(hs_command_template(f)));
        modes.push("hs");
    }
    if modes.len() == 2 {
        if let Some(w) = l.mode.map(|i| &specs[i]) {
            m.insert("clrm_stat_t".into(), json!(t.state(w.id)));
            m.insert(
                "clrm_val_tpl".into(),
                json!("{{ 'hs' if value == 'colour' else 'color_temp' }}"),
            );
        }
    }
    if modes.is_empty() {
        modes.push(if l.bright.is_some() {
            "brightness"
        } else {
            "onoff"
        });
    }
    m.insert("sup_clrm".into(), json!(modes));
    m
}

/// Indexes of the DPs one cover is made of.
#[derive(Debug, Clone, Default)]
pub(crate) struct CoverParts {
    pub control: usize,
    pub set_position: Option<usize>,
    pub position: Option<usize>,
    pub consumed: Vec<usize>,
}

/// The cover of a device: a `control` DP in a curtain category, or one whose options are
/// open/close, or overridden to `cover`.
pub(crate) fn find_cover(specs: &[DpSpec], category: Option<&str>) -> Option<CoverParts> {
    let types = &[DpType::Enum, DpType::String, DpType::Unknown];
    let control = find(specs, "control", "cover", types)?;
    let c = &specs[control];
    let has = |o: &str| c.options.iter().any(|x| x == o);
    let forced = c.ov.component.is_some();
    if !(forced || matches!(category, Some("cl" | "clkg")) || (has("open") && has("close"))) {
        return None;
    }
    let set_position = find(specs, "percent_control", "cover", INTEGERISH);
    let state = find(specs, "percent_state", "cover", INTEGERISH);
    let mut consumed = vec![control];
    consumed.extend(set_position);
    consumed.extend(state);
    Some(CoverParts {
        control,
        set_position,
        position: state.or(set_position),
        consumed,
    })
}

/// The cover component.
pub(crate) fn cover(specs: &[DpSpec], c: &CoverParts, uid: &str, t: &Topics) -> Map<String, Value> {
    let ctl = &specs[c.control];
    let name = ctl.name.clone().map_or(Value::Null, Value::from);
    let mut m = base(Platform::Cover, uid, name, None);
    m.insert("cmd_t".into(), json!(t.command(ctl.id)));
    let pick = |want: &str| {
        if ctl.options.is_empty() || ctl.options.iter().any(|o| o == want) {
            json!(want)
        } else {
            Value::Null
        }
    };
    m.insert("pl_open".into(), json!("open"));
    m.insert("pl_cls".into(), json!("close"));
    m.insert("pl_stop".into(), pick("stop"));
    m.insert(
        "dev_cla".into(),
        json!(ctl.ov.device_class.as_deref().unwrap_or("curtain")),
    );
    let range_of = |i: usize| specs[i].range.unwrap_or((0, 100));
    if let Some(i) = c.set_position {
        m.insert("set_pos_t".into(), json!(t.command(specs[i].id)));
    }
    if let Some(i) = c.position {
        m.insert("pos_t".into(), json!(t.state(specs[i].id)));
    }
    if let Some(i) = c.set_position.or(c.position) {
        let (lo, hi) = range_of(i);
        m.insert("pos_open".into(), json!(hi));
        m.insert("pos_clsd".into(), json!(lo));
    }
    m
}
