//! Data points: ids and typed values.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use serde_json::Value;

/// A data point id ("1", "20", "101").
///
/// ```
/// use tuya_proto::DpId;
/// let id: DpId = "20".parse().unwrap();
/// assert_eq!(id.0, 20);
/// assert_eq!(id.to_string(), "20");
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct DpId(pub u32);

impl fmt::Display for DpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for DpId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(DpId)
    }
}

/// A data point's value.
///
/// ```
/// use tuya_proto::DpValue;
/// assert_eq!(DpValue::parse_cli("true"), DpValue::Bool(true));
/// assert_eq!(DpValue::parse_cli("50"), DpValue::Integer(50));
/// assert_eq!(DpValue::parse_cli("colour"), DpValue::String("colour".into()));
/// assert_eq!(DpValue::parse_cli("\"50\""), DpValue::String("50".into()));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum DpValue {
    /// Boolean (switches).
    Bool(bool),
    /// Integer (brightness, temperature, power).
    Integer(i64),
    /// String or enum.
    String(String),
    /// Raw bytes; travel as a base64 string.
    Raw(Vec<u8>),
    /// Anything else: floats, objects, arrays, null.
    Json(Value),
}

impl DpValue {
    /// Converts a JSON value as received from a device.
    pub fn from_json(v: &Value) -> Self {
        match v {
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) if n.is_i64() => Self::Integer(n.as_i64().unwrap_or_default()),
            Value::String(s) => Self::String(s.clone()),
            other => Self::Json(other.clone()),
        }
    }

    /// The JSON form sent to a device.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Bool(b) => Value::Bool(*b),
            Self::Integer(i) => Value::from(*i),
            Self::String(s) => Value::String(s.clone()),
            Self::Raw(r) => Value::String(base64::engine::general_purpose::STANDARD.encode(r)),
            Self::Json(v) => v.clone(),
        }
    }

    /// Parses a value typed on a command line: `true`/`false`, integers, `null`, JSON objects
    /// and arrays, quoted strings; anything else is a string.
    pub fn parse_cli(s: &str) -> Self {
        match s {
            "true" => return Self::Bool(true),
            "false" => return Self::Bool(false),
            "null" => return Self::Json(Value::Null),
            _ => {}
        }
        if let Ok(i) = s.parse::<i64>() {
            return Self::Integer(i);
        }
        if s.starts_with('"') || s.starts_with('{') || s.starts_with('[') {
            if let Ok(v) = serde_json::from_str::<Value>(s) {
                return Self::from_json(&v);
            }
        }
        Self::String(s.to_string())
    }
}

impl fmt::Display for DpValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

impl From<bool> for DpValue {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}
impl From<i64> for DpValue {
    fn from(i: i64) -> Self {
        Self::Integer(i)
    }
}
impl From<&str> for DpValue {
    fn from(s: &str) -> Self {
        Self::String(s.to_string())
    }
}

/// A set of DP values, ordered by id.
pub type Dps = BTreeMap<DpId, DpValue>;

/// Converts a JSON `dps` object into typed DPs; keys that are not numbers are skipped.
pub fn dps_from_json(v: &Value) -> Dps {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.parse().ok()?, DpValue::from_json(v))))
                .collect()
        })
        .unwrap_or_default()
}

/// Converts typed DPs into a JSON `dps` object.
pub fn dps_to_json(dps: &Dps) -> Value {
    Value::Object(
        dps.iter()
            .map(|(k, v)| (k.to_string(), v.to_json()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dp_id_is_a_plain_number_in_serde() {
        let ids: Vec<DpId> = serde_json::from_str("[1,20]").unwrap();
        assert_eq!(ids, vec![DpId(1), DpId(20)]);
        assert_eq!(serde_json::to_string(&ids).unwrap(), "[1,20]");
    }

    #[test]
    fn json_round_trip() {
        let v: Value = serde_json::from_str(r#"{"1":true,"2":50,"3":"x","4":1.5,"x":1}"#).unwrap();
        let d = dps_from_json(&v);
        assert_eq!(d.len(), 4);
        assert_eq!(d[&DpId(4)], DpValue::Json(serde_json::json!(1.5)));
        let back = dps_to_json(&d);
        assert_eq!(back["2"], 50);
        assert_eq!(
            DpValue::Raw(vec![1, 2, 3]).to_json(),
            Value::String("AQID".into())
        );
    }
}
