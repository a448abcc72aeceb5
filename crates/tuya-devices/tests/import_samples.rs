//! Each tool's key file, written in its exact output format (see `samples/`), imported.

use tuya_devices::{import, DevicesFile, Format, Source, Warning};
use tuya_proto::{DpId, Version};

/// Keys full of symbols, each in the quoting its tool would use for it.
const K_BACKTICK: &str = "q'w\"e<r>t&y12345";
const K_SINGLE: &str = "it's{}[]:,!?#a1b";
const K_ALL: &str = "a'b\"c`d\\e&f<g>h1";
const K_PLAIN: &str = "a1b2c3d4e5f6g7h8";
/// `ab&lt;cd&gt;ef&amp;gh&quot;ij&#39;k` in the files: HTML-escaped, decoded on import.
const K_HTML: &str = "ab<cd>ef&gh\"ij'k";
/// 16 characters as given, `&gt;` and all: a real key, kept as is.
const K_LITERAL: &str = "x&gt;y0123456789";

fn keys(i: &tuya_devices::Imported) -> Vec<(&str, &str)> {
    i.entries
        .iter()
        .map(|e| (e.id.as_str(), e.key.as_deref().unwrap_or("-")))
        .collect()
}

#[test]
fn tinytuya_devices_json() {
    let i = import::parse(
        Format::Tinytuya,
        include_str!("samples/tinytuya-devices.json"),
    )
    .unwrap();
    assert_eq!(i.source, Source::TinytuyaDevices);
    assert_eq!(
        keys(&i),
        [
            ("bf0123456789abcdefgh", K_ALL),
            ("eb0123456789gatewayx", K_HTML),
            ("a1child0000000000001", K_LITERAL)
        ]
    );
    assert_eq!(
        i.warnings,
        [Warning::KeyUnescaped {
            device: "Hub (eb0123456789gatewayx)".into()
        }]
    );
    let bulb = &i.entries[0];
    assert_eq!(bulb.name.as_deref(), Some("Küche Licht"));
    assert_eq!(bulb.ip.as_deref(), Some("192.0.2.10"));
    assert_eq!(bulb.version(), Some(Version::V33));
    assert_eq!(bulb.dp_name(DpId(22)), Some("bright_value_v2"));
    assert_eq!(bulb.mapping.as_ref().unwrap()["22"]["values"]["max"], 1000);
    assert_eq!(bulb.extra_str("product_id"), Some("keyjup78v54myhan"));
    let hub = &i.entries[1];
    assert_eq!(hub.ip, None, "\"\" is unknown");
    let door = &i.entries[2];
    assert_eq!(door.ip, None, "0.0.0.0 is unknown");
    assert_eq!(door.version, None, "\"\" is none");
    assert!(door.is_sub());
    // Imported into an empty file, the gateway link resolves.
    let mut f = DevicesFile::default();
    let r = i.merge_into(&mut f);
    assert_eq!(r.keys.added.len(), 3);
    assert_eq!(
        f.gateway_of(f.by_id("a1child0000000000001").unwrap())
            .unwrap()
            .id,
        "eb0123456789gatewayx"
    );
}

