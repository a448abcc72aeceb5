//! Tests of the import: each tinytuya shape, tuya-cli's two outputs, the merge rules.
use super::*;

const K: &str = "k3y!<&>\"'{}[]:,x";

fn keys(i: &Imported) -> Vec<&str> {
    i.entries
        .iter()
        .map(|e| e.key.as_deref().unwrap_or("-"))
        .collect()
}

#[test]
fn tinytuya_devices_list() {
    let text = serde_json::json!([{
        "name": "Lamp", "id": "a", "key": K, "mac": "aa:bb", "uuid": "u1", "category": "dj",
        "product_id": "pid", "sub": false, "icon": "x.png", "version": "3.3", "last_ip": "",
        "ip": "0.0.0.0", "parent": "", "node_id": "",
        "mapping": {"20": {"code": "switch_led", "type": "Boolean", "values": {}, "raw_values": "{}"}}
    }])
    .to_string();
    let i = parse(Format::Tinytuya, &text).unwrap();
    assert_eq!(i.source, Source::TinytuyaDevices);
    assert_eq!(keys(&i), [K]);
    let e = &i.entries[0];
    assert_eq!(e.ip, None, "0.0.0.0 is unknown");
    assert_eq!(
        (e.parent.as_deref(), e.node_id.as_deref()),
        (None, None),
        "\"\" is none"
    );
    assert_eq!(e.version(), Some(tuya_proto::Version::V33));
    assert_eq!(e.dp_name(tuya_proto::DpId(20)), Some("switch_led"));
    assert_eq!(e.extra["product_id"], "pid");
    assert_eq!(e.extra["last_ip"], "");
    assert!(!e.is_sub());
    assert!(i.warnings.is_empty(), "{:?}", i.warnings);
}

#[test]
fn tinytuya_snapshot_fills_and_updates_addresses() {
    let text = r#"{"timestamp": 1.7e9, "devices": [
        {"id": "a", "ip": "192.0.2.7", "ver": "3.4", "origin": "broadcast", "name": "Lamp (snap)", "key": "", "mac": "m"},
        {"id": "b", "ip": "192.0.2.8", "ver": "3.3", "origin": "cloud", "name": "Plug", "key": "0123456789abcdef"},
        {"id": "c", "ip": "", "ver": "", "origin": "cloud", "name": "Far", "key": "fedcba9876543210"}]}"#;
    let i = parse(Format::Tinytuya, text).unwrap();
    assert_eq!(i.source, Source::TinytuyaSnapshot);
    assert_eq!(i.entries[0].extra.get("origin"), None);
    assert_eq!(i.entries[0].extra.get("ver"), None);
    assert_eq!(
        i.warnings,
        [Warning::NoKey {
            device: "Lamp (snap) (a)".into()
        }]
    );
    let mut f = DevicesFile::parse(
        r#"[{"id":"a","name":"My lamp","key":"aaaaaaaaaaaaaaaa","ip":"192.0.2.1","version":"3.3"},
            {"id":"b","name":"My plug","key":"0123456789abcdef"},
            {"id":"c","name":"Far","key":"fedcba9876543210","ip":"192.0.2.99"}]"#,
    )
    .unwrap();
    let r = i.merge_into(&mut f);
    assert_eq!(r.addressed, ["a", "b"]);
    assert!(
        r.keys.rekeyed.is_empty() && r.keys.added.is_empty(),
        "{r:?}"
    );
    let a = f.by_id("a").unwrap();
    assert_eq!(
        (a.ip.as_deref(), a.version()),
        (Some("192.0.2.7"), Some(tuya_proto::Version::V34))
    );
    assert_eq!(a.name.as_deref(), Some("My lamp"));
    assert_eq!(
        a.key.as_deref(),
        Some("aaaaaaaaaaaaaaaa"),
        "an empty key changes nothing"
    );
    assert_eq!(f.by_id("b").unwrap().ip.as_deref(), Some("192.0.2.8"));
    assert_eq!(
        f.by_id("c").unwrap().ip.as_deref(),
        Some("192.0.2.99"),
        "an unknown address is no news"
    );
}

#[test]
fn devices_list_addresses_only_fill_gaps() {
    let i = parse(
        Format::Tinytuya,
        r#"[{"id":"a","key":"aaaaaaaaaaaaaaaa","ip":"192.0.2.5","version":"3.5"},
            {"id":"b","key":"bbbbbbbbbbbbbbbb","ip":"192.0.2.6","version":3.4}]"#,
    )
    .unwrap();
    let mut f = DevicesFile::parse(
        r#"[{"id":"a","key":"aaaaaaaaaaaaaaaa","ip":"192.0.2.1","version":"3.3"},{"id":"b","ip":"0.0.0.0"}]"#,
    )
    .unwrap();
    let r = i.merge_into(&mut f);
    assert_eq!(r.addressed, ["b"]);
    assert_eq!(f.by_id("a").unwrap().ip.as_deref(), Some("192.0.2.1"));
    assert_eq!(f.by_id("b").unwrap().ip.as_deref(), Some("192.0.2.6"));
    assert_eq!(
        f.by_id("b").unwrap().version(),
        Some(tuya_proto::Version::V34)
    );
    assert!(
        r.keys.rekeyed.is_empty(),
        "b had no key: a key is news, not a re-key"
    );
}

