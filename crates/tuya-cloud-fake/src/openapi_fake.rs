//! A fake of the developer OpenAPI that checks every request's signature with the secret it
//! knows, issues tokens (the first one lapses at once), pages its listings two at a time, and
//! answers 2009 for a device without DPs.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tuya_cloud::sign::{self, Request, Signer};

use crate::account::{self, Dev};
use crate::server::{self, Req};

pub const CLIENT_ID: &str = "fakeclientid00000001";
pub const SECRET: &str = "F4ke-S3cret!<&>0123456789abcdefZ";
/// The message the fake sends with 1010 (not tinytuya's "token invalid": renewal must go by
/// the code).
pub const LAPSED_MSG: &str = "the access token has lapsed";

#[derive(Default)]
pub struct State {
    /// Tokens issued, in order.
    pub tokens: Vec<String>,
    /// Requests refused with 1010.
    pub lapsed: usize,
    /// `METHOD path?query` of every verified request.
    pub log: Vec<String>,
    /// Requests that carried the secret in a header (must stay 0).
    pub secret_sent: usize,
}

/// The fake and what it saw.
pub type Fake = crate::server::Fake<State>;

impl Fake {
    pub fn count(&self, prefix: &str) -> usize {
        let s = self.state.lock().unwrap();
        s.log.iter().filter(|l| l.starts_with(prefix)).count()
    }
}

fn fail(code: u32, msg: &str) -> (u16, String) {
    (
        200,
        json!({"success": false, "code": code, "msg": msg, "t": server::now_ms()}).to_string(),
    )
}

fn ok(result: Value) -> (u16, String) {
    (
        200,
        json!({"success": true, "result": result, "t": server::now_ms(), "tid": "x"}).to_string(),
    )
}

/// A page of two items of `all`, from the `last_row_key` `{prefix}{n}`.
fn page(req: &Req, prefix: &str, all: Vec<Value>, list: &str) -> (u16, String) {
    let n: usize = req
        .param("last_row_key")
        .and_then(|k| k.strip_prefix(prefix))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let items: Vec<Value> = all.iter().skip(n * 2).take(2).cloned().collect();
    let more = all.len() > (n + 1) * 2;
    let mut r = json!({list: items, "has_more": more, "total": all.len()});
    if more {
        r["last_row_key"] = json!(format!("{prefix}{}", n + 1));
    }
    ok(r)
}

fn specs(d: &Dev) -> (u16, String) {
    let Some(dps) = d.dps else {
        return fail(2009, "this device has no standard instruction set");
    };
    // Status with `dp_id`; functions (the writable ones) with the documented `dpId` spelling.
    let item = |(dp, code, kind, values): &(u32, &str, &str, &str), key: &str| json!({"code": code, key: dp, "type": kind, "values": values, "name": code});
    let status: Vec<Value> = dps.iter().map(|x| item(x, "dp_id")).collect();
    let functions: Vec<Value> = dps
        .iter()
        .filter(|x| x.1 != "cur_power")
        .map(|x| item(x, "dpId"))
        .collect();
    ok(json!({"category": d.category, "functions": functions, "status": status}))
}

