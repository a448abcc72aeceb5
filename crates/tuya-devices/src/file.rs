//! A whole devices.json: the entries, in file order, and the file's own shape.

use std::path::Path;

use serde_json::{Map, Value};

use crate::DeviceEntry;

/// Why a devices.json is unusable, or an entry cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DevicesError {
    /// The file cannot be read.
    #[error("cannot read {path}: {why}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        why: String,
    },
    /// Not JSON: where the parser stopped, and why.
    #[error("devices.json is not valid JSON: {why} at line {line}, column {column}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser found there.
        why: String,
    },
    /// JSON of another shape.
    #[error("devices.json is not a list of devices (nor tinytuya's {{\"devices\": [...]}}): {0}")]
    Shape(String),
    /// An entry without a device id.
    #[error("entry {entry} of devices.json has no \"id\": every device needs its id")]
    MissingId {
        /// 1-based position in the list.
        entry: usize,
    },
    /// Two entries with one id: which one a name means would be a guess.
    #[error("devices.json lists the id {id:?} twice (entries {first} and {second}): keep one")]
    DuplicateId {
        /// The id.
        id: String,
        /// 1-based position of the first.
        first: usize,
        /// 1-based position of the second.
        second: usize,
    },
    /// A sub-device that does not say which gateway it is behind.
    #[error("{device}: a sub-device without a \"parent\" (its gateway's id) in devices.json")]
    NoGateway {
        /// The sub-device.
        device: String,
    },
    /// A sub-device that names itself as its gateway.
    #[error("{device}: names itself as its own gateway (\"parent\") in devices.json")]
    OwnGateway {
        /// The sub-device.
        device: String,
    },
    /// A sub-device names a gateway that is not in the file.
    #[error("{device}: its gateway {parent:?} is not in devices.json")]
    MissingGateway {
        /// The sub-device.
        device: String,
        /// The gateway it names.
        parent: String,
    },
    /// A sub-device whose gateway is a sub-device too (or itself): a chain or a cycle.
    #[error("{device}: its gateway {parent:?} is itself a sub-device (a gateway chain or cycle in devices.json)")]
    GatewayChain {
        /// The sub-device.
        device: String,
        /// The gateway it names.
        parent: String,
    },
}

/// A parse error with its place, the place out of the message (it is said once).
fn json_error(e: serde_json::Error) -> DevicesError {
    let text = e.to_string();
    let place = format!(" at line {} column {}", e.line(), e.column());
    let why = text.strip_suffix(&place).unwrap_or(&text);
    let why = if e.is_eof() {
        format!("{why} (the file ends early: cut short?)")
    } else {
        why.to_string()
    };
    DevicesError::Json {
        line: e.line(),
        column: e.column(),
        why,
    }
}

/// The contents of a devices.json.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DevicesFile {
    /// The entries, in file order.
    pub entries: Vec<DeviceEntry>,
    /// tinytuya's snapshot shape `{"devices": [...], …}`: the other top-level fields, kept.
    pub wrapper: Option<Map<String, Value>>,
}

