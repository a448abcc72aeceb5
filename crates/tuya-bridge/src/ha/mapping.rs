//! The DP descriptions discovery works from: tinytuya's `mapping` (tolerantly parsed), the DPs
//! seen so far, the built-in code defaults and the user's overrides, merged into one [`DpSpec`]
//! per DP.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use tuya_proto::{DpId, DpValue, Dps};

use super::codes::{code_info, normalize_unit, CodeInfo};
use super::DpOverride;

/// Largest scale taken seriously: 10^9 already turns any 32-bit Tuya integer into a fraction.
pub(crate) const MAX_SCALE: u32 = 9;

/// A DP's data type, from the mapping's `type` (or, failing that, the value seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DpType {
    Bool,
    Integer,
    Enum,
    String,
    Json,
    Raw,
    Bitmap,
    /// Missing or unrecognised type, and no value seen.
    Unknown,
}

impl DpType {
    fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "boolean" | "bool" => Self::Bool,
            "integer" | "value" | "int" | "number" => Self::Integer,
            "enum" => Self::Enum,
            "string" | "str" | "char" | "text" => Self::String,
            "json" => Self::Json,
            "raw" => Self::Raw,
            "bitmap" | "fault" => Self::Bitmap,
            _ => Self::Unknown,
        }
    }

    fn of_value(v: &DpValue) -> Self {
        match v {
            DpValue::Bool(_) => Self::Bool,
            DpValue::Integer(_) => Self::Integer,
            DpValue::String(_) => Self::String,
            DpValue::Raw(_) => Self::Raw,
            DpValue::Json(_) => Self::Json,
        }
    }
}

/// Everything known about one DP after merging mapping, code defaults and override.
#[derive(Debug, Clone)]
pub(crate) struct DpSpec {
    /// DP id.
    pub id: u32,
    /// Standard code (empty when unknown).
    pub code: String,
    /// Data type.
    pub ty: DpType,
    /// Raw integer range `(min, max)`, when known and sane (min < max).
    pub range: Option<(i64, i64)>,
    /// Raw integer step (≥ 1).
    pub step: i64,
    /// value = raw / 10^scale (0..=MAX_SCALE).
    pub scale: u32,
    /// Unit of measurement.
    pub unit: Option<String>,
    /// Enum options.
    pub options: Vec<String>,
    /// Reported only.
    pub read_only: bool,
    /// Entity name.
    pub name: Option<String>,
    /// The built-in facts about the code.
    pub info: CodeInfo,
    /// The DP's last seen value.
    pub seen: Option<DpValue>,
    /// The user's override.
    pub ov: DpOverride,
}

/// A JSON number, or a string holding one, as f64.
fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

/// An integer-valued number within ±2^53 (where f64 is exact).
fn integer(v: Option<&Value>) -> Option<i64> {
    const LIMIT: f64 = 9_007_199_254_740_992.0;
    let f = number(v)?;
    (f.abs() <= LIMIT).then(|| f.round() as i64)
}