fn handle(req: &Req, state: &Mutex<State>, knows_project: bool) -> (u16, String) {
    let h = |n: &str| req.header(n).unwrap_or("").to_string();
    if req
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("secret") || v == SECRET)
    {
        state.lock().unwrap().secret_sent += 1;
        return (400, "{}".into());
    }
    if !knows_project || h("client_id") != CLIENT_ID {
        // What a data centre that does not hold the project answers.
        return fail(1004, "sign invalid");
    }
    if h("sign_method") != "HMAC-SHA256" || h("nonce").is_empty() {
        return fail(1004, "sign invalid");
    }
    let Ok(t) = h("t").parse::<u64>() else {
        return fail(1013, "request time is invalid");
    };
    if t.abs_diff(server::now_ms()) > 300_000 {
        return fail(1013, "request time is invalid");
    }
    let token_call = req.path == "/v1.0/token";
    let tok = req.header("access_token");
    if token_call == tok.is_some() {
        return fail(1004, "sign invalid");
    }
    let query: Vec<(&str, &str)> = req
        .query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let nonce = h("nonce");
    let signer = Signer {
        client_id: CLIENT_ID,
        secret: SECRET,
        access_token: tok,
        t,
        nonce: &nonce,
    };
    let r = Request {
        method: &req.method,
        path: &req.path,
        query: &query,
        body: req.body.as_bytes(),
        signed_headers: &[],
    };
    if sign::sign(&signer, &r) != h("sign") {
        return fail(1004, "sign invalid");
    }
    let mut st = state.lock().unwrap();
    if token_call {
        if req.param("grant_type") != Some("1") {
            return fail(1109, "param is illegal");
        }
        let t = format!("tok-{}-{}", st.tokens.len() + 1, "Zq9!");
        st.tokens.push(t.clone());
        return ok(
            json!({"access_token": t, "expire_time": 7200, "refresh_token": "r", "uid": "bay1"}),
        );
    }
    let tok = tok.unwrap_or_default();
    match st.tokens.iter().position(|x| x == tok) {
        None => return fail(1011, "invalid access token"),
        Some(0) => {
            st.lapsed += 1;
            return fail(1010, LAPSED_MSG);
        }
        Some(_) => {}
    }
    st.log.push(format!("{} {}", req.method, req.path));
    drop(st);
    if req.method != "GET" {
        return fail(1108, "uri path invalid");
    }
    let p = req.path.as_str();
    if p == "/v1.0/iot-01/associated-users/devices" {
        if req.param("size") != Some("50") {
            return fail(1109, "param is illegal");
        }
        let all = account::DEVICES
            .iter()
            .map(|d| json!({"id": d.id, "uid": d.uid, "name": d.name}))
            .collect();
        return page(req, "row-", all, "devices");
    }
    if p == "/v1.3/iot-03/devices" {
        let (Some("75"), Some("tuyaUser"), Some(uid)) = (
            req.param("page_size"),
            req.param("source_type"),
            req.param("source_id"),
        ) else {
            return fail(1109, "param is illegal");
        };
        let all = account::of_user(uid)
            .into_iter()
            .map(|d| account::record(d, true))
            .collect();
        return page(req, &format!("{uid}-p"), all, "list");
    }
    if p == "/v1.0/devices/factory-infos" {
        let ids = req.param("device_ids").unwrap_or("");
        let infos: Vec<Value> = ids
            .split(',')
            .filter_map(account::by_id)
            .map(|d| json!({"id": d.id, "mac": account::mac_of(d), "sn": "", "uuid": d.id}))
            .collect();
        return ok(json!(infos));
    }
    let parts: Vec<&str> = p.split('/').collect();
    match parts.as_slice() {
        ["", "v1.0", "devices", id] => match account::by_id(id) {
            Some(d) => ok(json!({"id": d.id, "uid": d.uid, "name": d.name})),
            None => fail(1106, "permission deny"),
        },
        ["", "v1.0", "users", uid, "devices"] => ok(account::of_user(uid)
            .into_iter()
            .map(|d| account::record(d, false))
            .collect()),
        ["", "v1.0", "iot-03", "devices", id, "sub-devices"] => match account::children_of(id) {
            Some(kids) => ok(kids
                .into_iter()
                .map(|d| {
                    json!({"id": d.id, "name": d.name, "online": true, "product_id": d.product_id,
                           "category": d.category, "node_id": d.node_id, "active_time": 1566973357})
                })
                .collect()),
            None => fail(1106, "permission deny"),
        },
        ["", "v1.1", "devices", id, "specifications"] => match account::by_id(id) {
            Some(d) => specs(d),
            None => fail(1106, "permission deny"),
        },
        _ => fail(1108, "uri path invalid"),
    }
}

/// A fake data centre; with `knows_project` false, one where the project does not live.
pub fn start(knows_project: bool) -> Fake {
    let state = Arc::new(Mutex::new(State::default()));
    let st = state.clone();
    let server = server::spawn(move |req| handle(req, &st, knows_project));
    Fake { server, state }
}
