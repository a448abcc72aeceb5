//! The loaders of the files a user hands us: devices.json (with the imports of other tools'
//! key files and the capture decoder's key table) and bridge.toml.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::Path;

use serde_json::{json, Value};
use tuya_bridge::config::ConfigError;
use tuya_bridge::{ha, BridgeConfig, FileConfig};
use tuya_devices::import::{self, Format};
use tuya_devices::{DevicesError, DevicesFile};

/// Asserts that `x`'s `Debug` does not show what `scrub` changes: the text is the same
/// whatever the secrets are, so none of them can be in it.
pub(crate) fn assert_redacted<T: Debug + Clone>(x: &T, scrub: impl FnOnce(&mut T)) {
    let mut y = x.clone();
    scrub(&mut y);
    assert_eq!(format!("{x:?}"), format!("{y:?}"), "Debug shows a secret");
}

const SCRUBBED: &str = "<scrubbed secret>";

pub(crate) fn scrub(s: &mut String) {
    *s = SCRUBBED.into();
}

fn scrub_opt(s: &mut Option<String>) {
    if let Some(s) = s {
        scrub(s);
    }
}

pub(crate) fn devices_json(data: &[u8]) {
    imports(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let keys = tuya_capture::KeyStore::from_devices_json(text);
    let file = match DevicesFile::parse(text) {
        Ok(f) => f,
        Err(e) => {
            use DevicesError as E;
            let reading = matches!(e, E::Json { .. } | E::Shape(_));
            let ids = matches!(e, E::MissingId { .. } | E::DuplicateId { .. });
            assert!(reading || ids, "{e:?}");
            assert!(keys.is_err(), "the capture reads what devices.json refuses");
            return;
        }
    };
    // Written back and read again, the file is the same: nothing is lost on a rewrite.
    let back = file.to_value().to_string();
    assert_eq!(DevicesFile::parse(&back).as_ref(), Ok(&file), "{back}");
    assert_redacted(&file, |f| {
        f.entries.iter_mut().for_each(|e| scrub_opt(&mut e.key))
    });

    let (store, skipped) = keys.expect("the capture reads any devices.json");
    assert_eq!(store.devices().len() + skipped.len(), file.entries.len());

    for e in &file.entries {
        let _ = (e.label(), e.version(), e.ip(), e.port());
        let dps = e.known_dps();
        assert!(dps.windows(2).all(|w| w[0] <= w[1]), "known_dps unsorted");
        for dp in dps {
            let _ = e.dp_name(dp);
        }
        assert!(file
            .children_of(&e.id)
            .all(|c| c.parent.as_deref() == Some(&*e.id)));
        if !e.is_sub() {
            continue;
        }
        // Gateways are one level deep: the one found is a device of the file, else the
        // error says why there is none.
        let parent = e.parent.as_deref().unwrap_or_default();
        let found = file.by_id(parent);
        match file.gateway_of(e) {
            Ok(g) => assert!(!g.is_sub() && g.id != e.id && g.id == parent),
            Err(DevicesError::NoGateway { .. }) => assert!(parent.is_empty()),
            Err(DevicesError::OwnGateway { .. }) => assert_eq!(parent, e.id),
            Err(DevicesError::MissingGateway { .. }) => assert!(found.is_none()),
            Err(DevicesError::GatewayChain { .. }) => assert!(found.is_some_and(|g| g.is_sub())),
            Err(other) => panic!("gateway_of: {other:?}"),
        }
    }
}

/// Other tools' key files: the import never quotes a key in what it reports, and what it
/// imports merges into a file.
fn imports(data: &[u8]) {
    let secrets = std::str::from_utf8(data)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .map(|v| secrets(&v))
        .unwrap_or_default();
    for format in [Format::Tinytuya, Format::TuyaCli] {
        let said = match import::parse_bytes(format, data) {
            Err(e) => vec![e.to_string()],
            Ok(imp) => {
                let said = imp.warnings.iter().map(|w| w.to_string()).collect();
                let ids: Vec<String> = imp.entries.iter().map(|e| e.id.clone()).collect();
                let mut file = DevicesFile::default();
                imp.merge_into(&mut file);
                for id in ids.iter().filter(|id| !id.is_empty()) {
                    assert!(file.by_id(id).is_some(), "{id} imported but not merged");
                }
                said
            }
        };
        for msg in &said {
            for s in &secrets {
                assert!(
                    !msg.contains(s.as_str()),
                    "{format:?} import quotes a key: {msg}"
                );
            }
        }
    }
}

/// Values of key fields in `v` that appear in no other string of it (so a message holding
/// one quoted the key, not a name that happens to equal it).
fn secrets(v: &Value) -> Vec<String> {
    fn walk(v: &Value, secret: bool, keys: &mut Vec<String>, other: &mut Vec<String>) {
        match v {
            Value::String(s) if secret => keys.push(s.clone()),
            Value::String(s) => other.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, false, keys, other)),
            Value::Object(o) => {
                for (k, x) in o {
                    other.push(k.clone());
                    walk(
                        x,
                        matches!(k.as_str(), "key" | "local_key" | "localKey"),
                        keys,
                        other,
                    );
                }
            }
            _ => {}
        }
    }
    let (mut keys, mut other) = (Vec::new(), Vec::new());
    walk(v, false, &mut keys, &mut other);
    keys.retain(|k| k.len() >= 8 && !other.iter().any(|o| o.contains(k.as_str())));
    keys
}

