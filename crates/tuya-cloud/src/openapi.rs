//! The developer OpenAPI client (a cloud project's client id and secret): signed requests,
//! the access token kept and renewed, and the device listing with local keys and DP mappings.

use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::Value;

use crate::error::{code_text, CloudError};
use crate::http::{self, encode, query_string, Http};
use crate::model::{self, text, CloudDevice};
use crate::sign::{self, Request, Signer};

/// The most pages read from one paged listing.
pub const MAX_PAGES: usize = 1000;
/// Categories of hubs (Zigbee and other gateways, gateway cameras, IR hubs, multi-function
/// controllers…), whose sub-devices are asked for even when no listed device names them as
/// parent.
const GATEWAY_CATEGORIES: [&str; 14] = [
    "wg",
    "wg2",
    "zigbee",
    "wgsxj",
    "wnykq",
    "bywg",
    "xnwg",
    "gywg",
    "cnwg",
    "lyqwg",
    "dgnzk",
    "videohub",
    "qtyycp",
    "alexa_yywg",
];
/// The most sub-devices taken from one gateway (Tuya's gateways hold up to 128 or so).
const MAX_CHILDREN: usize = 1024;

/// A token with less than this left is renewed before use.
pub const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// A Tuya data centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    /// Western America (`us`).
    Us,
    /// Eastern America (`us-e`).
    UsEast,
    /// Central Europe (`eu`).
    Eu,
    /// Western Europe (`eu-w`).
    EuWest,
    /// China (`cn`).
    Cn,
    /// India (`in`).
    In,
    /// Singapore (`sg`).
    Sg,
}

impl Region {
    /// Every region.
    pub const ALL: [Region; 7] = [
        Region::Us,
        Region::UsEast,
        Region::Eu,
        Region::EuWest,
        Region::Cn,
        Region::In,
        Region::Sg,
    ];

    /// The short name (`us`, `us-e`, `eu`, `eu-w`, `cn`, `in`, `sg`).
    pub fn name(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::UsEast => "us-e",
            Region::Eu => "eu",
            Region::EuWest => "eu-w",
            Region::Cn => "cn",
            Region::In => "in",
            Region::Sg => "sg",
        }
    }

    /// The OpenAPI host.
    pub fn host(self) -> &'static str {
        match self {
            Region::Us => "openapi.tuyaus.com",
            Region::UsEast => "openapi-ueaz.tuyaus.com",
            Region::Eu => "openapi.tuyaeu.com",
            Region::EuWest => "openapi-weaz.tuyaeu.com",
            Region::Cn => "openapi.tuyacn.com",
            Region::In => "openapi.tuyain.com",
            Region::Sg => "openapi-sg.iotbing.com",
        }
    }

    /// The OpenAPI base URL, `https://{host}`.
    pub fn endpoint(self) -> String {
        format!("https://{}", self.host())
    }
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Region {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for Region {
    type Err = CloudError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Region::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| CloudError::UnknownRegion(s.chars().take(40).collect()))
    }
}

struct Token {
    access: String,
    expires: Instant,
}

/// A client of the developer OpenAPI.
pub struct OpenApi {
    client_id: String,
    secret: String,
    base: String,
    http: Http,
    token: Mutex<Option<Token>>,
}

impl std::fmt::Debug for OpenApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenApi")
            .field("client_id", &self.client_id)
            .field("secret", &"****")
            .field("endpoint", &self.base)
            .finish()
    }
}

fn random_nonce() -> String {
    hex::encode(rand::thread_rng().gen::<[u8; 16]>())
}

/// The `result` of a Tuya reply, or its error.
fn result_of(reply: Value) -> Result<Value, CloudError> {
    match reply.get("success") {
        Some(Value::Bool(true)) => Ok(reply.get("result").cloned().unwrap_or(Value::Null)),
        _ => match reply.get("code") {
            Some(c) => {
                let msg = text(&reply, &["msg"]).unwrap_or_default();
                Err(CloudError::from_code(&code_text(c), &msg))
            }
            None => Err(CloudError::Malformed(
                "a reply with neither success nor an error code".into(),
            )),
        },
    }
}

impl OpenApi {
    /// A client of the project `client_id` with its `secret`, calling `endpoint` (a base URL
    /// such as [`Region::endpoint`]; `http://` only to a loopback address).
    pub fn new(client_id: &str, secret: &str, endpoint: &str) -> Result<Self, CloudError> {
        Ok(Self {
            client_id: client_id.to_string(),
            secret: secret.to_string(),
            base: http::base_url(endpoint)?,
            http: Http::new(),
            token: Mutex::new(None),
        })
    }

    /// A client for a region's data centre.
    pub fn for_region(client_id: &str, secret: &str, region: Region) -> Result<Self, CloudError> {
        Self::new(client_id, secret, &region.endpoint())
    }

