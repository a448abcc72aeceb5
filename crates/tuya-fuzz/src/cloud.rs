//! What the cloud clients make of the cloud's JSON: the parsers they run on a reply's `result`
//! (device records, DP mappings of either API), the records the replies
//! become ([`CloudDevice`], [`Session`]) and the stored login ([`CloudConfig`]) from any JSON,
//! their conversion into devices.json entries and the merge of those, the error a reply's
//! `code` becomes, the sealed `result` of the app API opened with the vectors' request keys,
//! and tinytuya's import of a raw cloud reply.

use std::collections::HashSet;

use serde_json::Value;
use tuya_cloud::sharing::RequestKey;
use tuya_cloud::store::Method;
use tuya_cloud::{model, CloudConfig, CloudDevice, CloudError, Session};
use tuya_devices::import::{self, Format};
use tuya_devices::DevicesFile;

use crate::files::{assert_redacted, scrub};

/// Request ids and refresh tokens of tuya-cloud's sharing vectors (sharing-sdk-0.2.15.json):
/// with them, the sealed results of the seeds open and their mutations reach the GCM check.
pub const REQUEST_KEYS: [(&str, &str); 3] = [
    ("2f1c3a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "rtok0001"),
    ("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "refresh-XYZ"),
    ("00000000-0000-4000-8000-000000000000", "r"),
];

pub(crate) fn run(data: &[u8]) {
    records(data);
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    reply(&v);
    if let Some(Value::String(sealed)) = v.get("result") {
        for (rid, refresh) in REQUEST_KEYS {
            let key = RequestKey::derive(rid, refresh);
            let Ok(plain) = key.open(sealed) else {
                continue;
            };
            // Sealing is the inverse of opening, whatever the text.
            let resealed = key.seal_with(&plain, b"ABCDEFGHJKMN");
            assert_eq!(key.open(&resealed).as_deref(), Ok(&*plain));
            records(plain.as_bytes());
            if let Ok(inner) = serde_json::from_str::<Value>(&plain) {
                reply(&inner);
            }
        }
    }
}

/// The typed records, each from the whole input.
fn records(data: &[u8]) {
    if let Ok(d) = serde_json::from_slice::<CloudDevice>(data) {
        device(&d);
    }
    if let Ok(list) = serde_json::from_slice::<Vec<CloudDevice>>(data) {
        account(list);
    }
    if let Ok(s) = serde_json::from_slice::<Session>(data) {
        session(&s);
    }
    if let Ok(c) = serde_json::from_slice::<CloudConfig>(data) {
        config(&c);
    }
}

fn device(d: &CloudDevice) {
    assert_redacted(d, |d| scrub(&mut d.local_key));
    let e = d.to_entry();
    assert_eq!(e.id, d.id);
    assert!(e.ip.is_none(), "the cloud's (public) address kept");
    assert_eq!(e.key.is_some(), !d.local_key.is_empty());
    assert_eq!(e.sub, Some(d.sub));
    if let Some(m) = &e.mapping {
        assert!(m.as_object().is_some_and(|m| !m.is_empty()));
    }
    assert_redacted(&e, |e| {
        if let Some(k) = &mut e.key {
            scrub(k);
        }
    });
}

/// A device list merged into devices.json, twice: the second merge changes nothing.
fn account(list: Vec<CloudDevice>) {
    let mut seen = HashSet::new();
    // The clients list each device once (the first record of an id wins).
    let entries: Vec<_> = list
        .iter()
        .filter(|d| seen.insert(d.id.clone()))
        .map(CloudDevice::to_entry)
        .collect();
    let mut file = DevicesFile::default();
    let first = file.merge_account(entries.clone());
    let want: Vec<&String> = entries
        .iter()
        .map(|e| &e.id)
        .filter(|i| !i.is_empty())
        .collect();
    assert_eq!(first.added.iter().collect::<Vec<_>>(), want);
    let after = file.clone();
    let again = file.merge_account(entries);
    assert_eq!(again, Default::default(), "a second merge reported changes");
    assert_eq!(
        file, after,
        "a second merge of the same account changed the file"
    );
}

fn session(s: &Session) {
    assert!(s.expires_at_ms() >= s.t);
    // Once a session needs a refresh, it needs one at every later time.
    let end = s.expires_at_ms();
    let times = [0, s.t, end.saturating_sub(60_001), end, u64::MAX];
    let needs: Vec<bool> = times.iter().map(|&t| s.needs_refresh(t)).collect();
    assert!(needs.windows(2).all(|w| w[0] <= w[1]), "{needs:?}");
    assert!(needs[4]);
    assert_redacted(s, |s| {
        scrub(&mut s.access_token);
        scrub(&mut s.refresh_token);
    });
}

fn config(c: &CloudConfig) {
    assert_eq!(c.is_configured(), c.method().is_some());
    match c.method() {
        Some(Method::App) => assert!(c.app.is_some()),
        Some(Method::Developer) => assert!(c.developer.is_some()),
        None => {}
    }
    // What the store writes, it reads back.
    let text = serde_json::to_string(c).expect("a stored login serializes");
    assert_eq!(
        serde_json::from_str::<CloudConfig>(&text).ok().as_ref(),
        Some(c),
        "{text}"
    );
    assert_redacted(c, |c| {
        if let Some(a) = &mut c.app {
            scrub(&mut a.user_code);
            scrub(&mut a.session.access_token);
            scrub(&mut a.session.refresh_token);
        }
        if let Some(d) = &mut c.developer {
            scrub(&mut d.secret);
        }
    });
}

/// The parsers the HTTP clients run on a reply's `result`: device records (a list, or one) and
/// DP mappings from either API's schema.
fn result(v: &Value) {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => std::iter::once(v)
            .chain(o.values().filter_map(Value::as_array).flatten())
            .collect(),
        _ => Vec::new(),
    };
    for it in items {
        if let Some(d) = CloudDevice::from_record(it) {
            assert!(!d.id.is_empty(), "a record without an id became a device");
            device(&d);
        }
    }
    for (m, lists) in [
        (model::mapping_from_specs(v), &["status", "functions"][..]),
        (model::mapping_from_status(v), &["dpStatusRelationDTOS"][..]),
    ] {
        let m = m.as_object().expect("a mapping is an object");
        // One entry per DP at most, each from an item of the lists read.
        let items: usize = lists
            .iter()
            .filter_map(|l| v.get(*l).and_then(Value::as_array))
            .map(Vec::len)
            .sum();
        assert!(m.len() <= items, "{} entries from {items} items", m.len());
        assert!(m.values().all(|e| e.get("code").is_some()), "{m:?}");
    }
}

/// A reply's envelope: the error its `code` names, and its device list as tinytuya saves it.
fn reply(v: &Value) {
    result(v);
    if let Some(r) = v.get("result") {
        result(r);
    }
    if let Some(code) = v.get("code") {
        let code = match code {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        let msg = v.get("msg").and_then(Value::as_str).unwrap_or_default();
        let e = CloudError::from_code(&code, msg);
        assert_eq!(e.is_token_error(), code == "1010" || code == "1011");
        if let CloudError::Api { msg, .. } = &e {
            assert!(msg.chars().count() <= 200, "an unbounded message");
            assert_eq!(e.api_code(), Some(&*code));
        }
    }
    if let Ok(imp) = import::parse(Format::Tinytuya, &v.to_string()) {
        assert!(imp.entries.iter().all(|e| !e.id.is_empty()));
    }
}
