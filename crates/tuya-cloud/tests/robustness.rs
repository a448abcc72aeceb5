//! Replies no real server should send, caps, and secrets kept out of every `Debug` and error.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;
use tuya_cloud::login::CLIENT_ID as APP_ID;
use tuya_cloud::{CloudError, OpenApi, Poll, QrLogin, Session, Sharing};
use tuya_cloud_fake::account::DEVICES;
use tuya_cloud_fake::app_fake::{self, FIRST_ACCESS, FIRST_REFRESH, USER_CODE};
use tuya_cloud_fake::openapi_fake::{self, CLIENT_ID, SECRET};
use tuya_cloud_fake::server;

const BODIES: &[&str] = &[
    "",
    "not json",
    "[]",
    "null",
    "{}",
    "{\"success\":true}",
    "{\"success\":true,\"result\":null}",
    "{\"success\":true,\"result\":\"garbage\"}",
    "{\"success\":true,\"result\":\"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\"}",
    "{\"success\":true,\"result\":[1,{\"id\":[]}]}",
    "{\"success\":true,\"result\":{\"devices\":\"x\",\"has_more\":true}}",
    "{\"success\":true,\"result\":{\"list\":[{\"id\":7}],\"has_more\":true,\"last_row_key\":7}}",
    "{\"success\":true,\"result\":{\"uid\":{},\"qrcode\":[],\"access_token\":5}}",
    "{\"success\":true,\"result\":{\"status\":[{\"dp_id\":{},\"code\":1}],\"functions\":7}}",
    "{\"success\":\"yes\",\"code\":{\"a\":1}}",
    "{\"success\":false}",
    "{\"success\":false,\"code\":null,\"msg\":[]}",
];

fn session(endpoint: &str) -> Session {
    Session {
        uid: "u".into(),
        username: "n".into(),
        access_token: FIRST_ACCESS.into(),
        refresh_token: FIRST_REFRESH.into(),
        expire_time: 7200,
        t: server::now_ms(),
        terminal_id: "t".into(),
        endpoint: endpoint.into(),
    }
}

/// Every client call against a server answering `body` (a valid token first, for the
/// OpenAPI, so that the listing's own replies are the malformed ones).
fn run_all(body: &'static str, status: u16) -> Vec<String> {
    let srv = server::spawn(move |req| {
        if req.path == "/v1.0/token" {
            let r = json!({"success": true, "result": {"access_token": "t", "expire_time": 7200}});
            return (200, r.to_string());
        }
        (status, body.to_string())
    });
    let api = OpenApi::new(CLIENT_ID, SECRET, &srv.base).unwrap();
    let mut out = vec![
        format!("{:?}", api.devices(None)),
        format!("{:?}", api.devices(Some("ebplug0000000001"))),
        format!("{:?}", api.mapping("x")),
        format!("{:?}", QrLogin::start_at(&srv.base, APP_ID, USER_CODE)),
    ];
    let sharing = Sharing::new(session(&srv.base), APP_ID).unwrap();
    out.push(format!("{:?}", sharing.devices()));
    out
}

#[test]
fn malformed_replies_are_errors_not_panics() {
    for body in BODIES {
        for status in [200, 500] {
            let r = run_all(body, status);
            assert!(r.iter().all(|x| !x.contains(SECRET)), "{body}: {r:?}");
        }
    }
    // A token reply without a token.
    let srv = server::spawn(|_| (200, "{\"success\":true,\"result\":{}}".into()));
    let e = OpenApi::new(CLIENT_ID, SECRET, &srv.base)
        .unwrap()
        .devices(None)
        .unwrap_err();
    assert!(matches!(e, CloudError::Malformed(_)), "{e}");
    // An HTML error page.
    let srv = server::spawn(|_| (502, "<html>bad gateway</html>".into()));
    let e = QrLogin::start_at(&srv.base, APP_ID, USER_CODE).unwrap_err();
    assert!(matches!(e, CloudError::Http { status: 502, .. }), "{e}");
}

#[test]
fn replies_and_paging_are_capped() {
    let big = "x".repeat(17 * 1024 * 1024);
    let srv = server::spawn(move |_| (200, big.clone()));
    let e = QrLogin::start_at(&srv.base, APP_ID, USER_CODE).unwrap_err();
    assert!(matches!(e, CloudError::TooLarge { .. }), "{e}");

    let pages = Arc::new(AtomicUsize::new(0));
    let n = pages.clone();
    let srv = server::spawn(move |req| {
        if req.path == "/v1.0/token" {
            let r = json!({"success": true, "result": {"access_token": "t", "expire_time": 7200}});
            return (200, r.to_string());
        }
        let k = n.fetch_add(1, Ordering::SeqCst);
        let r = json!({"success": true, "result": {"devices": [], "has_more": true,
            "last_row_key": format!("k{k}")}});
        (200, r.to_string())
    });
    let e = OpenApi::new(CLIENT_ID, SECRET, &srv.base)
        .unwrap()
        .devices(None)
        .unwrap_err();
    assert!(matches!(e, CloudError::TooManyPages { limit: 1000 }), "{e}");
    assert_eq!(pages.load(Ordering::SeqCst), 1000);
}

#[test]
fn no_key_secret_or_token_in_any_debug_or_error() {
    let mut texts = Vec::new();
    let fake = openapi_fake::start(true);
    let api = OpenApi::new(CLIENT_ID, SECRET, fake.base()).unwrap();
    let devs = api.devices(None).unwrap();
    texts.push(format!("{api:?} {devs:?}"));
    let tokens = fake.state.lock().unwrap().tokens.clone();
    let e = OpenApi::new(CLIENT_ID, "bad", fake.base())
        .unwrap()
        .devices(None)
        .unwrap_err();
    texts.push(format!("{e} {e:?}"));

    let app = app_fake::start();
    let login = QrLogin::start_at(app.base(), APP_ID, USER_CODE).unwrap();
    texts.push(format!("{login:?}"));
    let session = loop {
        if let Poll::Done(s) = login.poll().unwrap() {
            break s;
        }
    };
    let t = server::now_ms() - 7200 * 1000;
    let sharing = Sharing::new(
        Session {
            t,
            ..session.clone()
        },
        APP_ID,
    )
    .unwrap();
    let devs = sharing.devices().unwrap();
    let new = sharing.session();
    texts.push(format!("{session:?} {sharing:?} {devs:?} {new:?}"));
    let broken = Sharing::new(
        Session {
            refresh_token: "other".into(),
            ..new.clone()
        },
        APP_ID,
    )
    .unwrap()
    .devices()
    .unwrap_err();
    texts.push(format!("{broken} {broken:?}"));

    let mut secrets: Vec<String> = vec![
        SECRET.into(),
        session.access_token,
        session.refresh_token,
        new.access_token,
        new.refresh_token,
        "AZqrTOKEN".into(),
    ];
    secrets.extend(tokens);
    secrets.extend(DEVICES.iter().map(|d| d.key.to_string()));
    // As `Debug` would escape them too.
    secrets.extend(
        DEVICES
            .iter()
            .map(|d| format!("{:?}", d.key).trim_matches('"').to_string()),
    );
    for text in &texts {
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{s:?} in {text}");
        }
    }
}
