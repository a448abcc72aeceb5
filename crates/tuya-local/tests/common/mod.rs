//! Shared helpers for the client tests: simulated devices on private loopback addresses,
//! client configurations with short timeouts, and a bound on every test.
#![allow(dead_code)]

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::sync::broadcast;
use tuya_local::{DeviceConfig, Event};
use tuya_proto::{DpId, DpValue, Dps, LocalKey, Version};
use tuya_sim::{ChildSpec, DeviceSpec, SimOptions, Simulator};

pub const KEY: &str = "0123456789abcdef";

/// Every protocol version, oldest first.
pub const VERSIONS: [Version; 5] = [
    Version::V31,
    Version::V32,
    Version::V33,
    Version::V34,
    Version::V35,
];

/// A loopback address private to one test: 127.44.<block>.<n>.
pub fn ip(block: u8, n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 44, block, n)
}

pub fn dps(pairs: &[(u32, DpValue)]) -> Dps {
    pairs.iter().map(|(k, v)| (DpId(*k), v.clone())).collect()
}

pub fn plug(id: &str, v: Version, ip: Ipv4Addr) -> DeviceSpec {
    let mut s = DeviceSpec::new(id, KEY, v, ip);
    s.dps = dps(&[
        (1, DpValue::Bool(false)),
        (2, DpValue::Integer(10)),
        (3, DpValue::String("white".into())),
    ]);
    s
}

pub fn gateway(id: &str, v: Version, ip: Ipv4Addr) -> DeviceSpec {
    let mut s = DeviceSpec::new(id, KEY, v, ip);
    s.children = vec![
        ChildSpec {
            cid: "cid-a".into(),
            name: "Sensor A".into(),
            dps: dps(&[(1, DpValue::Integer(215)), (2, DpValue::Bool(false))]),
        },
        ChildSpec {
            cid: "cid-b".into(),
            name: "Switch B".into(),
            dps: dps(&[(1, DpValue::Bool(true))]),
        },
    ];
    s
}

pub async fn start(specs: Vec<DeviceSpec>) -> Simulator {
    Simulator::start(specs, SimOptions::default())
        .await
        .expect("simulator starts")
}

/// A client configuration with test-sized timeouts.
pub fn config(spec: &DeviceSpec, version: Option<Version>) -> DeviceConfig {
    let mut c = DeviceConfig::new(
        spec.id.clone(),
        LocalKey::new(&spec.key).unwrap(),
        SocketAddr::new(spec.ip.into(), spec.port),
    );
    c.version = version;
    c.connect_timeout = Duration::from_secs(2);
    c.request_timeout = Duration::from_millis(1500);
    c.command_deadline = Duration::from_secs(8);
    c.push_wait = Duration::from_millis(500);
    c.reconnect_min = Duration::from_millis(50);
    c.reconnect_max = Duration::from_millis(400);
    c.gateway = !spec.children.is_empty();
    c
}

/// Every test body runs under this bound: a hang is a failure, not a stuck CI job.
pub async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("test exceeded its time bound")
}

/// Waits for the first event matching `pred` (bounded).
pub async fn wait_for(
    rx: &mut broadcast::Receiver<Event>,
    mut pred: impl FnMut(&Event) -> bool,
) -> Event {
    let fut = async {
        loop {
            match rx.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("event stream closed"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("expected event did not arrive")
}

/// Polls `cond` until it holds (bounded).
pub async fn until(mut cond: impl FnMut() -> bool) {
    let fut = async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("condition never held");
}
