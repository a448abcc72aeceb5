//! A small HTTP/1.1 server on 127.0.0.1 in a thread, for the fakes of Tuya's APIs.

use std::io::Read as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// The path as sent (still percent-encoded, as the client signed it).
    pub path: String,
    /// The query, percent-decoded, in the order sent.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Req {
    /// A header by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter by name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Percent-decoding (`+` stays `+`: the clients encode it).
pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A running server; stopped when dropped.
/// A fake service: its server, and the state its handlers share with the test.
pub struct Fake<S> {
    pub server: Server,
    pub state: Arc<std::sync::Mutex<S>>,
}

impl<S> Fake<S> {
    pub fn base(&self) -> &str {
        &self.server.base
    }
}

pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves every request with `handler` → (status, JSON body).
pub fn spawn(handler: impl Fn(&Req) -> (u16, String) + Send + 'static) -> Server {
    let http = tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = http.server_addr().to_ip().expect("an IP address").port();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        while !flag.load(Ordering::SeqCst) {
            let mut rq = match http.recv_timeout(Duration::from_millis(50)) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(_) => break,
            };
            let url = rq.url().to_string();
            let (path, q) = url.split_once('?').unwrap_or((&url, ""));
            let query = q
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect();
            let headers = rq
                .headers()
                .iter()
                .map(|h| (h.field.as_str().to_string(), h.value.as_str().to_string()))
                .collect();
            let mut body = String::new();
            let _ = rq.as_reader().take(1 << 20).read_to_string(&mut body);
            let req = Req {
                method: rq.method().as_str().to_string(),
                path: path.to_string(),
                query,
                headers,
                body,
            };
            let (status, reply) = handler(&req);
            let header = tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap();
            let resp = tiny_http::Response::from_string(reply)
                .with_status_code(status)
                .with_header(header);
            let _ = rq.respond(resp);
        }
    });
    Server {
        base: format!("http://127.0.0.1:{port}"),
        stop,
        thread: Some(thread),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
