//! Seeds made of text files: devices.json and the other tools' key files, bridge.toml, and
//! the cloud's replies and stored logins.

use std::path::Path;

use serde_json::{json, Value};
use tuya_cloud::sharing::RequestKey;
use tuya_fuzz::REQUEST_KEYS;

use super::{add, Corpus};

/// tuya-devices' sample files, and the shapes its tests single out.
pub fn devices(root: &Path) -> std::io::Result<Corpus> {
    let mut c = Corpus::new();
    let dir = root.join("crates/tuya-devices/tests/samples");
    let mut names: Vec<_> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for n in names {
        let n = n.to_string_lossy().into_owned();
        add(&mut c, &format!("sample {n}"), std::fs::read(dir.join(&n))?);
    }
    let texts = [
        (
            "gateway with children and mapping",
            r#"[{"name":"Lamp","id":"bf01","key":"0123456789abcdef","ip":"127.0.0.1","version":"3.3",
  "mapping":{"1":{"code":"switch_led","type":"Boolean"},"3":{"code":"bright_value"}},"icon":"x.png"},
 {"name":"Hub","id":"gw1","key":"0123456789abcdef","ip":"127.0.0.2","version":3.4,"port":7000},
 {"name":"Sensor","id":"sub1","sub":true,"parent":"gw1","node_id":"cid1"}]"#,
        ),
        (
            "gateway chain cycle self and missing",
            r#"[{"id":"a","sub":true,"parent":"b","node_id":"1"},
 {"id":"b","sub":true,"parent":"a","node_id":"2"},
 {"id":"c","sub":true,"parent":"c","node_id":"3"},
 {"id":"d","sub":true,"parent":"zz","node_id":"4"}]"#,
        ),
        (
            "snapshot with ver",
            r#"{"timestamp": 1700000000, "devices": [{"id":"a","ip":"127.0.0.9","ver":"3.3","origin":"broadcast"}]}"#,
        ),
        (
            "odd values",
            r#"[{"id":"x","key":"k3y!<&>xk3y!<&>x","ip":"0.0.0.0","version":3.25,"port":70000,
  "mapping":{"x":{},"2":{"code":7}},"sub":false,"last_ip":"::1"}, {"id":"","name":"no id"}]"#,
        ),
        ("not a list", r#"{"x": []}"#),
    ];
    for (n, t) in texts {
        add(&mut c, n, t.as_bytes().to_vec());
    }
    Ok(c)
}

/// bridge.toml: the example documented in tuya-bridge's config.rs, and what the bridge's
/// tests configure.
pub fn bridge(root: &Path) -> std::io::Result<Corpus> {
    let mut c = Corpus::new();
    let doc = std::fs::read_to_string(root.join("crates/tuya-bridge/src/config.rs"))?;
    let example: String = doc
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .skip_while(|l| l.trim() != "```toml")
        .skip(1)
        .take_while(|l| l.trim() != "```")
        .map(|l| format!("{}\n", l.strip_prefix(' ').unwrap_or(l)))
        .collect();
    assert!(example.contains("mqtt ="), "the documented example moved");
    add(&mut c, "documented example", example.into_bytes());
    let texts = [
        (
            "every field",
            r#"mqtt = "mqtts://me:pw@[::1]:8883/"
devices = "/tmp/devices.json"
prefix = "home/tuya"
instance = "b"
shard = "2/3"
discovery_prefix = ""
command_timeout_secs = 0
ca_file = "ca.pem"
announcements = false
refresh_keys = true
cloud_config_dir = "/tmp/cloud"
http = "127.0.0.1:8080"
http_token = "t0ken-t0ken"

[device.bf0123456789abcdefgh.dps."1"]
ignore = true
[device.bf0123456789abcdefgh.dps."2"]
component = "number"
name = "Target"
device_class = "temperature"
scale = 4294967295
[device."Lamp".dps."22"]
component = "light"
"#,
        ),
        (
            "web page alone",
            "http = \"0.0.0.0:8080\"\nhttp_token = \"x\"\n",
        ),
        ("unknown field", "mqt = \"x\"\n"),
        ("bad shard", "mqtt = \"mqtt://h\"\nshard = \"3/2\"\n"),
    ];
    for (n, t) in texts {
        add(&mut c, n, t.as_bytes().to_vec());
    }
    Ok(c)
}

