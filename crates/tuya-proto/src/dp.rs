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

/// Why a text is not a DP id. DP ids are `u32`: a larger number is refused, never truncated.
///
/// ```
/// use tuya_proto::dp::{DpId, DpIdError};
/// assert_eq!("4294967295".parse::<DpId>(), Ok(DpId(u32::MAX)));
/// assert_eq!("4294967296".parse::<DpId>(), Err(DpIdError::OutOfRange("4294967296".into())));
/// assert!(matches!("switch".parse::<DpId>(), Err(DpIdError::NotANumber(_))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpIdError {
    /// Not a whole number at all.
    #[error("DP {0:?} is not a number (DP ids are whole numbers from 0 to 4294967295)")]
    NotANumber(String),
    /// A whole number outside 0..=4294967295.
    #[error("DP {0} is out of range: DP ids are whole numbers from 0 to 4294967295")]
    OutOfRange(String),
}

impl FromStr for DpId {
    type Err = DpIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if let Ok(n) = t.parse::<u32>() {
            return Ok(DpId(n));
        }
        let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            Err(DpIdError::OutOfRange(t.to_string()))
        } else {
            Err(DpIdError::NotANumber(t.to_string()))
        }
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

/// Converts a JSON `dps` object from a device into typed DPs; keys that are not DP ids are
/// skipped (see [`dps_from_json_lossy`] to learn which, [`try_dps_from_json`] to refuse them).
pub fn dps_from_json(v: &Value) -> Dps {
    dps_from_json_lossy(v).0
}

/// Converts a JSON `dps` object into typed DPs, and the keys skipped because they are not DP
/// ids (not numbers, or beyond `u32`: never truncated into another DP's id).
pub fn dps_from_json_lossy(v: &Value) -> (Dps, Vec<String>) {
    let mut dps = Dps::new();
    let mut bad = Vec::new();
    for (k, v) in v.as_object().into_iter().flatten() {
        match k.parse() {
            Ok(id) => {
                dps.insert(id, DpValue::from_json(v));
            }
            Err(_) => bad.push(k.clone()),
        }
    }
    (dps, bad)
}

/// Converts a JSON `dps` object a user typed into typed DPs: a key that is not a DP id is an
/// error naming it, not a DP silently left out.
///
/// ```
/// use serde_json::json;
/// use tuya_proto::dp::{try_dps_from_json, DpIdError};
/// assert_eq!(try_dps_from_json(&json!({"1": true})).unwrap().len(), 1);
/// assert!(matches!(try_dps_from_json(&json!({"4294967296": true})), Err(DpIdError::OutOfRange(_))));
/// ```
pub fn try_dps_from_json(v: &Value) -> Result<Dps, DpIdError> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| Ok((k.parse()?, DpValue::from_json(v))))
        .collect()
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
    fn dp_ids_beyond_u32_are_refused_not_truncated() {
        for (text, want) in [
            ("4294967296", DpIdError::OutOfRange("4294967296".into())),
            (
                "99999999999999999999999",
                DpIdError::OutOfRange("99999999999999999999999".into()),
            ),
            ("-1", DpIdError::OutOfRange("-1".into())),
            ("1.5", DpIdError::NotANumber("1.5".into())),
            ("", DpIdError::NotANumber("".into())),
        ] {
            assert_eq!(text.parse::<DpId>(), Err(want), "{text:?}");
        }
        assert_eq!(" 20 ".parse::<DpId>(), Ok(DpId(20)));
        let v: Value = serde_json::from_str(r#"{"4294967297":true,"1":false}"#).unwrap();
        let (d, bad) = dps_from_json_lossy(&v);
        assert_eq!(
            d.keys().collect::<Vec<_>>(),
            [&DpId(1)],
            "not DP 1 from 2^32+1"
        );
        assert_eq!(bad, vec!["4294967297".to_string()]);
        let e = try_dps_from_json(&v).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
        assert!(serde_json::from_str::<DpId>("4294967296").is_err());
    }

    #[test]
    fn json_round_trip() {
        let v: Value = serde_json::from_str(r#"{"1":true,"2":50,"3":"x","4":1.5,"x":1}"#).unwrap();
        let d = dps_from_json(&v);
        assert_eq!(d.len(), 4);
        assert_eq!(d[&DpId(4)], DpValue::Json(serde_json::json!(1.5)));
        assert_eq!(dps_from_json_lossy(&v).1, vec!["x".to_string()]);
        let back = dps_to_json(&d);
        assert_eq!(back["2"], 50);
        assert_eq!(
            DpValue::Raw(vec![1, 2, 3]).to_json(),
            Value::String("AQID".into())
        );
    }
}
