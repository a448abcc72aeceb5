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

/// What merging an account's devices changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyChanges {
    /// Ids whose local key changed (the device was re-paired).
    pub rekeyed: Vec<String>,
    /// Ids new to the file.
    pub added: Vec<String>,
    /// Ids in the file that the account no longer lists (kept).
    pub missing: Vec<String>,
}

/// Fields the cloud is the authority on; everything else (names, addresses, versions, any
/// field a user or another tool added) stays as it is in the file.
const CLOUD_FIELDS: [&str; 9] = [
    "product_key",
    "product_id",
    "product_name",
    "category",
    "model",
    "uuid",
    "mac",
    "icon",
    "biz_type",
];

impl DevicesFile {
    /// Merges the devices of a cloud account: keys and the cloud's own fields (mapping,
    /// product, category, gateway links) updated, names and local edits kept, new devices
    /// appended, devices the account no longer lists kept and reported.
    pub fn merge_account(&mut self, account: Vec<crate::DeviceEntry>) -> KeyChanges {
        let mut ch = KeyChanges::default();
        let listed: std::collections::HashSet<String> =
            account.iter().map(|e| e.id.clone()).collect();
        for a in account {
            if a.id.is_empty() {
                continue;
            }
            let Some(e) = self.by_id_mut(&a.id) else {
                ch.added.push(a.id.clone());
                self.entries.push(a);
                continue;
            };
            if a.key.is_some() && e.key != a.key {
                if e.key.as_deref().is_some_and(|k| !k.is_empty()) {
                    ch.rekeyed.push(a.id.clone());
                }
                e.key = a.key;
            }
            if e.name.as_deref().is_none_or(str::is_empty) {
                e.name = a.name;
            }
            if a.mapping
                .as_ref()
                .is_some_and(|m| m.as_object().is_some_and(|o| !o.is_empty()))
            {
                e.mapping = a.mapping;
            }
            if a.sub.is_some() {
                e.sub = a.sub;
            }
            if a.parent.is_some() {
                e.parent = a.parent;
            }
            if a.node_id.is_some() {
                e.node_id = a.node_id;
            }
            for k in CLOUD_FIELDS {
                if let Some(v) = a.extra.get(k) {
                    e.extra.insert(k.to_string(), v.clone());
                }
            }
        }
        ch.missing = self
            .entries
            .iter()
            .filter(|e| !listed.contains(&e.id))
            .map(|e| e.id.clone())
            .collect();
        ch
    }
}

#[cfg(test)]
mod account_tests {
    use super::*;

    #[test]
    fn keys_updated_names_and_local_edits_kept() {
        let mut f = DevicesFile::parse(
            r#"[{"name":"My Lamp","id":"a","key":"oldkeyoldkeyold1","ip":"127.0.1.9","version":"3.4","note":"mine"},
                {"name":"Gone","id":"g","key":"kkkkkkkkkkkkkkkk"}]"#,
        )
        .unwrap();
        let account = DevicesFile::parse(
            r#"[{"name":"Lamp (cloud)","id":"a","key":"k3y!<&>xk3y!<&>x","product_key":"pk1","category":"dj",
                 "mapping":{"20":{"code":"switch_led","type":"Boolean","values":{}}}},
                {"name":"Hub","id":"h","key":"hubkeyhubkeyhub1"},
                {"name":"Child","id":"c","sub":true,"parent":"h","node_id":"n1"}]"#,
        )
        .unwrap()
        .entries;
        let ch = f.merge_account(account);
        assert_eq!(ch.rekeyed, ["a"]);
        assert_eq!(ch.added, ["h", "c"]);
        assert_eq!(ch.missing, ["g"]);
        let a = f.by_id("a").unwrap();
        assert_eq!(a.key.as_deref(), Some("k3y!<&>xk3y!<&>x"));
        assert_eq!(
            a.name.as_deref(),
            Some("My Lamp"),
            "the user's name is kept"
        );
        assert_eq!(
            a.ip.as_deref(),
            Some("127.0.1.9"),
            "the scanned address is kept"
        );
        assert_eq!(a.version(), Some(tuya_proto::Version::V34));
        assert_eq!(a.extra["note"], "mine");
        assert_eq!(a.extra["product_key"], "pk1");
        assert_eq!(a.dp_name(tuya_proto::DpId(20)), Some("switch_led"));
        let c = f.by_id("c").unwrap();
        assert!(c.is_sub());
        assert_eq!(f.gateway_of(c).unwrap().id, "h");
        // Merging the same account again changes nothing.
        let again = DevicesFile::parse(&f.to_value().to_string()).unwrap();
        let mut g = again.clone();
        let account = f.entries.clone();
        let ch = g.merge_account(account);
        assert!(ch.rekeyed.is_empty() && ch.added.is_empty(), "{ch:?}");
        assert_eq!(g, again);
    }
}
