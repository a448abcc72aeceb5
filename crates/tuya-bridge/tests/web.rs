//! The HTTP API of `tuyactl bridge --http` over a simulated home of every version with a
//! gateway, and no broker: the listing, commands applied on the simulated devices, an error
//! for each bad input, the event stream carrying physical changes, and the token.

mod common;

use std::io::{BufRead as _, BufReader};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tuya_bridge::HttpSettings;
use tuya_proto::{DpId, DpValue};
use tuya_sim::SimOptions;

/// A bridge serving only the web page on a free loopback port.
fn web_config(
    devices: &std::path::Path,
    token: Option<&str>,
) -> (tuya_bridge::BridgeConfig, String) {
    let port = free_port();
    let mut cfg = bridge_config("mqtt://127.0.0.1:9", devices, "web", None);
    cfg.broker = None;
    cfg.http = Some(HttpSettings {
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        token: token.map(str::to_string),
    });
    (cfg, format!("http://127.0.0.1:{port}"))
}

/// A blocking request on a thread of its own: (status, JSON body).
async fn call(
    method: &str,
    url: String,
    body: Option<String>,
    token: Option<&str>,
) -> (u16, Value) {
    let method = method.to_string();
    let token = token.map(|t| format!("Bearer {t}"));
    tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(20))
            .build();
        let mut req = agent.request(&method, &url);
        if let Some(t) = &token {
            req = req.set("Authorization", t);
        }
        let r = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(&b),
            None => req.call(),
        };
        let resp = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            // Not listening yet (the bridge starts in the background): status 0.
            Err(ureq::Error::Transport(_)) => return (0, Value::Null),
        };
        let status = resp.status();
        let text = resp.into_string().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    })
    .await
    .unwrap()
}

