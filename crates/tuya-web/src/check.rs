//! A command body from the page checked before it reaches a device: an object of DP numbers,
//! each value of the type (and in the range) the device's mapping says.

use serde_json::Value;
use tuya_proto::{DpId, DpValue, Dps};

/// Why a body was refused, with the HTTP status it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Not a JSON object of DPs (400).
    Malformed(String),
    /// A value of the wrong type or out of range (422).
    WrongValue(String),
}

/// The DPs of `body`, checked against `mapping` (`{}`: anything goes).
pub fn dps_of(body: &[u8], mapping: &Value) -> Result<Dps, BodyError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| BodyError::Malformed(format!("the body is not JSON: {e}")))?;
    let Value::Object(obj) = v else {
        return Err(BodyError::Malformed(
            "the body must be a JSON object of DPs, e.g. {\"1\": true, \"2\": 55}".into(),
        ));
    };
    if obj.is_empty() {
        return Err(BodyError::Malformed("no DPs to set".into()));
    }
    let mut dps = Dps::new();
    for (k, val) in &obj {
        let id: u32 = k.parse().map_err(|_| {
            BodyError::Malformed(format!("DP {k:?} is not a number from 1 to {}", u32::MAX))
        })?;
        if let Some(m) = mapping.get(k) {
            // The same check as the command line's (tuya_devices), so both say the same.
            tuya_devices::check_value(DpId(id), m, val)
                .map_err(|e| BodyError::WrongValue(e.to_string()))?;
        }
        if val.is_null() || val.is_array() || val.is_object() {
            return Err(BodyError::WrongValue(format!(
                "DP {k}: a value must be a boolean, a number or a string"
            )));
        }
        dps.insert(DpId(id), DpValue::from_json(val));
    }
    Ok(dps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping() -> Value {
        json!({"1": {"code": "switch_1", "type": "Boolean", "values": {}},
               "2": {"code": "bright", "type": "Integer", "values": {"min": 10, "max": 1000}},
               "3": {"code": "mode", "type": "Enum", "values": {"range": ["white", "colour"]}},
               "4": {"code": "name", "type": "String", "values": {}}})
    }

    #[test]
    fn bodies() {
        let m = mapping();
        let d = dps_of(br#"{"1":true,"2":55,"3":"white","9":7}"#, &m).unwrap();
        assert_eq!(d[&DpId(2)], DpValue::Integer(55));
        assert_eq!(d[&DpId(9)], DpValue::Integer(7), "an unmapped DP passes");
        for (body, want) in [
            (&br#"{"1":"on"}"#[..], "takes true or false, not a string"),
            (br#"{"2":5}"#, "takes 10 to 1000, not 5"),
            (br#"{"2":1.5}"#, "takes an integer"),
            (br#"{"3":"disco"}"#, "one of white, colour"),
            (br#"{"4":4}"#, "takes a string"),
            (br#"{"9":null}"#, "a boolean, a number or a string"),
        ] {
            match dps_of(body, &m) {
                Err(BodyError::WrongValue(e)) => assert!(e.contains(want), "{e}"),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
        for (body, want) in [
            (&b"nope"[..], "not JSON"),
            (b"[1]", "JSON object"),
            (b"{}", "no DPs"),
            (br#"{"x":1}"#, "not a number"),
            (br#"{"4294967296":1}"#, "not a number"),
            (br#"{"-1":1}"#, "not a number"),
        ] {
            match dps_of(body, &m) {
                Err(BodyError::Malformed(e)) => assert!(e.contains(want), "{e}"),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
    }
}
