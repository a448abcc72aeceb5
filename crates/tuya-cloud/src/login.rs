//! The app account's QR login (no developer project needed) and the client of the app-login
//! API it opens: the session, its token refresh, and the device listing.
//!
//! The flow: [`QrLogin::start`] with the user code from the app (Me → ⚙ → Account and
//! Security), show [`QrLogin::qr_text`] as a QR code, have the app scan it, [`QrLogin::poll`]
//! until [`Poll::Done`], then [`Sharing::new`] with the [`Session`] and
//! [`Sharing::devices`].

use std::sync::Mutex;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{code_text, CloudError};
use crate::http::{self, encode, query_string, Http};
use crate::model::{self, text, CloudDevice};
use crate::sharing::RequestKey;

/// The app client id Home Assistant's Tuya integration logs in as.
pub const CLIENT_ID: &str = "HA_3y9q4ak7g4ephrvke";
/// The QR login's schema.
pub const SCHEMA: &str = "haauthorize";
/// The QR login's host.
pub const LOGIN_ENDPOINT: &str = "https://apigw.iotbing.com";
/// A session with less than this left (ms) is refreshed before use.
pub const REFRESH_BEFORE_MS: u64 = 60_000;

/// A logged-in app session. Store it only where only its owner can read it (mode 0600): it
/// gives access to the account's devices.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user id.
    pub uid: String,
    /// The account's user name.
    pub username: String,
    /// The access token (secret).
    pub access_token: String,
    /// The refresh token (secret; also the root of every request key).
    pub refresh_token: String,
    /// The access token's lifetime in seconds, from `t`.
    pub expire_time: u64,
    /// When the token was issued, ms since the Unix epoch.
    pub t: u64,
    /// The terminal id.
    pub terminal_id: String,
    /// The account's API base URL (e.g. `https://apigw.tuyaeu.com`), exactly as given.
    pub endpoint: String,
}

impl Session {
    /// When the access token expires, ms since the Unix epoch.
    pub fn expires_at_ms(&self) -> u64 {
        self.t.saturating_add(self.expire_time.saturating_mul(1000))
    }

    /// Whether the token has under a minute left at `now_ms`.
    pub fn needs_refresh(&self, now_ms: u64) -> bool {
        self.expires_at_ms().saturating_sub(REFRESH_BEFORE_MS) <= now_ms
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("uid", &self.uid)
            .field("username", &self.username)
            .field("access_token", &"****")
            .field("refresh_token", &"****")
            .field("expire_time", &self.expire_time)
            .field("t", &self.t)
            .field("terminal_id", &self.terminal_id)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// What a poll of the QR login found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Not scanned (or not confirmed) yet: poll again in a few seconds.
    Pending,
    /// Logged in.
    Done(Session),
    /// The QR code expired: start again.
    Expired,
}

/// A QR login in progress.
pub struct QrLogin {
    base: String,
    client_id: String,
    user_code: String,
    token: String,
    http: Http,
}

impl std::fmt::Debug for QrLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QrLogin")
            .field("endpoint", &self.base)
            .field("client_id", &self.client_id)
            .field("token", &"****")
            .finish()
    }
}

/// A reply's error, or `Ok` for `success: true`.
fn check_success(reply: &Value) -> Result<(), CloudError> {
    if reply.get("success").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    match reply.get("code") {
        Some(c) => Err(CloudError::from_code(
            &code_text(c),
            &text(reply, &["msg"]).unwrap_or_default(),
        )),
        None => Err(CloudError::Malformed(
            "a reply with neither success nor an error code".into(),
        )),
    }
}

fn required(v: &Value, name: &str) -> Result<String, CloudError> {
    text(v, &[name])
        .filter(|s| !s.is_empty())
        .ok_or_else(|| CloudError::Malformed(format!("the login result has no {name}")))
}

impl QrLogin {
    /// Starts a login for the app account with `user_code` at Tuya's login host, as Home
    /// Assistant's client.
    pub fn start(user_code: &str) -> Result<Self, CloudError> {
        Self::start_at(LOGIN_ENDPOINT, CLIENT_ID, user_code)
    }