    /// One signed GET; `token` is `None` for the token request itself.
    fn signed_get(
        &self,
        path: &str,
        query: &[(&str, &str)],
        token: Option<&str>,
    ) -> Result<Value, CloudError> {
        let t = http::now_ms();
        let nonce = random_nonce();
        let signer = Signer {
            client_id: &self.client_id,
            secret: &self.secret,
            access_token: token,
            t,
            nonce: &nonce,
        };
        let req = Request {
            method: "GET",
            path,
            query,
            body: b"",
            signed_headers: &[],
        };
        let sign = sign::sign(&signer, &req);
        let t = t.to_string();
        let mut headers = vec![
            ("client_id", self.client_id.as_str()),
            ("sign", sign.as_str()),
            ("t", t.as_str()),
            ("sign_method", "HMAC-SHA256"),
            ("nonce", nonce.as_str()),
        ];
        if let Some(tok) = token {
            headers.push(("access_token", tok));
        }
        let url = format!("{}{path}{}", self.base, query_string(query));
        result_of(self.http.send("GET", &url, &headers, None)?)
    }

    /// The access token: the kept one while it has a minute left, else a new one.
    fn access_token(&self) -> Result<String, CloudError> {
        let mut kept = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = kept.as_ref() {
            if t.expires.saturating_duration_since(Instant::now()) >= RENEW_BEFORE {
                return Ok(t.access.clone());
            }
        }
        let r = self.signed_get("/v1.0/token", &[("grant_type", "1")], None)?;
        let access = text(&r, &["access_token"])
            .filter(|s| !s.is_empty())
            .ok_or_else(|| CloudError::Malformed("the token reply has no access_token".into()))?;
        let secs = r.get("expire_time").and_then(Value::as_u64).unwrap_or(0);
        *kept = Some(Token {
            access: access.clone(),
            expires: Instant::now() + Duration::from_secs(secs.min(86_400 * 365)),
        });
        Ok(access)
    }

    fn forget_token(&self) {
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// A signed GET of `path` (`query` values not encoded): its `result`. The token is
    /// fetched when needed and renewed once when Tuya answers 1010 or 1011.
    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, CloudError> {
        let mut renewed = false;
        loop {
            let tok = self.access_token()?;
            match self.signed_get(path, query, Some(&tok)) {
                Err(e) if e.is_token_error() && !renewed => {
                    renewed = true;
                    self.forget_token();
                }
                r => return r,
            }
        }
    }

    /// Every page of a listing: `items` is the list's field in `result`; `last_row_key` is
    /// sent back while `has_more` is true.
    fn paged(
        &self,
        path: &str,
        query: &[(&str, &str)],
        items: &str,
    ) -> Result<Vec<Value>, CloudError> {
        let mut out = Vec::new();
        let mut row_key: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut q = query.to_vec();
            if let Some(k) = row_key.as_deref() {
                q.push(("last_row_key", k));
            }
            let r = self.get(path, &q)?;
            if let Some(list) = r.get(items).and_then(Value::as_array) {
                out.extend(list.iter().cloned());
            }
            if r.get("has_more").and_then(Value::as_bool) != Some(true) {
                return Ok(out);
            }
            match text(&r, &["last_row_key"]).filter(|k| !k.is_empty()) {
                Some(k) if Some(&k) != row_key.as_ref() => row_key = Some(k),
                _ => {
                    return Err(CloudError::Malformed(
                        "has_more without a new last_row_key".into(),
                    ))
                }
            }
        }
        Err(CloudError::TooManyPages { limit: MAX_PAGES })
    }

    /// Checks the credentials by fetching an access token (a wrong secret or region fails
    /// here with the cause named).
    pub fn check(&self) -> Result<(), CloudError> {
        self.forget_token();
        self.access_token().map(drop)
    }

    /// The DP mapping of a device (empty for code 2009, a device without DPs).
    pub fn mapping(&self, device_id: &str) -> Result<Value, CloudError> {
        let path = format!("/v1.1/devices/{}/specifications", encode(device_id));
        match self.get(&path, &[]) {
            Ok(r) => Ok(model::mapping_from_specs(&r)),
            Err(e) if e.api_code() == Some("2009") => Ok(Value::Object(Default::default())),
            Err(e) => Err(e),
        }
    }

    /// The raw device records: of the user owning `device_id`, or of every user linked to
    /// the project.
    fn records(&self, device_id: Option<&str>) -> Result<Vec<Value>, CloudError> {
        if let Some(id) = device_id {
            let dev = self.get(&format!("/v1.0/devices/{}", encode(id)), &[])?;
            let uid = text(&dev, &["uid"])
                .filter(|u| !u.is_empty())
                .ok_or_else(|| CloudError::Malformed("the device record has no uid".into()))?;
            let list = self.get(&format!("/v1.0/users/{}/devices", encode(&uid)), &[])?;
            return match list {
                Value::Array(a) => Ok(a),
                _ => Err(CloudError::Malformed(
                    "the user's device list is not a list".into(),
                )),
            };
        }
        let all = self.paged(
            "/v1.0/iot-01/associated-users/devices",
            &[("size", "50")],
            "devices",
        )?;
        let mut uids: Vec<String> = Vec::new();
        for d in &all {
            if let Some(u) = text(d, &["uid"]).filter(|u| !u.is_empty()) {
                if !uids.contains(&u) {
                    uids.push(u);
                }
            }
        }
        if uids.is_empty() {
            return Ok(all);
        }
        let mut out = Vec::new();
        for uid in &uids {
            let q = [
                ("page_size", "75"),
                ("source_type", "tuyaUser"),
                ("source_id", uid.as_str()),
            ];
            out.extend(self.paged("/v1.3/iot-03/devices", &q, "list")?);
        }
        Ok(out)
    }

