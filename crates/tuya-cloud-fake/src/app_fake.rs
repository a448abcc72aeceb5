//! A fake of the app-login API: the QR login, then sealed and signed calls verified with the
//! crate's own `sharing` code (request key from the received X-requestId and the refresh
//! token the fake issued, X-sign recomputed, encdata opened), and replies sealed back.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tuya_cloud::login::CLIENT_ID;
use tuya_cloud::sharing::RequestKey;

use crate::account;
use crate::server::{self, Req};

pub const USER_CODE: &str = "uc-Good1";
/// A user code whose QR code expires before it is scanned.
pub const LATE_USER_CODE: &str = "uc-Late1";
pub const QR_TOKEN: &str = "AZqrTOKEN1712188152186";
pub const LATE_QR_TOKEN: &str = "AZqrLATE000001";
pub const FIRST_ACCESS: &str = "AT-first-9f8e7d!";
pub const FIRST_REFRESH: &str = "RT-first-1a2b3c?";

pub struct State {
    pub polls: usize,
    pub access: String,
    pub refresh: String,
    pub refreshes: usize,
    /// Sealed requests whose key, X-sign and encdata verified.
    pub verified: usize,
    /// Requests refused (bad sign, token, key).
    pub refused: usize,
    /// The opened params of each verified request: `(path, params)`.
    pub params: Vec<(String, Value)>,
}

/// The session the fake's QR login issues first, at `endpoint`, issued at `t` (ms): for tests
/// that start logged in.
pub fn session_at(endpoint: &str, t: u64) -> tuya_cloud::Session {
    tuya_cloud::Session {
        uid: "az1700000000001".into(),
        username: "me@example.com".into(),
        access_token: FIRST_ACCESS.into(),
        refresh_token: FIRST_REFRESH.into(),
        expire_time: 7200,
        t,
        terminal_id: "term".into(),
        endpoint: endpoint.into(),
    }
}

/// The fake and what it saw.
pub type Fake = crate::server::Fake<State>;

fn fail(code: &str, msg: &str) -> (u16, String) {
    (
        200,
        json!({"success": false, "code": code, "msg": msg, "t": server::now_ms()}).to_string(),
    )
}

fn qr(req: &Req, st: &mut State, base: &str) -> Option<(u16, String)> {
    const P: &str = "/v1.0/m/life/home-assistant/qrcode/tokens";
    let rest = req.path.strip_prefix(P)?;
    if req.param("clientid") != Some(CLIENT_ID) {
        return Some(fail("1106", "permission deny"));
    }
    let uc = req.param("usercode").unwrap_or("");
    if rest.is_empty() && req.method == "POST" {
        if req.param("schema") != Some("haauthorize") {
            return Some(fail("1109", "param is illegal"));
        }
        let tok = match uc {
            USER_CODE => QR_TOKEN,
            LATE_USER_CODE => LATE_QR_TOKEN,
            _ => return Some(fail("USER_CODE_INVALID", "user code invalid")),
        };
        let r = json!({"success": true, "result": {"qrcode": tok}, "t": server::now_ms()});
        return Some((200, r.to_string()));
    }
    let tok = rest.strip_prefix('/')?;
    if req.method != "GET" {
        return None;
    }
    match (tok, uc) {
        (LATE_QR_TOKEN, LATE_USER_CODE) => Some(fail("E0020002", "QR code has expired")),
        (QR_TOKEN, USER_CODE) => {
            st.polls += 1;
            let t = server::now_ms();
            Some(match st.polls {
                // Not scanned yet: both shapes a client may see.
                1 => fail("FAKE_NOT_SCANNED", "waiting for the scan"),
                2 => (200, json!({"success": true, "t": t}).to_string()),
                _ => (
                    200,
                    json!({"success": true, "t": t, "result": {
                        "uid": "az1700000000001", "username": "me@example.com", "expire_time": 7200,
                        "access_token": st.access, "refresh_token": st.refresh,
                        "terminal_id": "1700000000000abcdef", "endpoint": base,
                    }})
                    .to_string(),
                ),
            })
        }
        _ => Some(fail("1109", "param is illegal")),
    }
}