    /// Starts a login at another base URL or as another app client.
    pub fn start_at(endpoint: &str, client_id: &str, user_code: &str) -> Result<Self, CloudError> {
        let base = http::base_url(endpoint)?;
        let http = Http::new();
        let q = query_string(&[
            ("clientid", client_id),
            ("usercode", user_code),
            ("schema", SCHEMA),
        ]);
        let url = format!("{base}/v1.0/m/life/home-assistant/qrcode/tokens{q}");
        let reply = http.send("POST", &url, &[], Some("{}"))?;
        check_success(&reply)?;
        let token = reply
            .get("result")
            .and_then(|r| text(r, &["qrcode"]))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CloudError::Malformed("the QR reply has no qrcode".into()))?;
        Ok(Self {
            base,
            client_id: client_id.into(),
            user_code: user_code.into(),
            token,
            http,
        })
    }

    /// The text to show as a QR code for the app to scan.
    pub fn qr_text(&self) -> String {
        format!("tuyaSmart--qrLogin?token={}", self.token)
    }

    /// Asks whether the code was scanned. The code lives a few minutes: stop polling then.
    pub fn poll(&self) -> Result<Poll, CloudError> {
        let q = query_string(&[("clientid", &self.client_id), ("usercode", &self.user_code)]);
        let url = format!(
            "{}/v1.0/m/life/home-assistant/qrcode/tokens/{}{q}",
            self.base,
            encode(&self.token)
        );
        let reply = self.http.send("GET", &url, &[], None)?;
        match check_success(&reply) {
            Err(CloudError::QrExpired) => return Ok(Poll::Expired),
            // Other codes before the scan ("not yet") mean pending; the known causes not.
            Err(CloudError::Api { .. }) => return Ok(Poll::Pending),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        let r = match reply.get("result") {
            Some(r @ Value::Object(_)) if r.get("access_token").is_some() => r,
            Some(Value::Object(_)) | Some(Value::Null) | None => return Ok(Poll::Pending),
            Some(_) => {
                return Err(CloudError::Malformed(
                    "the login result is not an object".into(),
                ))
            }
        };
        let t = reply
            .get("t")
            .and_then(Value::as_u64)
            .unwrap_or_else(http::now_ms);
        Ok(Poll::Done(Session {
            uid: text(r, &["uid"]).unwrap_or_default(),
            username: text(r, &["username"]).unwrap_or_default(),
            access_token: required(r, "access_token")?,
            refresh_token: required(r, "refresh_token")?,
            expire_time: r.get("expire_time").and_then(Value::as_u64).unwrap_or(0),
            t,
            terminal_id: text(r, &["terminal_id"]).unwrap_or_default(),
            endpoint: required(r, "endpoint")?,
        }))
    }
}

/// A random (version 4) UUID, as text.
fn uuid4() -> String {
    let mut b: [u8; 16] = rand::thread_rng().gen();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A client of the app-login API, for one [`Session`].
pub struct Sharing {
    client_id: String,
    session: Mutex<Session>,
    refreshed: Mutex<bool>,
    http: Http,
}

impl std::fmt::Debug for Sharing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sharing")
            .field("client_id", &self.client_id)
            .field(
                "session",
                &*self.session.lock().unwrap_or_else(|p| p.into_inner()),
            )
            .finish()
    }
}

/// A reply's result and its `t`.
struct Reply {
    result: Value,
    t: Option<u64>,
}

impl Sharing {
    /// A client for `session` as the app client `client_id` (the one that logged in,
    /// usually [`CLIENT_ID`]). The session's endpoint must be `https://` (or loopback).
    pub fn new(session: Session, client_id: &str) -> Result<Self, CloudError> {
        http::check_url(&session.endpoint)?;
        Ok(Self {
            client_id: client_id.into(),
            session: Mutex::new(session),
            refreshed: Mutex::new(false),
            http: Http::new(),
        })
    }

