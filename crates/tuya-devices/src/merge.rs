//! Merging what was found on the network into devices.json without losing names, keys,
//! mappings or any field we do not know.

use std::net::IpAddr;

use serde_json::Value;
use tuya_proto::Version;

use crate::DevicesFile;

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

impl DevicesFile {
    /// Merges `findings`: only `ip`, `version` and `product_key` are touched; every other
    /// field is kept as it was.
    pub fn merge_findings(&mut self, findings: &[Finding]) -> MergeSummary {
        let mut s = MergeSummary::default();
        for f in findings {
            let Some(e) = self.by_id_mut(&f.id) else {
                s.unknown.push(f.id.clone());
                continue;
            };
            let mut changed = false;
            let ip = f.ip.to_string();
            if e.ip.as_deref() != Some(ip.as_str()) {
                e.ip = Some(ip);
                changed = true;
            }
            if let Some(v) = f.version {
                let v = Value::String(v.as_str().to_string());
                if e.version.as_ref() != Some(&v) {
                    e.version = Some(v);
                    changed = true;
                }
            }
            if let Some(pk) = &f.product_key {
                let pk = Value::String(pk.clone());
                if e.extra.get("product_key") != Some(&pk) {
                    e.extra.insert("product_key".into(), pk);
                    changed = true;
                }
            }
            if changed {
                s.updated.push(f.id.clone());
            } else {
                s.unchanged.push(f.id.clone());
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_everything_else() {
        let mut f = DevicesFile::parse(
            r#"[{"name":"Lamp","id":"a","key":"k1","mapping":{"1":{"code":"switch"}},"icon":"x","ip":"","version":"3.3"},
                {"name":"Plug","id":"b","key":"k2","ip":"127.0.1.2","version":"3.4"}]"#,
        )
        .unwrap();
        let s = f.merge_findings(&[
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
        ]);
        assert_eq!(s.updated, ["a"]);
        assert_eq!(s.unchanged, ["b"]);
        assert_eq!(s.unknown, ["z"]);
        let v = f.to_value();
        assert_eq!(v[0]["ip"], "127.0.1.9");
        assert_eq!(v[0]["version"], "3.5");
        assert_eq!(v[0]["product_key"], "pk");
        assert_eq!(v[0]["mapping"]["1"]["code"], "switch");
        assert_eq!(v[0]["key"], "k1");
        assert_eq!(v[0]["icon"], "x");
    }
}