async fn wait_online(base: &str, n: usize) -> Value {
    for _ in 0..200 {
        let (_, list) = call("GET", format!("{base}/api/devices"), None, None).await;
        let all = list.as_array().cloned().unwrap_or_default();
        let online = all.iter().filter(|d| d["online"] == true).count();
        let kids_known = all
            .iter()
            .flat_map(|d| d["children"].as_array().cloned().unwrap_or_default())
            .all(|c| c["dps"].as_object().is_some_and(|m| !m.is_empty()));
        if online == n && kids_known {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not every device came online");
}

#[tokio::test]
async fn listing_commands_errors_and_the_event_stream() {
    bounded(async {
        let specs = home(71);
        let sim = start_sim(specs.clone(), SimOptions::default()).await;
        let (_dir, devices) = devices_file(&specs);
        let (cfg, base) = web_config(&devices, None);
        let bridge = start_bridge(cfg);
        let list = wait_online(&base, 5).await;

        // Every device, its version, address and state; the gateway's children nested.
        let all = list.as_array().unwrap();
        assert_eq!(all.len(), 5);
        for s in &specs {
            let d = all.iter().find(|d| d["id"] == s.id.as_str()).unwrap();
            assert_eq!(d["version"], s.version.as_str(), "{}", s.id);
            assert_eq!(d["ip"], s.ip.to_string());
            assert_eq!(d["name"], s.name.as_str());
            assert_eq!(d["dps"], tuya_proto::dp::dps_to_json(&s.dps), "{}", s.id);
            assert!(d["last_seen"].is_string());
            assert!(d.get("key").is_none() && !d.to_string().contains(&s.key));
        }
        let hub = all.iter().find(|d| d["name"] == "Hub").unwrap();
        let kids = hub["children"].as_array().unwrap();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0]["cid"], "a4c1380000000001");
        assert_eq!(kids[0]["dps"]["1"], 215);
        let plug = &specs[0];
        assert_eq!(all[0]["mapping"]["1"]["code"], "switch_1");

        // By id and by name, children too.
        let (st, one) = call("GET", format!("{base}/api/devices/{}", plug.id), None, None).await;
        assert_eq!((st, one["id"].as_str()), (200, Some(plug.id.as_str())));
        let (st, one) = call(
            "GET",
            format!("{base}/api/devices/Hall%20Sensor"),
            None,
            None,
        )
        .await;
        assert_eq!((st, one["cid"].as_str()), (200, Some("a4c1380000000001")));

        // The event stream, open before the changes.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
        let url = format!("{base}/api/events");
        let (opened, is_open) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let r = ureq::get(&url).call().unwrap();
            assert_eq!(r.header("Content-Type"), Some("text/event-stream"));
            // The headers come after the server subscribed: every change from now on is streamed.
            let _ = opened.send(());
            for line in BufReader::new(r.into_reader()).lines() {
                let Ok(line) = line else { return };
                if let Some(data) = line.strip_prefix("data: ") {
                    if tx.send(serde_json::from_str(data).unwrap()).is_err() {
                        return;
                    }
                }
            }
        });
        is_open.await.expect("the event stream opened");

        // A command, applied on the device, answered with the state after the ack.
        let (st, after) = call(
            "POST",
            format!("{base}/api/devices/{}/dps", plug.id),
            Some(r#"{"1":true,"9":60}"#.into()),
            None,
        )
        .await;
        assert_eq!(st, 200, "{after}");
        assert_eq!(
            (after["dps"]["1"].clone(), after["dps"]["9"].clone()),
            (json!(true), json!(60))
        );
        let dev = sim.device(&plug.id).unwrap();
        assert_eq!(dev.dps()[&DpId(1)], DpValue::Bool(true));
        assert_eq!(dev.dps()[&DpId(9)], DpValue::Integer(60));
        // A sub-device by name.
        let (st, after) = call(
            "POST",
            format!("{base}/api/devices/Hall%20Switch/dps"),
            Some(r#"{"1":false}"#.into()),
            None,
        )
        .await;
        assert_eq!(
            (st, after["dps"]["1"].clone()),
            (200, json!(false)),
            "{after}"
        );
        let gw = sim.device(&specs[4].id).unwrap();
        assert_eq!(
            gw.child_dps("a4c1380000000002").unwrap()[&DpId(1)],
            DpValue::Bool(false)
        );

        // A physical change reaches the stream.
        dev.set_dp(DpId(19), DpValue::Integer(1234));
        let seen = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let e = rx.recv().await.unwrap();
                if e["type"] == "dps" && e["dps"]["19"] == 1234 {
                    return e;
                }
            }
        })
        .await
        .expect("the change on the stream");
        assert_eq!(seen["id"], plug.id.as_str());

        // Each bad input, answered with a cause.
        let post = |path: String, body: &str| {
            call(
                "POST",
                format!("{base}{path}"),
                Some(body.to_string()),
                None,
            )
        };
        let dps = format!("/api/devices/{}/dps", plug.id);
        for (path, body, status, want) in [
            (
                "/api/devices/nope/dps".to_string(),
                r#"{"1":true}"#,
                404,
                "no device \"nope\"",
            ),
            (dps.clone(), "{not json", 400, "not JSON"),
            (dps.clone(), "[1,2]", 400, "JSON object"),
            (dps.clone(), r#"{"x":1}"#, 400, "not a number"),
            (dps.clone(), r#"{"99999999999":1}"#, 400, "not a number"),
            (dps.clone(), r#"{"1":"yes"}"#, 422, "takes true or false"),
            (dps.clone(), r#"{"19":true}"#, 422, "takes an integer"),
        ] {
            let (st, e) = post(path.clone(), body).await;
            assert_eq!(st, status, "{path} {body}: {e}");
            assert!(e["error"].as_str().unwrap().contains(want), "{body}: {e}");
        }
        let (st, e) = call("GET", format!("{base}/api/devices/nope"), None, None).await;
        assert_eq!(st, 404, "{e}");

        // An offline device: refused at once, shown offline on the stream and the list.
        dev.set_online(false);
        tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                let e = rx.recv().await.unwrap();
                if e["type"] == "online" && e["id"] == plug.id.as_str() && e["online"] == false {
                    return;
                }
            }
        })
        .await
        .expect("offline on the stream");
        let (st, e) = post(dps.clone(), r#"{"1":false}"#).await;
        assert_eq!(st, 503, "{e}");
        assert!(e["error"].as_str().unwrap().contains("offline"), "{e}");
        bridge.stop().await;
        sim.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn a_token_guards_the_api_and_the_stream() {
    bounded(async {
        let specs = home(72);
        let sim = start_sim(specs.clone(), SimOptions::default()).await;
        let (_dir, devices) = devices_file(&specs);
        let token = "s3cret-t0ken";
        let (cfg, base) = web_config(&devices, Some(token));
        let bridge = start_bridge(cfg);
        // Wait for the server.
        let mut page = (0, Value::Null);
        for _ in 0..100 {
            page = call("GET", format!("{base}/api/devices"), None, Some(token)).await;
            if page.0 == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(page.0, 200);
        let (st, e) = call("GET", format!("{base}/api/devices"), None, None).await;
        assert_eq!(st, 401);
        assert!(e["error"].as_str().unwrap().contains("Bearer"), "{e}");
        let (st, _) = call("GET", format!("{base}/api/devices"), None, Some("wrong")).await;
        assert_eq!(st, 401);
        let url = format!("{base}/api/devices/{}/dps", specs[0].id);
        let (st, _) = call("POST", url, Some(r#"{"1":true}"#.into()), None).await;
        assert_eq!(st, 401);
        let (st, _) = call("GET", format!("{base}/api/events"), None, None).await;
        assert_eq!(st, 401);
        // The page itself loads without a token (it asks for one), and holds no key.
        let b = base.clone();
        let html = tokio::task::spawn_blocking(move || {
            ureq::get(&b).call().unwrap().into_string().unwrap()
        })
        .await
        .unwrap();
        assert!(
            html.contains("<html") || html.contains("<!DOCTYPE"),
            "{html}"
        );
        // EventSource cannot send headers: ?token= opens the stream.
        let u = format!("{base}/api/events?token={token}");
        let ok = tokio::task::spawn_blocking(move || {
            ureq::get(&u)
                .call()
                .map(|r| r.status())
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap();
        assert_eq!(ok.unwrap(), 200);
        bridge.stop().await;
        sim.shutdown().await;
    })
    .await
}