#[test]
fn tinytuya_raw_cloud_reply() {
    let text = r#"{"result": [
        {"id": "gw", "name": "Hub", "local_key": "0123456789abcdef", "product_id": "pk", "sub": false,
         "uuid": "u", "ip": "203.0.113.9", "lat": "1.0", "owner_id": "o", "status": [{"code": "x"}]},
        {"id": "ch", "name": "Sensor", "local_key": "", "gateway_id": "gw", "node_id": "n1", "sub": true}],
        "success": true, "t": 1700000000000}"#;
    let i = parse(Format::Tinytuya, text).unwrap();
    assert_eq!(i.source, Source::TinytuyaRaw);
    let gw = &i.entries[0];
    assert_eq!(gw.key.as_deref(), Some("0123456789abcdef"));
    assert_eq!(gw.ip, None, "the cloud's ip is the public one");
    assert_eq!(gw.extra_str("product_key"), Some("pk"));
    assert_eq!(gw.extra.keys().collect::<Vec<_>>(), ["product_key", "uuid"]);
    let ch = &i.entries[1];
    assert!(ch.is_sub());
    assert_eq!(ch.parent.as_deref(), Some("gw"));
    assert!(
        i.warnings.is_empty(),
        "a child without a key is normal: {:?}",
        i.warnings
    );
    let paged = r#"{"result": {"list": [{"id": "x", "local_key": "0123456789abcdef"}], "has_more": false}, "success": true}"#;
    assert_eq!(parse(Format::Tinytuya, paged).unwrap().entries.len(), 1);
}

#[test]
fn tinytuya_shapes_that_are_not_key_files() {
    let err = |t: &str| parse(Format::Tinytuya, t).unwrap_err().to_string();
    assert_eq!(
        err(r#"{"timestamp": 1}"#),
        "snapshot.json has no devices list"
    );
    assert_eq!(
        err(r#"{"devices": {}}"#),
        "snapshot.json has no devices list"
    );
    assert_eq!(
        err(r#"{"success": true, "t": 1}"#),
        "tuya-raw.json has no result list"
    );
    assert_eq!(
        err(r#"{"success": false, "msg": "permission deny", "code": 1106}"#),
        "tuya-raw.json holds a failed cloud reply (permission deny); run tinytuya's wizard again"
    );
    assert!(err(r#"{"x": 1}"#).contains("found an object with none of those"));
    assert!(err("3").ends_with("found a number"));
    assert!(err("[1]").starts_with("device 1: expected a device"));
}

#[test]
fn tuya_cli_wizard_with_its_questions_and_a_cut_list() {
    let text = "? The API key from tuya.com: xxxxxxxx\n? The API secret from tuya.com: yyyy\n[\n  { name: 'A', id: 'a', key: 'aaaa&amp;aaaaaaaaaaa' },\n  { name: 'B', id: 'b', key: 'Zq9x' },\n  { id: 'a', key: 'cccccccccccccccc' },\n  { name: 'nokey' },\n  ... 2 more items\n]\n";
    let i = parse(Format::TuyaCli, text).unwrap();
    assert_eq!(i.source, Source::TuyaCliWizard);
    assert_eq!(keys(&i), ["aaaa&aaaaaaaaaaa", "Zq9x"]);
    assert_eq!(
        i.warnings,
        [
            Warning::Cut { more: 2 },
            Warning::KeyUnescaped {
                device: "A (a)".into()
            },
            Warning::KeyLength {
                device: "B (b)".into(),
                len: 4
            },
            Warning::Duplicate { device: "a".into() },
            Warning::NoId { index: 4 },
        ]
    );
    for w in &i.warnings {
        assert!(!w.to_string().contains("Zq9"), "{w}");
    }
    let e = parse(Format::TuyaCli, "? q\n[\n  { id: 'a' key: 'k' }\n]").unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 3, column 13: expected `,` or `}` after a property, found text"
    );
}

#[test]
fn tuya_cli_list_app_json() {
    let text = serde_json::json!([{"name": "A", "id": "a", "key": K}]).to_string();
    let i = parse(Format::TuyaCli, &text).unwrap();
    assert_eq!(i.source, Source::TuyaCliList);
    assert_eq!(keys(&i), [K]);
    assert!(parse(Format::TuyaCli, "'x'")
        .unwrap_err()
        .to_string()
        .ends_with("found text"));
}

#[test]
fn size_and_encoding_are_checked_first() {
    let big = vec![b' '; MAX_INPUT + 1];
    assert!(matches!(
        parse_bytes(Format::TuyaCli, &big),
        Err(ImportError::TooLarge { .. })
    ));
    assert_eq!(
        parse_bytes(Format::Tinytuya, b"[\xff]").unwrap_err(),
        ImportError::NotText { at: 1 }
    );
}
