//! Real traffic between the async client (`tuya-local`) and the simulator (`tuya-sim`),
//! recorded by an in-test TCP proxy, decodes completely: every frame, the 3.4/3.5 session, and
//! the data points that were read and set.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tuya_capture::synth::{CaptureWriter, Format, Link, TcpConversation};
use tuya_capture::{decode_capture, Direction, Event, KeyStore};
use tuya_proto::frame::FrameSplitter;
use tuya_proto::{DpId, DpValue, LocalKey, Version};

type Chunks = Arc<Mutex<Vec<(bool, Vec<u8>)>>>;

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    from_client: bool,
    log: Chunks,
) {
    let mut buf = vec![0u8; 8192];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                // Recorded before it is forwarded, so the log is never behind the peer.
                log.lock().unwrap().push((from_client, buf[..n].to_vec()));
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// Accepts one connection on `listen`, forwards it to `target`, and records both directions.
async fn recording_proxy(
    listen: SocketAddr,
    target: SocketAddr,
    log: Chunks,
) -> tokio::task::JoinHandle<SocketAddr> {
    let l = TcpListener::bind(listen).await.unwrap();
    tokio::spawn(async move {
        let (client, peer) = l.accept().await.unwrap();
        let device = TcpStream::connect(target).await.unwrap();
        let (cr, cw) = client.into_split();
        let (dr, dw) = device.into_split();
        let a = tokio::spawn(pump(cr, dw, true, log.clone()));
        let b = tokio::spawn(pump(dr, cw, false, log));
        let _ = a.await;
        let _ = b.await;
        peer
    })
}

#[tokio::test]
async fn simulator_and_client_traffic_decodes() {
    let fut = async {
        for (i, v) in [
            Version::V31,
            Version::V32,
            Version::V33,
            Version::V34,
            Version::V35,
        ]
        .into_iter()
        .enumerate()
        {
            let n = i as u8 + 1;
            let sim_ip = std::net::Ipv4Addr::new(127, 0, 12, n);
            let proxy: SocketAddr = format!("127.0.13.{n}:6668").parse().unwrap();
            let mut spec = tuya_sim::DeviceSpec::new("simdev01", common::KEY, v, sim_ip);
            spec.dps.insert(DpId(1), DpValue::Bool(false));
            spec.dps.insert(DpId(2), DpValue::Integer(10));
            let sim =
                tuya_sim::Simulator::start(vec![spec.clone()], tuya_sim::SimOptions::default())
                    .await
                    .unwrap();
            let log: Chunks = Arc::default();
            let proxy_task = recording_proxy(
                proxy,
                SocketAddr::new(sim_ip.into(), spec.port),
                log.clone(),
            )
            .await;

            let mut cfg = tuya_local::DeviceConfig::new(
                "simdev01",
                LocalKey::new(common::KEY).unwrap(),
                proxy,
            );
            cfg.version = Some(v);
            let d = tuya_local::Device::connect(cfg).await.unwrap();
            let st = d.status().await.unwrap();
            assert_eq!(st[&DpId(2)], DpValue::Integer(10));
            d.set_dp(DpId(1), true).await.unwrap();
            drop(d);
            sim.shutdown().await;
            let client = tokio::time::timeout(Duration::from_secs(10), proxy_task)
                .await
                .unwrap()
                .unwrap();

            let chunks = std::mem::take(&mut *log.lock().unwrap());
            let mut conv = TcpConversation::new(client, proxy);
            let mut w = CaptureWriter::new(Format::Pcap, Link::Ethernet);
            let mut pkts = conv.open();
            let mut frames_sent = [0usize; 2];
            let mut split = [FrameSplitter::new(), FrameSplitter::new()];
            for (from_client, bytes) in &chunks {
                pkts.push(conv.send(*from_client, bytes));
                let s = &mut split[usize::from(!*from_client)];
                s.feed(bytes);
                while let Some(f) = s.next_frame() {
                    f.unwrap();
                    frames_sent[usize::from(!*from_client)] += 1;
                }
            }
            for (j, p) in pkts.iter().enumerate() {
                w.packet(ts(j), p);
            }
            // 3.2 frames look like 3.3 ones: only devices.json can tell them apart.
            let named = (v == Version::V32).then_some("3.2");
            let json = common::devices_json(&[("Sim", "simdev01", "127.0.13.1", named)])
                .replace("127.0.13.1", &proxy.ip().to_string());
            let keys = KeyStore::from_devices_json(&json).unwrap().0;
            let mut recs = Vec::new();
            let summary = decode_capture(&w.into_bytes()[..], keys, |r| recs.push(r)).unwrap();
            assert_eq!(summary.failed, 0, "{v}: {summary:?}");
            for (k, dir) in [Direction::ClientToDevice, Direction::DeviceToClient]
                .into_iter()
                .enumerate()
            {
                let got = recs
                    .iter()
                    .filter(|r| r.direction == dir && matches!(r.event, Event::Frame(_)))
                    .count();
                assert_eq!(got, frames_sent[k], "{v} {dir:?}");
                assert!(got >= 2);
            }
            assert_eq!(
                summary.sessions_negotiated,
                u64::from(v.uses_session_key()),
                "{v}"
            );
            // The control request carried DP 1 = true, and the device reported DP 2 = 10.
            let payloads: Vec<serde_json::Value> = recs
                .iter()
                .filter_map(|r| match &r.event {
                    Event::Frame(m) => m.json().map(|j| (r.direction, j)),
                    _ => None,
                })
                .map(|(d, j)| serde_json::json!({"dir": d, "j": j}))
                .collect();
            let text = serde_json::to_string(&payloads).unwrap();
            assert!(text.contains(r#""1":true"#), "{v}: {text}");
            assert!(text.contains(r#""2":10"#), "{v}: {text}");
            assert!(
                summary.devices["Sim"].versions.contains(v.as_str()),
                "{v}: {summary:?}"
            );
        }
    };
    tokio::time::timeout(Duration::from_secs(120), fut)
        .await
        .expect("bounded");
}