/// Cloud replies as the clients receive them (sealed ones from the sharing vectors), the
/// records they become, the stored login, and tinytuya's raw reply.
pub fn cloud(root: &Path) -> std::io::Result<Corpus> {
    let mut c = Corpus::new();
    let path = root.join("crates/tuya-cloud/tests/vectors/sharing-sdk-0.2.15.json");
    let vectors: Value = serde_json::from_slice(&std::fs::read(path)?)?;
    for (i, v) in vectors.as_array().into_iter().flatten().enumerate() {
        let sealed = v["encrypted_reply"].as_str().unwrap_or_default();
        let (rid, refresh) = REQUEST_KEYS[i % REQUEST_KEYS.len()];
        assert_eq!(
            (v["rid"].as_str(), v["refresh_token"].as_str()),
            (Some(rid), Some(refresh)),
            "REQUEST_KEYS follows the vectors"
        );
        let plain = RequestKey::derive(rid, refresh)
            .open(sealed)
            .expect("a vector opens");
        assert_eq!(Some(&*plain), v["plain_reply"].as_str());
        let reply = json!({"success": true, "result": sealed, "t": 1_700_000_000_000u64});
        add(
            &mut c,
            &format!("sealed reply {i}"),
            reply.to_string().into_bytes(),
        );
    }
    let device = json!({"id": "bf01", "name": "Lamp", "local_key": "k3y!<&>xk3y!<&>x",
        "product_key": "pk", "product_name": "Bulb", "category": "dj", "model": "", "uuid": "u",
        "mac": "10:5a:17:00:00:01", "ip": "203.0.113.7", "sub": false, "parent": null,
        "node_id": null, "mapping": {"1": {"code": "switch_led", "type": "Boolean", "values": {}}}});
    let child = json!({"id": "c1", "name": "", "local_key": "", "product_key": "", "product_name": "",
        "category": "wsdcg", "model": "", "uuid": "", "mac": null, "ip": null, "sub": true,
        "parent": "bf01", "node_id": "a4c138", "mapping": {}});
    let session = json!({"uid": "ay17", "username": "me", "access_token": "AT-0123456789",
        "refresh_token": "RT-0123456789", "expire_time": 7200, "t": 1_700_000_000_000u64,
        "terminal_id": "term", "endpoint": "https://apigw.tuyaeu.com"});
    let texts = [
        ("cloud device", device.clone()),
        (
            "account devices",
            json!([device, child, {"id": "bf01", "name": "again", "local_key": "other",
            "product_key": "", "product_name": "", "category": "", "model": "", "uuid": "", "mac": null,
            "ip": null, "sub": false, "parent": null, "node_id": null, "mapping": null}]),
        ),
        ("session", session.clone()),
        (
            "stored app login",
            json!({"use": "app", "app": {"client_id": "HA_3y9q4ak7g4ephrvke",
            "user_code": "uc-123456", "session": session}}),
        ),
        (
            "stored developer login",
            json!({"use": "developer", "developer": {"client_id": "id",
            "secret": "s3cr3t-s3cr3t", "region": "eu", "endpoint": "http://127.0.0.1:1/", "device_id": "bf01"}}),
        ),
        (
            "qr token",
            json!({"success": true, "result": {"qrcode": "TOK"}}),
        ),
        (
            "qr expired",
            json!({"success": false, "code": "E0020002", "msg": "QR code has expired"}),
        ),
        (
            "token invalid",
            json!({"success": false, "code": 1010, "msg": "token invalid"}),
        ),
        (
            "permission deny",
            json!({"success": false, "code": 1106, "msg": "permission deny"}),
        ),
        (
            "openapi token",
            json!({"success": true, "result": {"uid": "u", "access_token": "a",
            "expire_time": 7200, "refresh_token": "r"}, "t": 1}),
        ),
        (
            "openapi device list page",
            json!({"success": true, "result": {"devices": [{"id": "bf01",
            "uid": "u", "local_key": "k", "gateway_id": "", "sub": "0"}], "has_more": true,
            "last_row_key": "X", "total": 2}}),
        ),
        (
            "openapi specifications",
            json!({"success": true, "result": {"category": "cz", "functions": [
            {"code": "switch_1", "dp_id": 1, "type": "Boolean", "values": "{}"}],
            "status": [{"code": "cur_power", "dpId": 19, "type": "Integer",
            "values": "{\"unit\":\"W\",\"scale\":1}"}]}}),
        ),
        (
            "app status mapping",
            json!({"productKey": "pk", "dpStatusRelationDTOS": [{"dpId": 1,
            "statusCode": "switch_led", "valueType": "Boolean", "valueDesc": "{}"}]}),
        ),
    ];
    for (n, v) in texts {
        add(&mut c, n, serde_json::to_vec_pretty(&v)?);
    }
    let raw = root.join("crates/tuya-devices/tests/samples/tuya-raw.json");
    add(&mut c, "tinytuya raw reply", std::fs::read(raw)?);
    Ok(c)
}
