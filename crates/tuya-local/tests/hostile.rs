//! Hostile devices and careless consumers, on loopback (127.61.x.x): a device that reports ever
//! more DPs, children or long values is bounded and said so; a device that accepts connections
//! and never answers, or one serving other clients, is named as such; a fleet whose reader
//! stops reading stalls no device.

mod common;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tuya_local::{Device, Error, Event, Fleet, FleetOptions};
use tuya_proto::client::{MAX_CHILDREN, MAX_DPS, MAX_VALUE_LEN};
use tuya_proto::{DpId, DpValue, Dps, Version};
use tuya_sim::{Direction, SimOptions, Simulator, TrafficSink};

fn addr(block: u8, n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 61, block, n)
}

fn notices(rx: &mut tokio::sync::broadcast::Receiver<Event>) -> Vec<String> {
    let mut v = Vec::new();
    while let Ok(e) = rx.try_recv() {
        if let Event::Notice(n) = e {
            v.push(n);
        }
    }
    v
}

#[tokio::test]
async fn a_device_reporting_ever_more_dps_children_or_long_values_is_bounded() {
    bounded(async {
        let spec = gateway("hostile-gw", Version::V33, addr(1, 1));
        let sim = start(vec![spec.clone()]).await;
        let mut cfg = config(&spec, Some(Version::V33));
        cfg.event_capacity = 4096;
        let d = Device::connect(cfg).await.unwrap();
        let mut rx = d.subscribe();
        let dev = sim.device(&spec.id).unwrap();
        // A gateway is not read at connect: its own DPs 1, 2 and 3 ("white") come as a push.
        dev.set_dps(plug("", Version::V33, addr(1, 1)).dps);
        until(|| d.state().len() == 3).await;

        // 300 new DPs in one push, then 300 more: 255 are kept, said once.
        for round in 0..2u32 {
            let many: Dps = (0..300)
                .map(|i| (DpId(1000 + round * 300 + i), DpValue::Integer(7)))
                .collect();
            dev.set_dps(many);
        }
        until(|| d.state().len() == MAX_DPS).await;
        dev.set_dp(DpId(1), DpValue::Integer(42)); // a known DP still updates
        until(|| d.state().get(&DpId(1)) == Some(&DpValue::Integer(42))).await;
        assert_eq!(d.state().len(), MAX_DPS);

        // Ever more children: the first MAX_CHILDREN are kept (the gateway's two included).
        let n = MAX_CHILDREN + 20;
        for c in 0..n {
            dev.add_child(&format!("new-{c}"), dps(&[(1, DpValue::Bool(true))]));
            if c % 32 == 31 {
                // The simulator queues 64 pushes per client: let the client read them.
                let probe = d.child(format!("new-{}", c.min(MAX_CHILDREN - 3)));
                until(|| !probe.state().is_empty()).await;
            }
        }
        let last_kept = d.child(format!("new-{}", MAX_CHILDREN - 3));
        until(|| !last_kept.state().is_empty()).await;
        // Pushes arrive in order: once a later one is in, the ignored ones were seen.
        dev.set_dp(DpId(1), DpValue::Integer(43));
        until(|| d.state().get(&DpId(1)) == Some(&DpValue::Integer(43))).await;
        assert!(d.child(format!("new-{}", n - 1)).state().is_empty());

        // A value over the cap: the DP keeps its last value.
        dev.set_dp(DpId(3), DpValue::String("x".repeat(MAX_VALUE_LEN + 100)));
        dev.set_dp(DpId(1), DpValue::Integer(44));
        until(|| d.state().get(&DpId(1)) == Some(&DpValue::Integer(44))).await;
        assert_eq!(d.state()[&DpId(3)], DpValue::String("white".into()));

        let said = notices(&mut rx);
        let count = |what: &str| said.iter().filter(|n| n.contains(what)).count();
        assert_eq!(count("more than 255 DPs"), 1, "{said:?}");
        assert_eq!(count("more than 1024 children"), 1, "{said:?}");
        assert_eq!(count("over the limit of 8192"), 1, "{said:?}");
        assert!(d.is_connected(), "bounded, not disconnected");
        sim.shutdown().await;
    })
    .await
}

