//! The stored login, whichever it is, lists the account against the fakes; an app session
//! refreshed on the way is stored back.

use tuya_cloud::login::CLIENT_ID as APP_ID;
use tuya_cloud::store::{AppLogin, CloudConfig, Developer, Method};
use tuya_cloud::{fetch_devices, AccountError, Region, Store, StoreError};
use tuya_cloud_fake::account::DEVICES;
use tuya_cloud_fake::app_fake::{self, FIRST_REFRESH, USER_CODE};
use tuya_cloud_fake::openapi_fake::{self, CLIENT_ID, SECRET};

fn store(name: &str) -> Store {
    let d = std::env::temp_dir().join(format!("tuya-cloud-account-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    Store::at(d)
}

#[test]
fn nothing_stored_says_how_to_log_in() {
    let s = store("none");
    let e = fetch_devices(&s, None).unwrap_err();
    assert!(
        matches!(e, AccountError::Store(StoreError::NotConfigured { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("tuyactl cloud login"), "{e}");
}

#[test]
fn a_developer_project_lists_through_the_endpoint_override() {
    let fake = openapi_fake::start(true);
    let s = store("dev");
    let cfg = CloudConfig {
        method: Some(Method::Developer),
        app: None,
        developer: Some(Developer {
            client_id: CLIENT_ID.into(),
            secret: SECRET.into(),
            region: Region::Eu,
            endpoint: None,
            device_id: None,
        }),
    };
    s.save(&cfg).unwrap();
    let (m, devs) = fetch_devices(&s, Some(fake.base())).unwrap();
    assert_eq!(m, Method::Developer);
    assert_eq!(devs.len(), DEVICES.len() + 1);
    assert_eq!(s.load().unwrap(), cfg, "nothing to store back");
    let _ = std::fs::remove_dir_all(s.dir());
}

#[test]
fn an_app_session_refreshed_on_the_way_is_stored_back() {
    let fake = app_fake::start();
    let s = store("app");
    // Issued three hours ago with a two-hour lifetime: it must be refreshed before use.
    let t = tuya_cloud_fake::server::now_ms() - 3 * 3600 * 1000;
    let session = app_fake::session_at(fake.base(), t);
    let cfg = CloudConfig {
        method: Some(Method::App),
        app: Some(AppLogin {
            client_id: APP_ID.into(),
            user_code: USER_CODE.into(),
            session,
        }),
        developer: None,
    };
    s.save(&cfg).unwrap();
    let (m, devs) = fetch_devices(&s, None).unwrap();
    assert_eq!(m, Method::App);
    assert_eq!(devs.len(), DEVICES.len());
    let kept = s.load().unwrap().app.unwrap().session;
    assert_ne!(kept.refresh_token, FIRST_REFRESH, "the new tokens are kept");
    assert_eq!(kept.refresh_token, fake.state.lock().unwrap().refresh);
    assert!(kept.t > t);
    assert_eq!(kept.endpoint, fake.base());
    // The stored tokens work without another refresh.
    let refreshes = fake.state.lock().unwrap().refreshes;
    fetch_devices(&s, None).unwrap();
    assert_eq!(fake.state.lock().unwrap().refreshes, refreshes);
    let _ = std::fs::remove_dir_all(s.dir());
}
