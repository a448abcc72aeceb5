//! Merging what a scan found into the user's devices.json (tinytuya's format) without losing
//! names, keys, mappings or any field we do not know, and writing it back safely.

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tuya_proto::Version;

/// A finding to merge: which device is at which address, speaking which version.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Device id.
    pub id: String,
    /// Where it was found.
    pub ip: IpAddr,
    /// Its protocol version, when known.
    pub version: Option<Version>,
    /// Its product key, when announced.
    pub product_key: Option<String>,
}

/// What a merge changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergeSummary {
    /// Ids whose address, version or product key changed.
    pub updated: Vec<String>,
    /// Ids found with nothing new.
    pub unchanged: Vec<String>,
    /// Ids found that devices.json does not list (not added: we hold no key for them).
    pub unknown: Vec<String>,
}

/// Merges `findings` into the list of device objects in place. Only `ip`, `version` and
/// `product_key` are touched; every other field is kept as it was.
pub fn merge(devices: &mut [Value], findings: &[Finding]) -> MergeSummary {
    let mut s = MergeSummary::default();
    for f in findings {
        let Some(obj) = devices
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .find(|o| o.get("id").and_then(Value::as_str) == Some(f.id.as_str()))
        else {
            s.unknown.push(f.id.clone());
            continue;
        };
        let mut changed = false;
        let mut set = |k: &str, v: Value| {
            if obj.get(k) != Some(&v) {
                obj.insert(k.to_string(), v);
                changed = true;
            }
        };
        set("ip", Value::String(f.ip.to_string()));
        if let Some(v) = f.version {
            set("version", Value::String(v.as_str().to_string()));
        }
        if let Some(pk) = &f.product_key {
            set("product_key", Value::String(pk.clone()));
        }
        if changed {
            s.updated.push(f.id.clone());
        } else {
            s.unchanged.push(f.id.clone());
        }
    }
    s
}

/// Writes `value` to `path` atomically (a temporary file in the same folder, then a rename),
/// readable by the owner only (0600, it holds keys), keeping the previous file as
/// `<path>.bak`. Returns the backup's path when there was a previous file.
pub fn write_devices_file(path: &Path, value: &Value) -> io::Result<Option<PathBuf>> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "devices file has no name"))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    {
        let mut f = opts.open(&tmp)?;
        let mut text = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
        text.push(b'\n');
        f.write_all(&text)?;
        f.sync_all()?;
    }
    let backup = if path.exists() {
        let b = dir.join(format!("{name}.bak"));
        std::fs::copy(path, &b)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o600))?;
        }
        Some(b)
    } else {
        None
    };
    std::fs::rename(&tmp, path)?;
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_keeps_everything_else() {
        let mut devs = vec![
            json!({"name":"Lamp","id":"a","key":"k1","mapping":{"1":{"code":"switch"}},"icon":"x","ip":"","version":"3.3"}),
            json!({"name":"Plug","id":"b","key":"k2","ip":"127.0.1.2","version":"3.4"}),
        ];
        let s = merge(
            &mut devs,
            &[
                Finding {
                    id: "a".into(),
                    ip: "127.0.1.9".parse().unwrap(),
                    version: Some(Version::V35),
                    product_key: Some("pk".into()),
                },
                Finding {
                    id: "b".into(),
                    ip: "127.0.1.2".parse().unwrap(),
                    version: Some(Version::V34),
                    product_key: None,
                },
                Finding {
                    id: "z".into(),
                    ip: "127.0.1.3".parse().unwrap(),
                    version: None,
                    product_key: None,
                },
            ],
        );
        assert_eq!(s.updated, ["a"]);
        assert_eq!(s.unchanged, ["b"]);
        assert_eq!(s.unknown, ["z"]);
        assert_eq!(devs[0]["ip"], "127.0.1.9");
        assert_eq!(devs[0]["version"], "3.5");
        assert_eq!(devs[0]["mapping"]["1"]["code"], "switch");
        assert_eq!(devs[0]["key"], "k1");
        assert_eq!(devs[0]["icon"], "x");
    }

    #[test]
    fn write_is_private_and_keeps_a_backup() {
        let dir = std::env::temp_dir().join(format!("tuya-merge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("devices.json");
        assert_eq!(write_devices_file(&p, &json!([{"id":"a"}])).unwrap(), None);
        let b = write_devices_file(&p, &json!([{"id":"b"}]))
            .unwrap()
            .unwrap();
        let old: Value = serde_json::from_str(&std::fs::read_to_string(&b).unwrap()).unwrap();
        let new: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(
            (old[0]["id"].as_str(), new[0]["id"].as_str()),
            (Some("a"), Some("b"))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
            assert_eq!(
                std::fs::metadata(&b).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
