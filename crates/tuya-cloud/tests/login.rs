//! The QR login and the app-login API client against the fake on 127.0.0.1, which derives
//! each request's key itself, checks X-sign and opens the sealed data.

use serde_json::json;
use tuya_cloud::login::CLIENT_ID;
use tuya_cloud::{CloudError, Poll, QrLogin, Session, Sharing};
use tuya_cloud_fake::account::{self, DEVICES};
use tuya_cloud_fake::app_fake::{
    self, FIRST_ACCESS, FIRST_REFRESH, LATE_USER_CODE, QR_TOKEN, USER_CODE,
};
use tuya_cloud_fake::server;

use tuya_cloud_fake::app_fake::session_at;

#[test]
fn qr_login_then_every_homes_devices_through_sealed_requests() {
    let fake = app_fake::start();
    let login = QrLogin::start_at(fake.base(), CLIENT_ID, USER_CODE).unwrap();
    assert_eq!(
        login.qr_text(),
        format!("tuyaSmart--qrLogin?token={QR_TOKEN}")
    );
    assert_eq!(login.poll().unwrap(), Poll::Pending);
    assert_eq!(login.poll().unwrap(), Poll::Pending);
    let Poll::Done(session) = login.poll().unwrap() else {
        panic!("not logged in")
    };
    assert_eq!(session.endpoint, fake.base(), "kept exactly as given");
    assert_eq!(
        (
            session.access_token.as_str(),
            session.refresh_token.as_str()
        ),
        (FIRST_ACCESS, FIRST_REFRESH)
    );
    assert_eq!(session.expire_time, 7200);
    assert!(session.t.abs_diff(server::now_ms()) < 60_000);

    let sharing = Sharing::new(session.clone(), CLIENT_ID).unwrap();
    let devs = sharing.devices().unwrap();
    assert_eq!(devs.len(), DEVICES.len());
    for d in &devs {
        let want = account::by_id(&d.id).unwrap();
        assert_eq!(d.local_key, want.key, "{}", d.id);
        assert_eq!(d.product_key, want.product_id);
        assert_eq!(d.mapping, account::expected_mapping(want), "{}", d.id);
        assert_eq!(d.sub, want.gateway.is_some());
        // The app's list has no gateway id: the parent is the device sharing the key.
        assert_eq!(d.parent.as_deref(), want.gateway, "{}", d.id);
        assert_eq!(d.node_id.as_deref(), want.node_id, "{}", d.id);
    }
    assert!(!sharing.refreshed());
    assert_eq!(sharing.session(), session);
    let st = fake.state.lock().unwrap();
    assert_eq!(st.refused, 0);
    // Homes, two homes' device lists, five statuses.
    assert_eq!(st.verified, 1 + 2 + DEVICES.len());
    let homes: Vec<_> = st
        .params
        .iter()
        .filter(|(p, _)| p == "/v1.0/m/life/ha/home/devices")
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(
        homes,
        [json!({"homeId": "1001"}), json!({"homeId": "1002"})]
    );
}

#[test]
fn an_expired_qr_code_is_reported() {
    let fake = app_fake::start();
    let login = QrLogin::start_at(fake.base(), CLIENT_ID, LATE_USER_CODE).unwrap();
    assert_eq!(login.poll().unwrap(), Poll::Expired);
    let e = QrLogin::start_at(fake.base(), CLIENT_ID, "uc-unknown").unwrap_err();
    assert_eq!(e.api_code(), Some("USER_CODE_INVALID"), "{e}");
    assert!(CloudError::from_code("E0020002", "")
        .to_string()
        .contains("QR code expired"));
}

#[test]
fn an_expiring_session_is_refreshed_first_and_handed_back() {
    let fake = app_fake::start();
    // Thirty seconds left.
    let t = server::now_ms() - 7200 * 1000 + 30_000;
    let sharing = Sharing::new(session_at(fake.base(), t), CLIENT_ID).unwrap();
    let devs = sharing.devices().unwrap();
    assert_eq!(devs.len(), DEVICES.len());
    assert!(sharing.refreshed());
    let new = sharing.session();
    let st = fake.state.lock().unwrap();
    assert_eq!((st.refreshes, st.refused), (1, 0));
    assert_eq!(new.access_token, st.access);
    assert_eq!(new.refresh_token, st.refresh);
    assert_ne!(new.refresh_token, FIRST_REFRESH);
    assert!(!new.needs_refresh(server::now_ms()));
    assert_eq!(new.endpoint, fake.base());
}

#[test]
fn a_session_stored_and_read_back_is_the_same() {
    let s = session_at("https://apigw.tuyaeu.com", 1_700_000_000_000);
    let text = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<Session>(&text).unwrap(), s);
    let d = format!("{s:?}");
    assert!(
        !d.contains(FIRST_ACCESS) && !d.contains(FIRST_REFRESH),
        "{d}"
    );
}

#[test]
fn plain_http_to_another_host_is_refused_before_any_request() {
    // 192.0.2.1 is reserved for documentation: nothing is ever sent there.
    let e = QrLogin::start_at("http://192.0.2.1", CLIENT_ID, USER_CODE).unwrap_err();
    assert!(matches!(e, CloudError::InsecureUrl { .. }), "{e}");
    let e = Sharing::new(session_at("http://192.0.2.1:8080", 0), CLIENT_ID).unwrap_err();
    assert!(e.to_string().contains("loopback"), "{e}");
}
