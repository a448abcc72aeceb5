//! The transport: `ureq` with rustls, timeouts, a cap on reply sizes, no redirects, and the
//! loopback rule (plain `http://` only to this machine).

use std::io::Read as _;
use std::time::Duration;

use serde_json::Value;
use url::{Host, Url};

use crate::error::CloudError;

/// Time allowed to connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a whole request, reply included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest reply read, in bytes.
pub const MAX_BODY: u64 = 16 * 1024 * 1024;

/// Checks that `url` may be called: `https://` anywhere, `http://` only to a loopback address
/// (127.0.0.0/8, `::1`, `localhost`). Nothing is sent.
///
/// ```
/// use tuya_cloud::http::check_url;
/// assert!(check_url("https://openapi.tuyaeu.com/v1.0/token").is_ok());
/// assert!(check_url("http://127.0.0.1:8080/x").is_ok());
/// assert!(check_url("http://192.0.2.1/x").is_err());
/// ```
pub fn check_url(url: &str) -> Result<Url, CloudError> {
    let parsed = Url::parse(url).map_err(|e| CloudError::BadUrl(format!("{e}")))?;
    let host = parsed
        .host()
        .ok_or_else(|| CloudError::BadUrl("no host".into()))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" => {
            let loopback = match &host {
                Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
                Host::Ipv4(ip) => ip.is_loopback(),
                Host::Ipv6(ip) => ip.is_loopback(),
            };
            if loopback {
                Ok(parsed)
            } else {
                Err(CloudError::InsecureUrl {
                    host: host.to_string(),
                })
            }
        }
        other => Err(CloudError::BadUrl(format!(
            "scheme {other:?}: use https://"
        ))),
    }
}

/// A base URL as given, without a trailing `/`, after [`check_url`].
pub(crate) fn base_url(url: &str) -> Result<String, CloudError> {
    check_url(url)?;
    Ok(url.trim_end_matches('/').to_string())
}

/// Percent-encodes everything but the unreserved characters.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?k=v&…`, percent-encoded, in the order given; empty for no pairs.
pub(crate) fn query_string(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let q: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("?{}", q.join("&"))
}

/// The HTTP client shared by the cloud clients.
#[derive(Clone)]
pub(crate) struct Http {
    agent: ureq::Agent,
}

impl Http {
    pub(crate) fn new() -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirects(0)
            .user_agent(concat!("tuyactl-cloud/", env!("CARGO_PKG_VERSION")))
            .build();
        Self { agent }
    }

    /// Sends one request and returns its JSON reply. A non-2xx status is an error unless the
    /// body is a JSON object with a `code` (Tuya's errors), which is returned for the caller.
    pub(crate) fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Value, CloudError> {
        let parsed = check_url(url)?;
        let host = parsed.host_str().unwrap_or_default().to_string();
        let mut req = self.agent.request_url(method, &parsed);
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let result = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => {
                return Err(CloudError::Transport {
                    host,
                    reason: transport_reason(&t),
                })
            }
        };
        let status = resp.status();
        let mut raw = Vec::new();
        resp.into_reader()
            .take(MAX_BODY + 1)
            .read_to_end(&mut raw)
            .map_err(|e| CloudError::Transport {
                host: host.clone(),
                reason: format!("reading the reply: {}", e.kind()),
            })?;
        if raw.len() as u64 > MAX_BODY {
            return Err(CloudError::TooLarge { limit: MAX_BODY });
        }
        let json: Option<Value> = serde_json::from_slice(&raw).ok();
        let ok = (200..300).contains(&status);
        match json {
            Some(v) if ok || v.get("code").is_some() => Ok(v),
            _ if !ok => Err(CloudError::Http { host, status }),
            _ => Err(CloudError::Malformed(format!(
                "the reply from {host} is not JSON"
            ))),
        }
    }
}

/// A transport error without its URL (which may hold a token).
fn transport_reason(t: &ureq::Transport) -> String {
    use std::error::Error as _;
    let mut s = t.kind().to_string();
    if let Some(m) = t.message() {
        s.push_str(": ");
        s.push_str(m);
    }
    if let Some(src) = t.source() {
        s.push_str(": ");
        s.push_str(&src.to_string());
    }
    s
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loopback_rule() {
        for ok in [
            "https://openapi.tuyaus.com",
            "https://192.0.2.1/x",
            "http://127.0.0.1:1/x",
            "http://127.9.9.9/",
            "http://[::1]:80/",
            "http://localhost:8080",
            "http://LOCALHOST/",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://192.0.2.1/x",
            "http://10.0.0.1/",
            "http://localhost.example.com/",
            "http://[::2]/",
            "http://openapi.tuyaus.com/",
        ] {
            assert!(
                matches!(check_url(bad), Err(CloudError::InsecureUrl { .. })),
                "{bad}"
            );
        }
        for bad in ["ftp://127.0.0.1/", "openapi.tuyaus.com", "", "https://"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        let e = check_url("http://192.0.2.1/").unwrap_err().to_string();
        assert!(e.contains("192.0.2.1") && e.contains("https://"), "{e}");
    }

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(query_string(&[]), "");
        assert_eq!(
            query_string(&[("encdata", "a+b/c="), ("x", "y z")]),
            "?encdata=a%2Bb%2Fc%3D&x=y%20z"
        );
    }
}
