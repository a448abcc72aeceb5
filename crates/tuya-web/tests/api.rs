//! The API over a hub whose "connection holder" is this test: how each command outcome is
//! answered, the page's files, and the cap on open event streams.

use std::time::Duration;

use serde_json::{json, Value};
use tuya_proto::{DpId, DpValue, Version};
use tuya_web::{CommandError, Hub, View, WebConfig};

struct Server {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A hub of one online plug whose commands are answered by `answer` (by the DP 1 value).
async fn start() -> (Server, Hub) {
    let mut plug = View::new("plug1", "Plug");
    plug.mapping = std::sync::Arc::new(json!({
        "1": {"code": "switch_1", "type": "Boolean", "values": {}},
        "2": {"code": "mode", "type": "Integer", "values": {}}}));
    let (hub, mut commands) = Hub::new(vec![plug]);
    hub.set_online(0, Some(Version::V33));
    let h = hub.clone();
    tokio::spawn(async move {
        while let Some(c) = commands.recv().await {
            // DP 2 picks the outcome: 0 acks, 1 times out, 2 fails, 3 drops the reply.
            match c.dps.get(&DpId(2)) {
                Some(DpValue::Integer(1)) => {
                    let _ = c.reply.send(Err(CommandError::Timeout("no ack".into())));
                }
                Some(DpValue::Integer(2)) => {
                    let _ = c
                        .reply
                        .send(Err(CommandError::Failed("device said no".into())));
                }
                Some(DpValue::Integer(3)) => drop(c.reply),
                _ => {
                    h.update(c.node, &c.dps);
                    let _ = c.reply.send(Ok(()));
                }
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let cfg = WebConfig {
        token: None,
        command_timeout: Duration::from_secs(5),
    };
    tokio::spawn(tuya_web::serve(listener, hub.clone(), cfg, async {
        let _ = stopped.await;
    }));
    (
        Server {
            base,
            stop: Some(stop),
        },
        hub,
    )
}

async fn post(url: String, body: &'static str) -> (u16, Value) {
    tokio::task::spawn_blocking(move || {
        let r = match ureq::post(&url).send_string(body) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{e}"),
        };
        let st = r.status();
        (st, serde_json::from_str(&r.into_string().unwrap()).unwrap())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_outcome_of_a_command_has_its_status() {
    let (srv, _hub) = start().await;
    let url = format!("{}/api/devices/Plug/dps", srv.base);
    let (st, v) = post(url.clone(), r#"{"1":true,"2":0}"#).await;
    assert_eq!((st, v["dps"]["1"].clone()), (200, json!(true)), "{v}");
    for (body, status, text) in [
        (r#"{"2":1}"#, 504, "no ack"),
        (r#"{"2":2}"#, 502, "device said no"),
        (r#"{"2":3}"#, 502, "dropped"),
    ] {
        let (st, v) = post(url.clone(), body).await;
        assert_eq!(st, status, "{body}: {v}");
        assert!(v["error"].as_str().unwrap().contains(text), "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_files_and_the_stream_cap() {
    let (srv, _hub) = start().await;
    let base = srv.base.clone();
    let types = tokio::task::spawn_blocking(move || {
        ["/", "/app.js", "/style.css"].map(|p| {
            let r = ureq::get(&format!("{base}{p}")).call().unwrap();
            r.header("Content-Type").unwrap_or("").to_string()
        })
    })
    .await
    .unwrap();
    assert!(types[0].starts_with("text/html"), "{types:?}");
    assert!(types[1].starts_with("text/javascript"), "{types:?}");
    assert!(types[2].starts_with("text/css"), "{types:?}");

    let url = format!("{}/api/events", srv.base);
    let statuses = tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new().build();
        let mut open = Vec::new();
        let mut statuses = Vec::new();
        for _ in 0..=tuya_web::api::MAX_STREAMS {
            match agent.get(&url).call() {
                Ok(r) => {
                    statuses.push(r.status());
                    open.push(r);
                }
                Err(ureq::Error::Status(s, _)) => statuses.push(s),
                Err(e) => panic!("{e}"),
            }
        }
        // One closed: room for another.
        drop(open.pop());
        std::thread::sleep(Duration::from_millis(300));
        let again = agent
            .get(&url)
            .call()
            .map(|r| r.status())
            .map_err(|e| e.to_string());
        statuses.push(again.unwrap_or(0));
        statuses
    })
    .await
    .unwrap();
    let n = tuya_web::api::MAX_STREAMS;
    assert!(statuses[..n].iter().all(|&s| s == 200), "{statuses:?}");
    assert_eq!(statuses[n], 503, "one stream too many");
    assert_eq!(statuses[n + 1], 200, "a closed stream frees its place");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_hub_ends_open_streams() {
    let (srv, hub) = start().await;
    let url = format!("{}/api/events", srv.base);
    let (subscribed, is_subscribed) = tokio::sync::oneshot::channel();
    let reader = tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let r = ureq::get(&url).call().unwrap();
        // The headers come after the handler subscribed: an update from now on is streamed.
        let _ = subscribed.send(());
        let mut body = String::new();
        // Returns only once the server ends the stream.
        let _ = r.into_reader().read_to_string(&mut body);
        body
    });
    tokio::time::timeout(Duration::from_secs(30), is_subscribed)
        .await
        .expect("the stream opened")
        .unwrap();
    hub.update(0, &[(DpId(1), DpValue::Bool(true))].into_iter().collect());
    hub.close();
    let body = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("the stream ended")
        .unwrap();
    assert!(body.contains(r#""dps":{"1":true}"#), "{body}");
}