#[test]
fn tinytuya_snapshot_json() {
    let i = import::parse(
        Format::Tinytuya,
        include_str!("samples/tinytuya-snapshot.json"),
    )
    .unwrap();
    assert_eq!(i.source, Source::TinytuyaSnapshot);
    assert_eq!(
        keys(&i),
        [
            ("bf0123456789abcdefgh", K_BACKTICK),
            ("bf9999999999plugxxxx", K_SINGLE),
            ("bfcloudonly000000000", K_PLAIN)
        ]
    );
    assert!(i.warnings.is_empty(), "{:?}", i.warnings);
    assert_eq!(i.entries[0].version(), Some(Version::V35));
    // Into the devices.json the first sample makes: the key changes, the LAN's address and
    // version win, the name stays.
    let mut f = DevicesFile::default();
    import::parse(
        Format::Tinytuya,
        include_str!("samples/tinytuya-devices.json"),
    )
    .unwrap()
    .merge_into(&mut f);
    f.by_id_mut("bf0123456789abcdefgh").unwrap().name = Some("Kitchen".into());
    let r = i.merge_into(&mut f);
    assert_eq!(r.keys.rekeyed, ["bf0123456789abcdefgh"]);
    assert_eq!(
        r.keys.added,
        ["bf9999999999plugxxxx", "bfcloudonly000000000"]
    );
    assert_eq!(r.addressed, ["bf0123456789abcdefgh"]);
    let bulb = f.by_id("bf0123456789abcdefgh").unwrap();
    assert_eq!(bulb.name.as_deref(), Some("Kitchen"));
    assert_eq!(bulb.key.as_deref(), Some(K_BACKTICK));
    assert_eq!(bulb.ip.as_deref(), Some("192.0.2.20"));
    assert_eq!(bulb.version(), Some(Version::V35));
    assert_eq!(
        bulb.dp_name(DpId(20)),
        Some("switch_led"),
        "the mapping is kept"
    );
    assert_eq!(f.by_id("bfcloudonly000000000").unwrap().ip, None);
}

#[test]
fn tinytuya_raw_json() {
    let i = import::parse(Format::Tinytuya, include_str!("samples/tuya-raw.json")).unwrap();
    assert_eq!(i.source, Source::TinytuyaRaw);
    assert_eq!(
        keys(&i),
        [
            ("bf0123456789abcdefgh", K_ALL),
            ("a1child0000000000001", K_HTML)
        ]
    );
    let bulb = &i.entries[0];
    assert_eq!(bulb.ip, None, "the cloud's address is the public one");
    assert_eq!(bulb.extra_str("product_key"), Some("keyjup78v54myhan"));
    for private in ["lat", "lon", "owner_id", "uid", "status", "ip"] {
        assert!(!bulb.extra.contains_key(private), "{private}");
    }
    let door = &i.entries[1];
    assert_eq!(door.parent.as_deref(), Some("eb0123456789gatewayx"));
    assert_eq!(door.node_id.as_deref(), Some("a4c1380000000001"));
    assert!(door.is_sub());
}

#[test]
fn tuya_cli_wizard_output() {
    let i = import::parse(Format::TuyaCli, include_str!("samples/tuya-cli-wizard.txt")).unwrap();
    assert_eq!(i.source, Source::TuyaCliWizard);
    assert_eq!(
        keys(&i),
        [
            ("0120015260091453a970", K_PLAIN),
            ("bf3a00000000000000aa", K_BACKTICK),
            ("bf3a00000000000000bb", K_SINGLE),
            ("bf3a00000000000000cc", K_ALL),
            ("bf3a00000000000000dd", K_HTML)
        ]
    );
    assert_eq!(i.entries[1].name.as_deref(), Some("It's mine"));
    assert_eq!(i.entries[2].name.as_deref(), Some("Küche"));
    assert_eq!(i.entries[4].name.as_deref(), Some("Tab\tand escapes AB"));
    assert_eq!(
        i.warnings,
        [Warning::KeyUnescaped {
            device: "Tab\tand escapes AB (bf3a00000000000000dd)".into()
        }]
    );
}

#[test]
fn tuya_cli_list_app_output() {
    let i = import::parse(
        Format::TuyaCli,
        include_str!("samples/tuya-cli-list-app.json"),
    )
    .unwrap();
    assert_eq!(i.source, Source::TuyaCliList);
    assert_eq!(
        keys(&i),
        [
            ("0120015260091453a970", K_BACKTICK),
            ("bf3a00000000000000aa", K_HTML),
            ("bf3a00000000000000bb", "tooshort!")
        ]
    );
    assert_eq!(
        i.warnings,
        [
            Warning::KeyUnescaped {
                device: "It's mine (bf3a00000000000000aa)".into()
            },
            Warning::KeyLength {
                device: "Old plug (bf3a00000000000000bb)".into(),
                len: 9
            }
        ]
    );
    assert!(!i.warnings[1].to_string().contains("tooshort"));
}