/// Verifies a sealed request: its key, its X-sign, its encdata; the opened params.
fn open(req: &Req, st: &State) -> Result<(RequestKey, Value), &'static str> {
    let h = |n: &str| req.header(n).unwrap_or("").to_string();
    if h("X-appKey") != CLIENT_ID || req.header("X-sid") != Some("") {
        return Err("headers");
    }
    if h("X-time")
        .parse::<u64>()
        .map(|t| t.abs_diff(server::now_ms()) > 300_000)
        != Ok(false)
    {
        return Err("time");
    }
    let rid = h("X-requestId");
    if rid.len() != 36 || h("X-token") != st.access {
        return Err("token");
    }
    let key = RequestKey::derive(&rid, &st.refresh);
    let q = req.param("encdata").unwrap_or("").to_string();
    let b = if req.body.is_empty() {
        String::new()
    } else {
        let v: Value = serde_json::from_str(&req.body).map_err(|_| "body")?;
        v["encdata"].as_str().ok_or("body")?.to_string()
    };
    let names = ["X-appKey", "X-requestId", "X-sid", "X-time", "X-token"];
    let values: Vec<String> = names.iter().map(|n| h(n)).collect();
    let headers: Vec<(&str, &str)> = names
        .iter()
        .zip(&values)
        .map(|(n, v)| (*n, v.as_str()))
        .collect();
    if key.x_sign(&headers, &q, &b) != h("X-sign") {
        return Err("sign");
    }
    let params = if q.is_empty() {
        json!({})
    } else {
        serde_json::from_str(&key.open(&q).map_err(|_| "seal")?).map_err(|_| "json")?
    };
    Ok((key, params))
}

fn status_of(d: &account::Dev) -> Value {
    let dtos: Vec<Value> = d
        .dps
        .unwrap_or(&[])
        .iter()
        .map(|(dp, code, kind, values)| {
            json!({"dpId": dp, "statusCode": code, "supportLocal": true, "valueConvert": "default",
                   "valueType": kind, "valueDesc": values, "statusFormat": "{}", "enumMappingMap": {}})
        })
        .collect();
    json!({"productKey": d.product_id, "dpStatusRelationDTOS": dtos})
}

fn api(req: &Req, st: &mut State) -> (u16, String) {
    let (key, params) = match open(req, st) {
        Ok(x) => x,
        Err(why) => {
            st.refused += 1;
            return fail("1004", &format!("sign invalid ({why})"));
        }
    };
    st.verified += 1;
    st.params.push((req.path.clone(), params.clone()));
    let p = req.path.as_str();
    let result = if p == "/v1.0/m/life/users/homes" {
        json!([{"ownerId": 1001, "name": "Home"}, {"ownerId": "1002", "name": "Cabin"}])
    } else if p == "/v1.0/m/life/ha/home/devices" {
        let uid = match params["homeId"].as_str() {
            Some("1001") => "u1",
            Some("1002") => "u2",
            _ => return fail("1109", "param is illegal"),
        };
        let list: Vec<Value> = account::of_user(uid)
            .into_iter()
            .map(|d| {
                // The app's records carry a sub-device's node id (not its gateway's id).
                let mut r = account::record(d, false);
                if let Some(n) = d.node_id {
                    r["node_id"] = json!(n);
                }
                r
            })
            .collect();
        json!(list)
    } else if let Some(rt) = p.strip_prefix("/v1.0/m/token/") {
        if server::decode(rt) != st.refresh {
            return fail("1010", "token is expired");
        }
        st.refreshes += 1;
        st.access = format!("AT-{}-refreshed&", st.refreshes + 1);
        st.refresh = format!("RT-{}-refreshed=", st.refreshes + 1);
        json!({"expireTime": 7200, "uid": "az1700000000001", "accessToken": st.access,
               "refreshToken": st.refresh})
    } else if let Some(id) = p
        .strip_prefix("/v1.0/m/life/devices/")
        .and_then(|r| r.strip_suffix("/status"))
    {
        match account::by_id(id) {
            Some(d) => status_of(d),
            None => return fail("1106", "permission deny"),
        }
    } else {
        return fail("1108", "uri path invalid");
    };
    let sealed = key.seal(&result.to_string());
    (
        200,
        json!({"success": true, "result": sealed, "t": server::now_ms()}).to_string(),
    )
}

pub fn start() -> Fake {
    let state = Arc::new(Mutex::new(State {
        polls: 0,
        access: FIRST_ACCESS.into(),
        refresh: FIRST_REFRESH.into(),
        refreshes: 0,
        verified: 0,
        refused: 0,
        params: Vec::new(),
    }));
    let st = state.clone();
    let base = Arc::new(Mutex::new(String::new()));
    let b = base.clone();
    let server = server::spawn(move |req| {
        let mut s = st.lock().unwrap();
        let base = b.lock().unwrap().clone();
        qr(req, &mut s, &base).unwrap_or_else(|| api(req, &mut s))
    });
    *base.lock().unwrap() = server.base.clone();
    Fake { server, state }
}
