//! The developer OpenAPI client against the fake data centre on 127.0.0.1, which verifies
//! every signature with the secret it knows.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;
use tuya_cloud::{CloudError, OpenApi, Region};
use tuya_cloud_fake::account::{self, BLE_CHILD, DEVICES};
use tuya_cloud_fake::openapi_fake::{self, CLIENT_ID, LAPSED_MSG, SECRET};
use tuya_cloud_fake::server;

#[test]
fn lists_every_linked_users_devices_with_keys_mappings_and_children() {
    let fake = openapi_fake::start(true);
    let api = OpenApi::new(CLIENT_ID, SECRET, fake.base()).unwrap();
    let devs = api.devices(None).unwrap();
    assert_eq!(devs.len(), DEVICES.len() + 1, "the BLE child is found too");
    for d in devs.iter().filter(|d| d.id != BLE_CHILD.id) {
        let want = account::by_id(&d.id).unwrap();
        assert_eq!(d.local_key.len(), 16);
        assert_eq!(d.local_key, want.key, "{}", d.id);
        assert_eq!(d.name, want.name);
        assert_eq!(d.product_key, want.product_id);
        assert_eq!(d.category, want.category);
        assert_eq!(d.uuid, format!("uuid-{}", d.id));
        assert_eq!(d.ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(d.mapping, account::expected_mapping(want), "{}", d.id);
        assert_eq!(d.sub, want.gateway.is_some());
        assert_eq!(d.parent.as_deref(), want.gateway);
        assert_eq!(d.node_id.as_deref(), want.node_id);
        assert_eq!(d.mac, Some(account::mac_of(want)));
    }
    let lock = devs.iter().find(|d| d.id == BLE_CHILD.id).unwrap();
    assert!(lock.sub && lock.local_key.is_empty());
    assert_eq!(lock.parent.as_deref(), BLE_CHILD.gateway);
    assert_eq!(lock.node_id.as_deref(), BLE_CHILD.node_id);
    assert_eq!(lock.mapping, account::expected_mapping(&BLE_CHILD));
    let trv = devs.iter().find(|d| d.id == "ebtrv00000000001").unwrap();
    assert_eq!(
        trv.mapping["2"]["values"]["range"],
        json!(["auto", "manual"])
    );
    let bulb = devs.iter().find(|d| d.id == "ebbulb000000001").unwrap();
    assert_eq!(bulb.mapping, json!({}), "code 2009 is an empty mapping");
    // Five devices two at a time: three pages; then u1's four in two pages, u2's one.
    assert_eq!(fake.count("GET /v1.0/iot-01/associated-users/devices"), 3);
    assert_eq!(fake.count("GET /v1.3/iot-03/devices"), 3);
    assert_eq!(
        fake.count("GET /v1.0/iot-03/devices/"),
        1,
        "one gateway asked"
    );
    assert_eq!(fake.count("GET /v1.1/devices/"), 6);
    assert_eq!(fake.count("GET /v1.0/devices/factory-infos"), 1);
    let st = fake.state.lock().unwrap();
    assert_eq!(st.secret_sent, 0);
    assert_eq!(st.lapsed, 1, "the first token lapses at once");
    assert_eq!(st.tokens.len(), 2, "renewed once, then kept");
}

#[test]
fn the_wizard_path_lists_the_owner_of_one_device() {
    let fake = openapi_fake::start(true);
    let api = OpenApi::new(CLIENT_ID, SECRET, &format!("{}/", fake.base())).unwrap();
    let devs = api.devices(Some("ebplug0000000001")).unwrap();
    let ids: Vec<&str> = devs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ebplug0000000001",
            "ebgateway0000001",
            "ebtrv00000000001",
            "ebbulb000000001",
            BLE_CHILD.id,
        ]
    );
    // No gateway_id or node_id in this list: the gateway's sub-device list gives both.
    let trv = &devs[2];
    assert!(trv.sub);
    assert_eq!(trv.parent.as_deref(), Some("ebgateway0000001"));
    assert_eq!(trv.node_id.as_deref(), Some("a4c13800000000aa"));
    assert_eq!(devs[0].mapping, account::expected_mapping(&DEVICES[0]));
    let e = api.devices(Some("ebunknown")).unwrap_err();
    assert!(matches!(e, CloudError::PermissionDenied), "{e}");
    assert!(e.to_string().contains("not linked"), "{e}");
}