/// DPs of every kind the Home Assistant mapping knows, for the overrides to apply to.
fn sample_mapping() -> Value {
    json!({
        "1": {"code": "switch_1", "type": "Boolean", "values": {}},
        "2": {"code": "temp_current", "type": "Integer",
              "values": {"min": -400, "max": 1000, "scale": 1, "step": 1, "unit": "℃"}},
        "3": {"code": "mode", "type": "Enum", "values": {"range": ["auto", "manual"]}},
        "19": {"code": "cur_power", "type": "Integer", "values": {"scale": 1, "unit": "W"}},
        "20": {"code": "switch_led", "type": "Boolean", "values": {}},
        "22": {"code": "bright_value_v2", "type": "Integer", "values": {"min": 10, "max": 1000}},
        "101": {"code": "note", "type": "String", "values": {}}
    })
}

pub(crate) fn bridge_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("bridge.toml");
    let mut file = match FileConfig::parse(text, path) {
        Ok(f) => f,
        Err(e) => {
            assert!(matches!(e, ConfigError::Parse { .. }), "{e:?}");
            return;
        }
    };
    // The token file is read from disk during the merge: a path from the input could name
    // anything (/dev/zero), and reading files is not what is fuzzed here.
    file.http_token_file = None;
    let auth = file.mqtt.as_deref().and_then(url_auth);
    let overrides = file.device.clone();
    match BridgeConfig::merge(file, FileConfig::default()) {
        Ok(cfg) => check_config(&cfg),
        Err(e) => {
            // Errors are printed and logged: a broker password never appears in one.
            if let Some(auth) = auth {
                assert!(!e.to_string().contains(&auth), "the password in: {e}");
            }
        }
    }
    for (name, dev) in overrides {
        discovery_with(&name, dev.dps);
    }
}

/// `user:password@` of a broker URL that has a password, as it would appear unmasked.
fn url_auth(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (auth, _) = rest.rsplit_once('@')?;
    let (_, pass) = auth.split_once(':')?;
    (!pass.is_empty()).then(|| format!("{auth}@"))
}

fn check_config(cfg: &BridgeConfig) {
    assert!(cfg.broker.is_some() || cfg.http.is_some());
    assert!(!cfg.prefix.is_empty() && !cfg.prefix.contains(['+', '#']));
    assert!(!cfg.instance.is_empty() && !cfg.instance.contains(['/', '+', '#']));
    assert!(cfg.command_timeout.as_secs() >= 1);
    assert!((1..=cfg.shard.count).contains(&cfg.shard.index));
    assert!(cfg.discovery_prefix.as_deref() != Some(""));
    if let Some(b) = &cfg.broker {
        assert!(!b.host.is_empty() && !b.host.contains('/'), "{b:?}");
    }
    assert_redacted(cfg, |c| {
        if let Some(b) = &mut c.broker {
            scrub_opt(&mut b.password);
        }
        if let Some(h) = &mut c.http {
            scrub_opt(&mut h.token);
        }
    });
}

/// The discovery config of a device of every DP kind with a device's overrides applied.
fn discovery_with(name: &str, overrides: BTreeMap<String, ha::DpOverride>) {
    let info = ha::DeviceInfo {
        object_id: name.into(),
        name: name.into(),
        base: format!("tuya/{name}"),
        mapping: Some(sample_mapping()),
        overrides,
        ..Default::default()
    };
    let origin = ha::Origin {
        name: "tuyactl".into(),
        sw: "0".into(),
        url: String::new(),
    };
    let payload = ha::config_payload(&info, &origin);
    assert!(payload["cmps"].is_object(), "{payload}");
    let topic = ha::config_topic("homeassistant", name);
    assert!(!topic.contains(['+', '#']), "{topic}");
}