/// Accepts connections and holds them, never reading or writing.
async fn black_hole(at: SocketAddr) -> tokio::task::JoinHandle<()> {
    let l = tokio::net::TcpListener::bind(at).await.unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    })
}

#[tokio::test]
async fn a_device_that_accepts_and_never_answers_is_named() {
    bounded(async {
        let at = SocketAddr::new(addr(2, 1).into(), 6668);
        let task = black_hole(at).await;
        let spec = plug("silent", Version::V33, addr(2, 1));
        let mut cfg = config(&spec, Some(Version::V33));
        cfg.request_timeout = Duration::from_millis(500);
        let e = Device::connect(cfg.clone()).await.unwrap_err();
        assert!(matches!(e, Error::Timeout(_)), "{e:?}");
        assert!(e.to_string().contains("never answered"), "{e}");
        // Detecting the version: one message for all of them, not one per version.
        cfg.version = None;
        let e = Device::connect(cfg).await.unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, Error::Timeout(_)), "{e:?}");
        assert!(
            text.contains("accepted the connection but answered none of the protocol versions tried (3.5, 3.4, 3.3, 3.1)")
                && text.contains("check the local key"),
            "{text}"
        );
        task.abort();
    })
    .await
}

#[tokio::test]
async fn a_device_serving_other_clients_is_busy_whatever_the_version() {
    bounded(async {
        let spec = plug("taken", Version::V34, addr(3, 1));
        let sim = start(vec![spec.clone()]).await;
        let first = Device::connect(config(&spec, Some(Version::V34)))
            .await
            .unwrap();
        let e = Device::connect(config(&spec, None)).await.unwrap_err();
        assert!(matches!(e, Error::Busy(_)), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("serves one client at a time") && !text.contains("3.5:"),
            "said once, not per version: {text}"
        );
        assert!(first.status().await.is_ok());
        sim.shutdown().await;
    })
    .await
}

/// A device that reads the first query and answers with `answer(query bytes)`, then holds
/// the connection open.
async fn one_answer(at: SocketAddr, answer: fn() -> Vec<u8>) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind(at).await.unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut b = [0u8; 1024];
        let _ = s.read(&mut b).await;
        s.write_all(&answer()).await.unwrap();
        let _ = s.read(&mut b).await;
        std::future::pending::<()>().await;
    })
}

#[tokio::test]
async fn oversized_and_truncated_frames_from_a_device_are_named() {
    bounded(async {
        // A 55AA header declaring a 1 MiB frame, and a little of it.
        let big = || {
            let mut f = vec![0, 0, 0x55, 0xaa, 0, 0, 0, 1, 0, 0, 0, 10];
            f.extend((1u32 << 20).to_be_bytes());
            f.extend([0u8; 100]);
            f
        };
        // The first half of a well-formed status reply.
        let half = || {
            let key = tuya_proto::LocalKey::new(KEY).unwrap();
            let mut codec = tuya_proto::Codec::new(Version::V33, key, tuya_proto::Role::Device);
            let body = tuya_proto::payload::status(
                Version::V33,
                "frames",
                None,
                &dps(&[(1, DpValue::Bool(true))]),
                None,
            );
            let m = tuya_proto::Message::reply(Version::V33, 1, tuya_proto::Command::DpQuery, body);
            let f = codec.encode(&m).unwrap();
            f[..f.len() / 2].to_vec()
        };
        for (n, answer, want) in [
            (
                1,
                big as fn() -> Vec<u8>,
                "frame length 1048576 exceeds the limit of 16384 bytes",
            ),
            (2, half, "a truncated frame"),
        ] {
            let at = SocketAddr::new(addr(5, n).into(), 6668);
            let task = one_answer(at, answer).await;
            let spec = plug("frames", Version::V33, addr(5, n));
            let mut cfg = config(&spec, Some(Version::V33));
            cfg.request_timeout = Duration::from_millis(500);
            let e = Device::connect(cfg).await.unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
            task.abort();
        }
    })
    .await
}

