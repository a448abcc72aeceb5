//! The discovery listener against announcements of every version and a REQ_DEVINFO responder, all on loopback.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::timeout;
use tuya_local::discovery::{DiscoveryEvent, Listener, ListenerConfig};
use tuya_proto::discovery::{self, Announcement, DatagramKind};
use tuya_proto::Version;

fn ann(id: &str, ip: &str, v: Version) -> Announcement {
    Announcement {
        ip: ip.into(),
        gw_id: id.into(),
        product_key: Some(format!("pk-{id}")),
        version: Some(v.as_str().into()),
        encrypt: Some(v != Version::V31),
        ..Default::default()
    }
}

#[tokio::test]
async fn listener_dedups_and_reports_changes() {
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let mut l = Listener::bind(ListenerConfig::on(lo, vec![0, 0, 0]))
        .await
        .unwrap();
    let ports: Vec<SocketAddr> = l.local_addrs().to_vec();
    let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for (i, v) in Version::ALL.iter().enumerate() {
        let a = ann(&format!("dev{i}"), &format!("127.0.4.{}", i + 1), *v);
        let bytes = discovery::encode_announcement(&a, *v, [i as u8; 12]);
        let port = if *v == Version::V31 {
            ports[0]
        } else {
            ports[1]
        };
        tx.send_to(&bytes, port).await.unwrap();
        tx.send_to(&bytes, port).await.unwrap(); // duplicate
        let ev = timeout(Duration::from_secs(5), l.next())
            .await
            .unwrap()
            .unwrap();
        let DiscoveryEvent::New(d) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(d.id, format!("dev{i}"));
        assert_eq!(d.version, Some(*v));
        assert_eq!(d.ip.to_string(), format!("127.0.4.{}", i + 1));
        assert_eq!(
            d.product_key.as_deref(),
            Some(format!("pk-dev{i}").as_str())
        );
        let kind = match v {
            Version::V31 => DatagramKind::Plain,
            Version::V35 => DatagramKind::Gcm,
            _ => DatagramKind::Ecb,
        };
        assert_eq!(d.kind, kind);
    }
    // A device re-announcing from a new address is reported as changed.
    let a = ann("dev2", "127.0.4.99", Version::V33);
    tx.send_to(
        &discovery::encode_announcement(&a, Version::V33, [0; 12]),
        ports[1],
    )
    .await
    .unwrap();
    let ev = timeout(Duration::from_secs(5), l.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&ev, DiscoveryEvent::Changed(d) if d.ip.to_string() == "127.0.4.99"),
        "{ev:?}"
    );
    let all = l.devices();
    assert_eq!(all.len(), 5);
    assert!(all.iter().any(|d| d.id == "dev0" && d.seen == 2));
    // garbage is ignored
    tx.send_to(b"\x00\x00\x55\xaagarbage", ports[1])
        .await
        .unwrap();
    assert!(timeout(Duration::from_millis(300), l.next()).await.is_err());
}

#[tokio::test]
async fn devinfo_probe_makes_a_35_device_answer() {
    // A stand-in 3.5 device that answers REQ_DEVINFO to the requester, as real ones do.
    let dev = UdpSocket::bind("127.0.4.50:0").await.unwrap();
    let dev_addr = dev.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        loop {
            let (n, from) = dev.recv_from(&mut buf).await.unwrap();
            let d = discovery::decode(&buf[..n]).unwrap();
            assert!(d.is_devinfo_request());
            let a = ann("dev35", "127.0.4.50", Version::V35);
            dev.send_to(
                &discovery::encode_announcement(&a, Version::V35, [3; 12]),
                from,
            )
            .await
            .unwrap();
        }
    });
    let cfg = ListenerConfig::on("127.0.0.1".parse().unwrap(), vec![0])
        .probe(dev_addr, Duration::from_millis(200));
    let mut l = Listener::bind(cfg).await.unwrap();
    let ev = timeout(Duration::from_secs(5), l.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev.device().id, "dev35");
    assert_eq!(ev.device().version, Some(Version::V35));
}

/// Spoofed or departed devices do not stay listed: one not heard for the TTL is dropped, and
/// heard again it is new again. Virtual time: nothing here waits on the machine's speed.
#[tokio::test(start_paused = true)]
async fn devices_not_heard_for_the_ttl_are_forgotten_and_new_again() {
    let mut cfg = ListenerConfig::on("127.61.1.1".parse().unwrap(), vec![0]);
    cfg.ttl = Duration::from_secs(60);
    let mut l = Listener::bind(cfg).await.unwrap();
    let port = l.local_addrs()[0];
    let tx = UdpSocket::bind("127.61.1.2:0").await.unwrap();
    let send = |id: &str| {
        let a = ann(id, "127.61.1.3", Version::V33);
        discovery::encode_announcement(&a, Version::V33, [1; 12])
    };
    tx.send_to(&send("a"), port).await.unwrap();
    assert!(matches!(l.next().await, Some(DiscoveryEvent::New(d)) if d.id == "a"));
    tokio::time::advance(Duration::from_secs(30)).await;
    tx.send_to(&send("b"), port).await.unwrap();
    assert!(matches!(l.next().await, Some(DiscoveryEvent::New(d)) if d.id == "b"));
    tokio::time::advance(Duration::from_secs(31)).await;
    let ids: Vec<String> = l.devices().into_iter().map(|d| d.id).collect();
    assert_eq!(ids, ["b"], "a was last heard 61 s ago");
    tx.send_to(&send("a"), port).await.unwrap();
    let ev = l.next().await;
    assert!(
        matches!(&ev, Some(DiscoveryEvent::New(d)) if d.id == "a" && d.seen == 1),
        "{ev:?}"
    );
}