#[test]
fn a_wrong_secret_or_region_is_named() {
    let fake = openapi_fake::start(true);
    let wrong = "wrong-secret-0123456789abcdefXYZ";
    let e = OpenApi::new(CLIENT_ID, wrong, fake.base())
        .unwrap()
        .devices(None)
        .unwrap_err();
    assert!(matches!(e, CloudError::SignInvalid), "{e}");
    let text = e.to_string();
    assert!(text.contains("secret") && text.contains("region"), "{text}");
    assert!(!text.contains(wrong) && !format!("{e:?}").contains(wrong));
    assert!(fake.state.lock().unwrap().tokens.is_empty());

    let other_region = openapi_fake::start(false);
    let e = OpenApi::new(CLIENT_ID, SECRET, other_region.base())
        .unwrap()
        .devices(None)
        .unwrap_err();
    assert!(matches!(e, CloudError::SignInvalid), "{e}");

    let e = "moon".parse::<Region>().unwrap_err();
    assert!(e.to_string().contains("eu-w"), "{e}");
    for bad in ["", "openapi.tuyaeu.com", "ftp://127.0.0.1/"] {
        let e = OpenApi::new(CLIENT_ID, SECRET, bad).unwrap_err();
        assert!(matches!(e, CloudError::BadUrl(_)), "{bad}: {e}");
    }
}

#[test]
fn renews_the_token_once_on_1010_by_its_code() {
    assert!(!LAPSED_MSG.contains("token invalid"));
    let fake = openapi_fake::start(true);
    let api = OpenApi::new(CLIENT_ID, SECRET, fake.base()).unwrap();
    let r = api.get("/v1.0/devices/ebsensor0000002", &[]).unwrap();
    assert_eq!(r["uid"], "u2");
    api.get("/v1.0/devices/ebplug0000000001", &[]).unwrap();
    let st = fake.state.lock().unwrap();
    assert_eq!((st.lapsed, st.tokens.len()), (1, 2));
}

#[test]
fn a_token_refused_after_renewal_is_an_error_not_a_loop() {
    let tokens = Arc::new(AtomicUsize::new(0));
    let n = tokens.clone();
    let srv = server::spawn(move |req| {
        if req.path == "/v1.0/token" {
            n.fetch_add(1, Ordering::SeqCst);
            let r = json!({"success": true, "result": {"access_token": "t", "expire_time": 7200}});
            return (200, r.to_string());
        }
        (
            200,
            json!({"success": false, "code": 1011, "msg": "nope"}).to_string(),
        )
    });
    let api = OpenApi::new(CLIENT_ID, SECRET, &srv.base).unwrap();
    let e = api.devices(None).unwrap_err();
    assert!(matches!(e, CloudError::TokenInvalid { .. }), "{e}");
    assert_eq!(tokens.load(Ordering::SeqCst), 2);
}

#[test]
fn tuya_codes_become_causes() {
    for (code, want) in [
        (1013, "clock"),
        (1106, "not linked"),
        (28841105, "not subscribed"),
        (1004, "secret"),
    ] {
        let srv = server::spawn(move |_| {
            (
                200,
                json!({"success": false, "code": code, "msg": "m"}).to_string(),
            )
        });
        let e = OpenApi::new(CLIENT_ID, SECRET, &srv.base)
            .unwrap()
            .devices(None)
            .unwrap_err();
        assert!(e.to_string().contains(want), "{code}: {e}");
    }
}
