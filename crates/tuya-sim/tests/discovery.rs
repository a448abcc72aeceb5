//! Announcements per version to a loopback target, silence while a client is connected, and
//! REQ_DEVINFO answers from 3.5 devices.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::net::UdpSocket;
use tokio::time::timeout;
use tuya_proto::discovery::{self, DatagramKind};
use tuya_proto::{Command, Version};
use tuya_sim::{SimOptions, Simulator};

async fn recv_datagram(
    sock: &UdpSocket,
    within: Duration,
) -> Option<(discovery::Datagram, SocketAddr)> {
    let mut buf = vec![0u8; 2048];
    let (n, from) = timeout(within, sock.recv_from(&mut buf)).await.ok()?.ok()?;
    Some((
        discovery::decode(&buf[..n]).expect("decodable datagram"),
        from,
    ))
}

#[tokio::test]
async fn every_version_announces_in_its_own_format_and_stops_while_connected() {
    let sock = timeout(T, UdpSocket::bind("127.0.0.1:0"))
        .await
        .unwrap()
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let versions = [
        Version::V31,
        Version::V32,
        Version::V33,
        Version::V34,
        Version::V35,
    ];
    let specs: Vec<_> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| spec(&format!("bfann{i}"), *v, ip(2, 70 + i as u8)))
        .collect();
    let opts = SimOptions {
        announce_interval: Some(Duration::from_millis(200)),
        announce_port_override: Some(port),
        seed: 3,
        ..Default::default()
    };
    let sim = timeout(T, Simulator::start(specs, opts))
        .await
        .unwrap()
        .unwrap();
    let mut seen: HashMap<String, (DatagramKind, Command, String, SocketAddr)> = HashMap::new();
    while seen.len() < versions.len() {
        let (d, from) = recv_datagram(&sock, T).await.expect("announcements arrive");
        let a = d.announcement().expect("an announcement");
        seen.insert(
            a.gw_id.clone(),
            (d.kind, d.cmd, a.version.clone().unwrap_or_default(), from),
        );
        assert_eq!(a.ip, from.ip().to_string(), "announced ip is the sender's");
    }
    assert_eq!(seen["bfann0"].0, DatagramKind::Plain);
    assert_eq!(seen["bfann0"].1, Command::Udp);
    for i in 1..4 {
        assert_eq!(seen[&format!("bfann{i}")].0, DatagramKind::Ecb);
    }
    assert_eq!(seen["bfann4"].0, DatagramKind::Gcm);
    assert_eq!(seen["bfann4"].2, "3.5");

    // While a client is connected, the device stays silent; the others go on.
    let dev = sim.device("bfann2").unwrap();
    let _c = Client::connect(dev.addr(), Version::V33, KEY, "bfann2").await;
    wait_connected(&dev).await;
    // Drain what was already in flight, then watch several announce rounds.
    while recv_datagram(&sock, Duration::from_millis(50))
        .await
        .is_some()
    {}
    let mut heard = HashMap::new();
    let until = tokio::time::Instant::now() + Duration::from_millis(1000);
    while let Some((d, _)) = recv_datagram(
        &sock,
        until.saturating_duration_since(tokio::time::Instant::now()),
    )
    .await
    {
        *heard.entry(d.announcement().unwrap().gw_id).or_insert(0) += 1;
    }
    assert!(
        heard.contains_key("bfann0"),
        "others stopped too: {heard:?}"
    );
    assert!(
        !heard.contains_key("bfann2"),
        "connected device announced: {heard:?}"
    );
    stop(sim).await;
}

#[tokio::test]
async fn v35_devices_answer_req_devinfo_to_the_requester() {
    let listen: SocketAddr = "127.0.2.79:7000".parse().unwrap();
    let specs = vec![
        spec("bfinfo35", Version::V35, ip(2, 77)),
        spec("bfinfo33", Version::V33, ip(2, 78)),
    ];
    let opts = SimOptions {
        devinfo_listen: Some(listen),
        seed: 4,
        ..Default::default()
    };
    let sim = timeout(T, Simulator::start(specs, opts))
        .await
        .unwrap()
        .unwrap();
    let sock = timeout(T, UdpSocket::bind("127.0.0.1:0"))
        .await
        .unwrap()
        .unwrap();
    let req = discovery::encode_devinfo_request("127.0.0.1", [9; 12]);
    timeout(T, sock.send_to(&req, listen))
        .await
        .unwrap()
        .unwrap();
    let (d, _) = recv_datagram(&sock, T).await.expect("a 3.5 device answers");
    assert_eq!(d.kind, DatagramKind::Gcm);
    let a = d.announcement().unwrap();
    assert_eq!(
        (a.gw_id.as_str(), a.ip.as_str()),
        ("bfinfo35", "127.0.2.77")
    );
    // Only the 3.5 device answers.
    assert!(recv_datagram(&sock, Duration::from_millis(300))
        .await
        .is_none());
    // Garbage is ignored, and the listener keeps answering.
    timeout(T, sock.send_to(b"\x00\x00\x55\xaanonsense", listen))
        .await
        .unwrap()
        .unwrap();
    timeout(T, sock.send_to(&req, listen))
        .await
        .unwrap()
        .unwrap();
    assert!(recv_datagram(&sock, T).await.is_some());
    stop(sim).await;
}