/// The `values` of a mapping entry as an object: accepts an object, a string holding a JSON
/// object, or anything else (→ empty).
fn values_of(entry: &Map<String, Value>) -> Map<String, Value> {
    match entry.get("values") {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One mapping entry, before defaults: (code, type, values, read-only flag from `mode`).
struct Entry {
    code: String,
    ty: DpType,
    values: Map<String, Value>,
    ro: bool,
}

fn parse_entry(v: &Value) -> Entry {
    match v {
        Value::Object(e) => {
            let values = values_of(e);
            let mode_ro = |m: Option<&Value>| {
                m.and_then(Value::as_str)
                    .is_some_and(|s| s.eq_ignore_ascii_case("ro"))
            };
            Entry {
                code: e
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                ty: e
                    .get("type")
                    .and_then(Value::as_str)
                    .map_or(DpType::Unknown, DpType::parse),
                ro: mode_ro(e.get("mode")) || mode_ro(values.get("mode")),
                values,
            }
        }
        // Some hand-written files map a DP straight to its code.
        Value::String(code) => Entry {
            code: code.trim().to_string(),
            ty: DpType::Unknown,
            values: Map::new(),
            ro: false,
        },
        _ => Entry {
            code: String::new(),
            ty: DpType::Unknown,
            values: Map::new(),
            ro: false,
        },
    }
}

fn build(id: u32, entry: Option<Entry>, seen: Option<&DpValue>, ov: Option<&DpOverride>) -> DpSpec {
    let entry = entry.unwrap_or(Entry {
        code: String::new(),
        ty: DpType::Unknown,
        values: Map::new(),
        ro: false,
    });
    let info = if entry.code.is_empty() {
        CodeInfo::default()
    } else {
        code_info(&entry.code)
    };
    let ov = ov.cloned().unwrap_or_default();
    let mut ty = entry.ty;
    if ty == DpType::Unknown {
        if let Some(v) = seen {
            ty = DpType::of_value(v);
        } else if info.range.is_some() || info.unit.is_some() {
            ty = DpType::Integer;
        } else if !info.options.is_empty() || info.binary.is_some() {
            ty = DpType::Enum;
        }
    }
    let vals = &entry.values;
    let (dmin, dmax, dstep) = match info.range {
        Some((a, b, s)) => (Some(a), Some(b), Some(s)),
        None => (None, None, None),
    };
    let min = integer(vals.get("min")).or(dmin);
    let max = integer(vals.get("max")).or(dmax);
    let range = match (min, max) {
        (Some(a), Some(b)) if a < b => Some((a, b)),
        _ => None,
    };
    let step = integer(vals.get("step"))
        .or(dstep)
        .filter(|s| *s >= 1)
        .unwrap_or(1);
    let scale = ov
        .scale
        .or_else(|| integer(vals.get("scale")).map(|s| s.clamp(0, MAX_SCALE as i64) as u32))
        .unwrap_or(info.scale)
        .min(MAX_SCALE);
    let unit = ov
        .unit
        .clone()
        .or_else(|| {
            vals.get("unit")
                .and_then(Value::as_str)
                .and_then(normalize_unit)
        })
        .or_else(|| info.unit.map(str::to_string))
        .filter(|u| !u.is_empty());
    let options: Vec<String> = vals
        .get("range")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(text).collect())
        .unwrap_or_default();
    let mut unique: Vec<String> = Vec::with_capacity(options.len());
    for o in options {
        if !unique.contains(&o) {
            unique.push(o);
        }
    }
    let mut options = unique;
    if options.is_empty() {
        options = info.options.iter().map(|s| s.to_string()).collect();
    }
    DpSpec {
        id,
        code: entry.code,
        ty,
        range,
        step,
        scale,
        unit,
        options,
        read_only: entry.ro || info.read_only,
        name: ov.name.clone(),
        info,
        seen: seen.cloned(),
        ov,
    }
}

/// All DPs of a device, by id: every numeric key of the mapping (when it is an object), then
/// every seen DP the mapping leaves out.
pub(crate) fn specs(
    mapping: Option<&Value>,
    dps: &Dps,
    overrides: &BTreeMap<String, DpOverride>,
) -> Vec<DpSpec> {
    let ov = |id: u32| overrides.get(&id.to_string());
    let mut out: BTreeMap<u32, DpSpec> = BTreeMap::new();
    if let Some(Value::Object(m)) = mapping {
        for (k, v) in m {
            let Ok(DpId(id)) = k.parse::<DpId>() else {
                continue;
            };
            let seen = dps.get(&DpId(id));
            out.insert(id, build(id, Some(parse_entry(v)), seen, ov(id)));
        }
    }
    for (DpId(id), v) in dps {
        out.entry(*id)
            .or_insert_with(|| build(*id, None, Some(v), ov(*id)));
    }
    out.into_values().collect()
}