    /// Every device with its local key and DP mapping: those of the user who owns
    /// `device_id` (tinytuya's wizard), or with `None` those of every app account linked to
    /// the project. Sub-devices get their gateway as `parent`.
    pub fn devices(&self, device_id: Option<&str>) -> Result<Vec<CloudDevice>, CloudError> {
        let mut devices: Vec<CloudDevice> = Vec::new();
        for rec in self.records(device_id)? {
            if let Some(d) = CloudDevice::from_record(&rec) {
                if !devices.iter().any(|x| x.id == d.id) {
                    devices.push(d);
                }
            }
        }
        self.add_children(&mut devices)?;
        for d in &mut devices {
            d.mapping = self.mapping(&d.id)?;
        }
        self.add_macs(&mut devices);
        model::guess_parents(&mut devices);
        Ok(devices)
    }

    /// Asks each gateway for its sub-devices (`/v1.0/iot-03/devices/{id}/sub-devices`): the
    /// account's lists can leave out Bluetooth children, and the wizard's list has no
    /// `node_id`. Children not listed are added (with no key of their own: locally they are
    /// reached through the gateway with its key); listed ones get their gateway and node id.
    /// A device that answers with an error code is taken as no gateway.
    fn add_children(&self, devices: &mut Vec<CloudDevice>) -> Result<(), CloudError> {
        let gateways: Vec<String> = devices
            .iter()
            .filter(|d| !d.sub)
            .filter(|d| {
                GATEWAY_CATEGORIES.contains(&d.category.as_str())
                    || devices.iter().any(|c| c.parent.as_deref() == Some(&d.id))
            })
            .map(|d| d.id.clone())
            .collect();
        for gw in gateways {
            let path = format!("/v1.0/iot-03/devices/{}/sub-devices", encode(&gw));
            let list = match self.get(&path, &[]) {
                Ok(Value::Array(list)) => list,
                Ok(_) | Err(CloudError::Api { .. }) | Err(CloudError::PermissionDenied) => continue,
                Err(e) => return Err(e),
            };
            for rec in list.iter().take(MAX_CHILDREN) {
                let Some(mut child) = CloudDevice::from_record(rec) else {
                    continue;
                };
                child.sub = true;
                match devices.iter_mut().find(|d| d.id == child.id) {
                    Some(known) => {
                        known.sub = true;
                        known.parent.get_or_insert_with(|| gw.clone());
                        if known.node_id.is_none() {
                            known.node_id = child.node_id;
                        }
                    }
                    None => {
                        child.parent = Some(gw.clone());
                        devices.push(child);
                    }
                }
            }
        }
        Ok(())
    }

    /// Fills in MAC addresses from `/v1.0/devices/factory-infos`, 50 devices a call. The
    /// MAC is optional: a project without that API keeps `mac` as the listing gave it.
    fn add_macs(&self, devices: &mut [CloudDevice]) {
        let ids: Vec<String> = devices.iter().map(|d| d.id.clone()).collect();
        for chunk in ids.chunks(50) {
            let joined = chunk.join(",");
            let Ok(Value::Array(infos)) =
                self.get("/v1.0/devices/factory-infos", &[("device_ids", &joined)])
            else {
                return;
            };
            for info in &infos {
                let (Some(id), Some(mac)) = (text(info, &["id"]), text(info, &["mac"])) else {
                    continue;
                };
                if let Some(d) = devices.iter_mut().find(|d| d.id == id && !mac.is_empty()) {
                    d.mac = Some(mac);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        assert_eq!("eu-w".parse::<Region>().unwrap(), Region::EuWest);
        assert_eq!(
            " US ".parse::<Region>().unwrap().host(),
            "openapi.tuyaus.com"
        );
        assert_eq!(Region::Sg.endpoint(), "https://openapi-sg.iotbing.com");
        for r in Region::ALL {
            assert_eq!(r.name().parse::<Region>().unwrap(), r);
        }
        let e = "mars".parse::<Region>().unwrap_err().to_string();
        assert!(e.contains("mars") && e.contains("eu-w"), "{e}");
    }

    #[test]
    fn replies() {
        use serde_json::json;
        assert_eq!(result_of(json!({"success": true})).unwrap(), Value::Null);
        let e = result_of(json!({"success": false, "code": 1004, "msg": "x"})).unwrap_err();
        assert!(matches!(e, CloudError::SignInvalid));
        assert!(result_of(json!({"success": false, "code": 1011}))
            .unwrap_err()
            .is_token_error());
        assert!(matches!(
            result_of(json!([])).unwrap_err(),
            CloudError::Malformed(_)
        ));
        let c = OpenApi::new("id", "s3cr3t", "https://x.example").unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