/// Heartbeats each simulated device received.
fn heartbeat_counter() -> (TrafficSink, Arc<Mutex<HashMap<String, usize>>>) {
    let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let c = counts.clone();
    let sink: TrafficSink = Arc::new(move |ev| {
        if ev.dir == Direction::Rx && ev.cmd == "HEART_BEAT" {
            *c.lock().unwrap().entry(ev.device.clone()).or_default() += 1;
        }
    });
    (sink, counts)
}

#[tokio::test]
async fn a_fleet_reader_that_stops_reading_stalls_no_device() {
    bounded(async {
        let mut specs: Vec<_> = ["chatty", "quiet-a", "quiet-b"]
            .iter()
            .enumerate()
            .map(|(i, id)| plug(id, Version::V33, addr(4, i as u8 + 1)))
            .collect();
        for s in &mut specs {
            // Idle clients are dropped after 4 s: only heartbeats keep the quiet ones.
            s.heartbeat_timeout = Duration::from_secs(4);
        }
        let (traffic, beats) = heartbeat_counter();
        let opts = SimOptions {
            traffic: Some(traffic),
            ..SimOptions::default()
        };
        let sim = Simulator::start(specs.clone(), opts).await.unwrap();
        let configs = specs
            .iter()
            .map(|s| {
                let mut c = config(s, Some(Version::V33));
                c.heartbeat_interval = Duration::from_millis(500);
                c
            })
            .collect();
        let mut fleet = Fleet::open(
            configs,
            FleetOptions {
                event_capacity: 8,
                device_backlog: 4,
                ..FleetOptions::default()
            },
        );
        // Nobody reads the merged stream from here on.
        until(|| fleet.devices().iter().all(|d| d.is_connected())).await;
        let chatty = sim.device("chatty").unwrap();
        let d = fleet.device("chatty").unwrap().clone();
        for i in 0..300 {
            chatty.set_dp(DpId(2), DpValue::Integer(i));
            if i % 20 == 19 {
                // The simulator queues 64 pushes per client: let the client read these. A
                // connection task waiting on the unread stream would never get here.
                until(|| d.state().get(&DpId(2)) == Some(&DpValue::Integer(i))).await;
            }
        }
        // Commands to every device still complete, the flooding one's included.
        for id in ["quiet-a", "quiet-b", "chatty"] {
            let dev = fleet.device(id).unwrap().clone();
            dev.set_dp(DpId(1), true).await.unwrap();
            assert_eq!(sim.device(id).unwrap().dps()[&DpId(1)], DpValue::Bool(true));
        }
        // Heartbeats keep going: each quiet device gets more, on its first connection.
        let before = beats.lock().unwrap().clone();
        until(|| {
            let now = beats.lock().unwrap();
            ["quiet-a", "quiet-b"].iter().all(|id| {
                now.get(*id).copied().unwrap_or(0) >= before.get(*id).copied().unwrap_or(0) + 3
            })
        })
        .await;
        for id in ["quiet-a", "quiet-b", "chatty"] {
            let s = sim.device(id).unwrap();
            assert_eq!(s.connections_accepted(), 1, "{id} never reconnected");
            assert_eq!(s.client_count(), 1, "{id}");
        }
        // The reader comes back: the chatty device's changes were merged, the last value kept,
        // and a notice says so.
        let mut last = None;
        let mut merged_notice = false;
        while let Some(e) = fleet.try_next_event() {
            if &*e.id != "chatty" {
                continue;
            }
            match e.event {
                Event::Update { changed, .. } => {
                    if let Some(v) = changed.get(&DpId(2)) {
                        last = Some(v.clone());
                    }
                }
                Event::Notice(n) if n.contains("event reader fell behind") => merged_notice = true,
                _ => {}
            }
        }
        assert_eq!(last, Some(DpValue::Integer(299)));
        assert!(merged_notice);
        sim.shutdown().await;
    })
    .await
}