    /// The session now: after a refresh, the new tokens, to store in place of the old.
    pub fn session(&self) -> Session {
        self.session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether the session was refreshed since [`Sharing::new`] (so it should be stored).
    pub fn refreshed(&self) -> bool {
        *self.refreshed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One signed, sealed request with the session `s`.
    fn request(
        &self,
        s: &Session,
        method: &str,
        path: &str,
        params: Option<&Map<String, Value>>,
        body: Option<&Map<String, Value>>,
    ) -> Result<Reply, CloudError> {
        let rid = uuid4();
        let key = RequestKey::derive(&rid, &s.refresh_token);
        let seal = |m: Option<&Map<String, Value>>| match m {
            Some(m) if !m.is_empty() => key.seal(&Value::Object(m.clone()).to_string()),
            _ => String::new(),
        };
        let (query_sealed, body_sealed) = (seal(params), seal(body));
        let t = http::now_ms().to_string();
        let mut headers: Vec<(&str, &str)> = vec![
            ("X-appKey", &self.client_id),
            ("X-requestId", &rid),
            ("X-sid", ""),
            ("X-time", &t),
        ];
        if !s.access_token.is_empty() {
            headers.push(("X-token", &s.access_token));
        }
        let sign = key.x_sign(&headers, &query_sealed, &body_sealed);
        headers.push(("X-sign", &sign));
        let mut url = format!("{}{path}", s.endpoint.trim_end_matches('/'));
        if !query_sealed.is_empty() {
            url.push_str(&query_string(&[("encdata", &query_sealed)]));
        }
        let body_text = (!body_sealed.is_empty())
            .then(|| serde_json::json!({ "encdata": body_sealed }).to_string());
        let reply = self
            .http
            .send(method, &url, &headers, body_text.as_deref())?;
        check_success(&reply)?;
        let result = match reply.get("result") {
            Some(Value::String(sealed)) => {
                let plain = key.open(sealed)?;
                serde_json::from_str(&plain).unwrap_or(Value::String(plain))
            }
            Some(other) => other.clone(),
            None => Value::Null,
        };
        Ok(Reply {
            result,
            t: reply.get("t").and_then(Value::as_u64),
        })
    }

    /// Refreshes the tokens now (the request key comes from the old refresh token).
    pub fn refresh(&self) -> Result<(), CloudError> {
        let old = self.session();
        let path = format!("/v1.0/m/token/{}", encode(&old.refresh_token));
        let reply = self.request(&old, "GET", &path, None, None)?;
        let r = &reply.result;
        let field = |name: &str| {
            text(r, &[name])
                .filter(|s| !s.is_empty())
                .ok_or_else(|| CloudError::Malformed(format!("the refresh result has no {name}")))
        };
        let mut new = old.clone();
        new.access_token = field("accessToken")?;
        new.refresh_token = field("refreshToken")?;
        new.expire_time = r.get("expireTime").and_then(Value::as_u64).unwrap_or(0);
        new.t = reply.t.unwrap_or_else(http::now_ms);
        if let Some(uid) = text(r, &["uid"]).filter(|u| !u.is_empty()) {
            new.uid = uid;
        }
        *self.session.lock().unwrap_or_else(|p| p.into_inner()) = new;
        *self.refreshed.lock().unwrap_or_else(|p| p.into_inner()) = true;
        Ok(())
    }

    /// A request to `path`: the session refreshed first when it has under a minute left,
    /// and once more when Tuya answers 1010/1011.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        params: Option<&Map<String, Value>>,
        body: Option<&Map<String, Value>>,
    ) -> Result<Value, CloudError> {
        if self.session().needs_refresh(http::now_ms()) {
            self.refresh()?;
        }
        match self.request(&self.session(), method, path, params, body) {
            Err(e) if e.is_token_error() => {
                self.refresh()?;
                Ok(self
                    .request(&self.session(), method, path, params, body)?
                    .result)
            }
            r => Ok(r?.result),
        }
    }

    /// A GET of `path` with sealed `params` (none when empty).
    pub fn get(&self, path: &str, params: &Map<String, Value>) -> Result<Value, CloudError> {
        self.call("GET", path, Some(params), None)
    }

    /// Every device of every home of the account, with local keys and DP mappings.
    pub fn devices(&self) -> Result<Vec<CloudDevice>, CloudError> {
        let none = Map::new();
        let homes = self.get("/v1.0/m/life/users/homes", &none)?;
        let homes = homes
            .as_array()
            .ok_or_else(|| CloudError::Malformed("the home list is not a list".into()))?;
        let mut devices: Vec<CloudDevice> = Vec::new();
        for home in homes {
            let Some(home_id) = text(home, &["ownerId"]).filter(|h| !h.is_empty()) else {
                continue;
            };
            let mut p = Map::new();
            p.insert("homeId".into(), Value::String(home_id));
            let list = self.get("/v1.0/m/life/ha/home/devices", &p)?;
            let list = list.as_array().ok_or_else(|| {
                CloudError::Malformed("a home's device list is not a list".into())
            })?;
            for rec in list {
                if let Some(d) = CloudDevice::from_record(rec) {
                    if !devices.iter().any(|x| x.id == d.id) {
                        devices.push(d);
                    }
                }
            }
        }
        for d in &mut devices {
            let st = self.get(
                &format!("/v1.0/m/life/devices/{}/status", encode(&d.id)),
                &none,
            )?;
            d.mapping = model::mapping_from_status(&st);
            if d.product_key.is_empty() {
                d.product_key = text(&st, &["productKey"]).unwrap_or_default();
            }
        }
        model::guess_parents(&mut devices);
        Ok(devices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4() {
        let u = uuid4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]));
        assert_ne!(u, uuid4());
    }

    #[test]
    fn sessions_expire_and_redact() {
        let s = Session {
            uid: "u".into(),
            username: "me".into(),
            access_token: "AT-secret".into(),
            refresh_token: "RT-secret".into(),
            expire_time: 7200,
            t: 1_000_000,
            terminal_id: "term".into(),
            endpoint: "http://192.0.2.1".into(),
        };
        assert_eq!(s.expires_at_ms(), 8_200_000);
        assert!(!s.needs_refresh(8_100_000) && s.needs_refresh(8_140_000));
        let d = format!("{s:?}");
        assert!(!d.contains("secret"), "{d}");
        let e = Sharing::new(s, CLIENT_ID).unwrap_err();
        assert!(matches!(e, CloudError::InsecureUrl { .. }), "{e}");
    }
}