impl DevicesFile {
    /// Parses the JSON text of a devices.json: a list of devices, or an object whose
    /// `devices` is one (tinytuya's snapshot.json).
    pub fn parse(text: &str) -> Result<Self, DevicesError> {
        let v: Value = serde_json::from_str(text).map_err(json_error)?;
        let (list, wrapper) = match v {
            Value::Array(a) => (a, None),
            Value::Object(mut o) => match o.remove("devices") {
                Some(Value::Array(a)) => (a, Some(o)),
                _ => {
                    return Err(DevicesError::Shape(
                        "an object without a \"devices\" list".into(),
                    ))
                }
            },
            other => {
                return Err(DevicesError::Shape(format!(
                    "found a JSON {}",
                    match other {
                        Value::Null => "null",
                        Value::Bool(_) => "boolean",
                        Value::Number(_) => "number",
                        _ => "string",
                    }
                )))
            }
        };
        let entries: Vec<DeviceEntry> = list
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                serde_json::from_value(d)
                    .map_err(|e| DevicesError::Shape(format!("entry {}: {e}", i + 1)))
            })
            .collect::<Result<_, _>>()?;
        let mut seen: std::collections::HashMap<&str, usize> = Default::default();
        for (i, e) in entries.iter().enumerate() {
            if e.id.trim().is_empty() {
                return Err(DevicesError::MissingId { entry: i + 1 });
            }
            if let Some(first) = seen.insert(&e.id, i + 1) {
                return Err(DevicesError::DuplicateId {
                    id: e.id.clone(),
                    first,
                    second: i + 1,
                });
            }
        }
        Ok(Self { entries, wrapper })
    }

    /// Reads a devices.json file.
    pub fn load(path: &Path) -> Result<Self, DevicesError> {
        let text = std::fs::read_to_string(path).map_err(|e| DevicesError::Read {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        Self::parse(&text)
    }

    /// The JSON to write back: the same shape as read, unknown fields kept.
    pub fn to_value(&self) -> Value {
        let list: Vec<Value> = self
            .entries
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
            .collect();
        match &self.wrapper {
            None => Value::Array(list),
            Some(w) => {
                let mut o = w.clone();
                o.insert("devices".into(), Value::Array(list));
                Value::Object(o)
            }
        }
    }

    /// The entry whose id or name is `name_or_id` (ids first; names case-insensitively).
    pub fn find(&self, name_or_id: &str) -> Option<&DeviceEntry> {
        self.by_id(name_or_id).or_else(|| {
            self.entries.iter().find(|e| {
                e.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name_or_id))
            })
        })
    }

    /// The entry with this id.
    pub fn by_id(&self, id: &str) -> Option<&DeviceEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// The entry with this id, to change it.
    pub fn by_id_mut(&mut self, id: &str) -> Option<&mut DeviceEntry> {
        self.entries.iter_mut().find(|e| e.id == id)
    }

    /// Sub-devices of the gateway `id`.
    pub fn children_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a DeviceEntry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.is_sub() && e.parent.as_deref() == Some(id))
    }

    /// The gateway a sub-device is reached through. Gateways are one level deep: a gateway
    /// that is itself a sub-device (a chain, or a cycle) is refused rather than followed.
    pub fn gateway_of(&self, entry: &DeviceEntry) -> Result<&DeviceEntry, DevicesError> {
        let Some(parent) = entry.parent.clone().filter(|p| !p.is_empty()) else {
            return Err(DevicesError::NoGateway {
                device: entry.label().to_string(),
            });
        };
        if parent == entry.id {
            return Err(DevicesError::OwnGateway {
                device: entry.label().to_string(),
            });
        }
        let g = self
            .by_id(&parent)
            .ok_or_else(|| DevicesError::MissingGateway {
                device: entry.label().to_string(),
                parent: parent.clone(),
            })?;
        if g.is_sub() {
            return Err(DevicesError::GatewayChain {
                device: entry.label().to_string(),
                parent,
            });
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuya_proto::{DpId, Version};

    const SAMPLE: &str = r#"[
      {"name":"Lamp","id":"bf01","key":"0123456789abcdef","ip":"127.0.0.1","version":"3.3",
       "mapping":{"1":{"code":"switch_led","type":"Boolean"},"3":{"code":"bright_value"}},
       "icon":"x.png"},
      {"name":"Hub","id":"gw1","key":"0123456789abcdef","ip":"127.0.0.2","version":3.4,"port":7000},
      {"name":"Sensor","id":"sub1","sub":true,"parent":"gw1","node_id":"cid1"}
    ]"#;

    #[test]
    fn reads_tinytuya_layout_and_keeps_unknown_fields() {
        let f = DevicesFile::parse(SAMPLE).unwrap();
        let lamp = f.find("lamp").unwrap();
        assert_eq!(lamp.id, "bf01");
        assert_eq!(lamp.version(), Some(Version::V33));
        assert_eq!(lamp.dp_name(DpId(1)), Some("switch_led"));
        assert_eq!(lamp.known_dps(), vec![DpId(1), DpId(3)]);
        assert_eq!(lamp.extra["icon"], "x.png");
        assert_eq!(f.find("Hub").unwrap().version(), Some(Version::V34));
        assert_eq!(f.find("Hub").unwrap().port(), 7000);
        assert_eq!(lamp.port(), crate::DEFAULT_PORT);
        let back = f.to_value();
        assert_eq!(back[0]["icon"], "x.png");
        assert_eq!(DevicesFile::parse(&back.to_string()).unwrap(), f);
    }

    #[test]
    fn unusable_files_name_the_cause_and_the_place() {
        let e = DevicesFile::parse("[\n  {\"id\": \"a\",}\n]").unwrap_err();
        assert!(matches!(e, DevicesError::Json { line: 2, .. }), "{e:?}");
        assert!(e.to_string().contains("at line 2, column 14"), "{e}");
        let e = DevicesFile::parse("[{\"id\": \"a\"").unwrap_err();
        assert!(e.to_string().contains("cut short"), "{e}");
        let e = DevicesFile::parse(r#"[{"id":"a"},{"name":"x"}]"#).unwrap_err();
        assert_eq!(e, DevicesError::MissingId { entry: 2 });
        let e = DevicesFile::parse(r#"[{"id":"a"},{"id":"b"},{"id":"a"}]"#).unwrap_err();
        assert!(
            e.to_string().contains("\"a\" twice (entries 1 and 3)"),
            "{e}"
        );
        let f = DevicesFile::parse(
            r#"[{"id":"s","name":"Self","sub":true,"parent":"s","node_id":"1"},
                {"id":"o","name":"Orphan","sub":true}]"#,
        )
        .unwrap();
        let e = f.gateway_of(f.by_id("s").unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Self: names itself as its own gateway (\"parent\") in devices.json"
        );
        let e = f.gateway_of(f.by_id("o").unwrap()).unwrap_err();
        assert!(matches!(e, DevicesError::NoGateway { .. }), "{e}");
    }

    #[test]
    fn snapshot_shape_is_read_and_written_back_as_such() {
        let f = DevicesFile::parse(
            r#"{"timestamp": 1700000000, "devices": [{"id":"a","ip":"127.0.0.9","ver":"3.3","origin":"broadcast"}]}"#,
        )
        .unwrap();
        assert_eq!(f.entries[0].id, "a");
        assert_eq!(
            f.entries[0].version(),
            Some(Version::V33),
            "snapshot's `ver`"
        );
        let v = f.to_value();
        assert_eq!(v["timestamp"], 1700000000);
        assert_eq!(v["devices"][0]["origin"], "broadcast");
        assert!(DevicesFile::parse(r#"{"x": []}"#).is_err());
        assert!(DevicesFile::parse("3").is_err());
        assert!(DevicesFile::parse("[1]").is_err());
    }

    #[test]
    fn gateways_are_one_level_deep() {
        let f = DevicesFile::parse(SAMPLE).unwrap();
        let s = f.find("Sensor").unwrap();
        assert_eq!(f.gateway_of(s).unwrap().id, "gw1");
        assert_eq!(f.children_of("gw1").count(), 1);
        // A cycle, a chain and a self-reference are refused, not followed.
        let cyc = DevicesFile::parse(
            r#"[{"id":"a","sub":true,"parent":"b","node_id":"1"},
                {"id":"b","sub":true,"parent":"a","node_id":"2"},
                {"id":"c","sub":true,"parent":"c","node_id":"3"},
                {"id":"d","sub":true,"parent":"zz","node_id":"4"}]"#,
        )
        .unwrap();
        for id in ["a", "b"] {
            let e = cyc.gateway_of(cyc.by_id(id).unwrap()).unwrap_err();
            assert!(matches!(e, DevicesError::GatewayChain { .. }), "{id}: {e}");
        }
        assert!(matches!(
            cyc.gateway_of(cyc.by_id("c").unwrap()),
            Err(DevicesError::OwnGateway { .. })
        ));
        assert!(matches!(
            cyc.gateway_of(cyc.by_id("d").unwrap()),
            Err(DevicesError::MissingGateway { .. })
        ));
    }
}
