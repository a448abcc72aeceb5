//! A value checked against what the mapping says of its DP (type, range, options) before it is
//! sent: real firmware ignores a value of the wrong type without a word, so the user would
//! otherwise learn nothing.

use serde_json::Value;
use tuya_proto::{DpId, DpValue};

use crate::DeviceEntry;

/// Why a value does not fit its DP as the device's mapping describes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// A value of another JSON type than the DP's.
    #[error("DP {dp} ({code}) takes {want}, not {got}")]
    WrongType {
        /// The DP.
        dp: DpId,
        /// Its code in the mapping (the id when it has none).
        code: String,
        /// What it takes ("true or false", "an integer", ...).
        want: &'static str,
        /// What was given ("a string", ...).
        got: &'static str,
    },
    /// An integer outside the DP's `min`..`max`.
    #[error("DP {dp} ({code}) takes {min} to {max}, not {value}")]
    OutOfRange {
        /// The DP.
        dp: DpId,
        /// Its code.
        code: String,
        /// Lowest allowed.
        min: i64,
        /// Highest allowed.
        max: i64,
        /// What was given.
        value: i64,
    },
    /// A text that is not one of an enum DP's values.
    #[error("DP {dp} ({code}) takes one of {options}, not {value:?}")]
    NotAnOption {
        /// The DP.
        dp: DpId,
        /// Its code.
        code: String,
        /// The allowed values, comma-separated (the first 20).
        options: String,
        /// What was given.
        value: String,
    },
    /// A DP the mapping does not list, while it lists others.
    #[error("{device} has no DP {dp} in its mapping in devices.json (it has {known})")]
    UnknownDp {
        /// The device's name or id.
        device: String,
        /// The DP.
        dp: DpId,
        /// The DPs it has, with their codes (the first 20).
        known: String,
    },
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Checks `v` against one mapping entry `{"code": .., "type": .., "values": ..}` (tinytuya's
/// layout, from Tuya's cloud). Types it does not know (Raw, Bitmap, Json) and missing bounds
/// pass.
///
/// ```
/// use serde_json::json;
/// use tuya_devices::check_value;
/// use tuya_proto::DpId;
/// let spec = json!({"code": "switch_1", "type": "Boolean"});
/// assert!(check_value(DpId(1), &spec, &json!(true)).is_ok());
/// let e = check_value(DpId(1), &spec, &json!("abc")).unwrap_err();
/// assert_eq!(e.to_string(), "DP 1 (switch_1) takes true or false, not a string");
/// ```
pub fn check_value(dp: DpId, spec: &Value, v: &Value) -> Result<(), ValueError> {
    let code = spec
        .get("code")
        .and_then(Value::as_str)
        .map_or_else(|| dp.to_string(), str::to_string);
    let ty = spec.get("type").and_then(Value::as_str).unwrap_or("");
    let values = spec.get("values");
    let wrong = |want: &'static str| ValueError::WrongType {
        dp,
        code: code.clone(),
        want,
        got: kind(v),
    };
    match ty.to_ascii_lowercase().as_str() {
        "boolean" | "bool" => v.as_bool().map(drop).ok_or_else(|| wrong("true or false")),
        "integer" | "value" => {
            let n = v.as_i64().ok_or_else(|| wrong("an integer"))?;
            let bound = |k: &str| values.and_then(|x| x.get(k)).and_then(Value::as_i64);
            match (bound("min"), bound("max")) {
                (Some(min), Some(max)) if n < min || n > max => Err(ValueError::OutOfRange {
                    dp,
                    code,
                    min,
                    max,
                    value: n,
                }),
                _ => Ok(()),
            }
        }
        "enum" => {
            let s = v.as_str().ok_or_else(|| wrong("one of its values"))?;
            match values
                .and_then(|x| x.get("range"))
                .and_then(Value::as_array)
            {
                Some(r) if !r.iter().any(|x| x.as_str() == Some(s)) => {
                    let opts: Vec<&str> = r.iter().filter_map(Value::as_str).take(20).collect();
                    Err(ValueError::NotAnOption {
                        dp,
                        code,
                        options: opts.join(", "),
                        value: s.to_string(),
                    })
                }
                _ => Ok(()),
            }
        }
        "string" => v.as_str().map(drop).ok_or_else(|| wrong("a string")),
        _ => Ok(()),
    }
}

impl DeviceEntry {
    /// Checks a value for `dp` against this entry's mapping: refused when the mapping lists
    /// DPs but not this one, or describes it with another type, range or options. An entry
    /// without a mapping accepts anything (the device decides).
    pub fn check_value(&self, dp: DpId, v: &DpValue) -> Result<(), ValueError> {
        let Some(Value::Object(m)) = &self.mapping else {
            return Ok(());
        };
        match m.get(&dp.to_string()) {
            Some(spec) => check_value(dp, spec, &v.to_json()),
            None if self.known_dps().is_empty() => Ok(()),
            None => {
                let known: Vec<String> = self
                    .known_dps()
                    .into_iter()
                    .take(20)
                    .map(|id| match self.dp_name(id) {
                        Some(c) => format!("{id} {c}"),
                        None => id.to_string(),
                    })
                    .collect();
                Err(ValueError::UnknownDp {
                    device: self.label().to_string(),
                    dp,
                    known: known.join(", "),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lamp() -> DeviceEntry {
        DeviceEntry {
            id: "bf01".into(),
            name: Some("Lamp".into()),
            mapping: Some(json!({
                "1": {"code": "switch_1", "type": "Boolean", "values": {}},
                "2": {"code": "bright", "type": "Integer", "values": {"min": 10, "max": 1000}},
                "3": {"code": "mode", "type": "Enum", "values": {"range": ["white", "colour"]}},
                "4": {"code": "name", "type": "String", "values": {}},
                "5": {"code": "raw"}
            })),
            ..DeviceEntry::default()
        }
    }

    #[test]
    fn values_are_checked_against_the_mapping() {
        let l = lamp();
        let ok = |dp: u32, v: DpValue| l.check_value(DpId(dp), &v);
        assert!(ok(1, DpValue::Bool(true)).is_ok());
        assert!(ok(2, DpValue::Integer(55)).is_ok());
        assert!(ok(3, "colour".into()).is_ok());
        assert!(ok(5, "anything".into()).is_ok(), "no type: unchecked");
        for (dp, v, want) in [
            (1, DpValue::from("abc"), "DP 1 (switch_1) takes true or false, not a string"),
            (2, DpValue::Integer(5), "DP 2 (bright) takes 10 to 1000, not 5"),
            (2, DpValue::from("x"), "takes an integer, not a string"),
            (3, DpValue::from("disco"), "takes one of white, colour, not \"disco\""),
            (4, DpValue::Integer(4), "takes a string, not a number"),
            (99, DpValue::Integer(1), "Lamp has no DP 99 in its mapping in devices.json (it has 1 switch_1, 2 bright, 3 mode, 4 name, 5 raw)"),
        ] {
            let e = ok(dp, v).unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
        }
        let bare = DeviceEntry::default();
        assert!(bare.check_value(DpId(99), &DpValue::Bool(true)).is_ok());
    }
}
