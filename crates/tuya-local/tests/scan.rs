//! Finding simulated devices: announcements of every version heard by the listener, and a force
//! scan of a loopback range with devices at scattered addresses, identified by key and version.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::time::timeout;
use tuya_local::discovery::{Listener, ListenerConfig};
use tuya_local::scan::{self, HostState, KnownDevice, ScanConfig};
use tuya_proto::{LocalKey, Version};
use tuya_sim::{DeviceSpec, SimOptions, Simulator};

fn spec(id: &str, key: &str, v: Version, ip: [u8; 4]) -> DeviceSpec {
    DeviceSpec::new(id, key, v, Ipv4Addr::from(ip))
}

fn known(s: &DeviceSpec, with_ip: bool) -> KnownDevice {
    KnownDevice {
        id: s.id.clone(),
        key: LocalKey::new(&s.key).unwrap(),
        name: Some(s.name.clone()),
        ip: with_ip.then_some(IpAddr::V4(s.ip)),
        version: with_ip.then_some(s.version),
    }
}

#[tokio::test]
async fn listener_hears_every_version_from_the_simulator() {
    let mut listener = Listener::bind(ListenerConfig::on("127.0.0.1".parse().unwrap(), vec![0]))
        .await
        .unwrap();
    let port = listener.local_addrs()[0].port();
    let specs: Vec<DeviceSpec> = Version::ALL
        .iter()
        .enumerate()
        .map(|(i, v)| {
            spec(
                &format!("annc{i}0123456789abc"),
                "0123456789abcdef",
                *v,
                [127, 0, 6, 10 + i as u8],
            )
        })
        .collect();
    let opts = SimOptions {
        announce_interval: Some(Duration::from_millis(100)),
        announce_port_override: Some(port),
        ..SimOptions::default()
    };
    let sim = Simulator::start(specs.clone(), opts).await.unwrap();
    let mut found = std::collections::BTreeMap::new();
    while found.len() < specs.len() {
        let ev = timeout(Duration::from_secs(10), listener.next())
            .await
            .expect("every simulated device is heard within 10 s")
            .unwrap();
        let d = ev.device().clone();
        found.insert(d.id.clone(), d);
    }
    for s in &specs {
        let d = &found[&s.id];
        assert_eq!(d.version, Some(s.version), "{}", s.id);
        assert_eq!(d.ip, IpAddr::V4(s.ip));
        assert_eq!(d.product_key.as_deref(), Some(s.product_key.as_str()));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn force_scan_identifies_scattered_devices() {
    // Devices at scattered addresses of 127.0.5.0/24, one with a key we do not hold, and one
    // entry of devices.json whose device is not there.
    let present = vec![
        spec(
            "scan31aaaaaaaaaaaaaa",
            "k31k31k31k31k31k",
            Version::V31,
            [127, 0, 5, 3],
        ),
        spec(
            "scan33aaaaaaaaaaaaaa",
            "k33k33k33k33k33k",
            Version::V33,
            [127, 0, 5, 17],
        ),
        spec(
            "scan34aaaaaaaaaaaaaa",
            "k34k34k34k34k34k",
            Version::V34,
            [127, 0, 5, 42],
        ),
        spec(
            "scan35aaaaaaaaaaaaaa",
            "k35k35k35k35k35k",
            Version::V35,
            [127, 0, 5, 99],
        ),
        {
            let mut s = spec(
                "scan22aaaaaaaaaaaaaa",
                "k22k22k22k22k22k",
                Version::V33,
                [127, 0, 5, 200],
            );
            s.device22 = true;
            s
        },
    ];
    let stranger = spec(
        "strangeraaaaaaaaaaaa",
        "nokeynokeynokeyn",
        Version::V34,
        [127, 0, 5, 150],
    );
    let missing = spec(
        "missingaaaaaaaaaaaaa",
        "k99k99k99k99k99k",
        Version::V33,
        [127, 0, 5, 77],
    );
    let mut all = present.clone();
    all.push(stranger.clone());
    let sim = Simulator::start(all, SimOptions::default()).await.unwrap();

    // Keys as a user has them: some with stale addresses (none), one pointing at the wrong host.
    let mut keys: Vec<KnownDevice> = present
        .iter()
        .enumerate()
        .map(|(i, s)| known(s, i % 2 == 0))
        .collect();
    keys.push(known(&missing, true));
    keys[1].ip = Some("127.0.5.42".parse().unwrap()); // stale: that address now holds another device

    let hosts: Vec<IpAddr> = scan::parse_cidr("127.0.5.0/24")
        .unwrap()
        .into_iter()
        .map(IpAddr::V4)
        .collect();
    assert_eq!(hosts.len(), 254);
    let cfg = ScanConfig {
        probe_timeout: Duration::from_millis(400),
        connect_timeout: Duration::from_millis(400),
        concurrency: 64,
        devinfo_port: None,
        ..ScanConfig::default()
    };
    let reports = timeout(
        Duration::from_secs(60),
        scan::scan(hosts, keys, cfg, |_, _| {}),
    )
    .await
    .expect("scan finishes");
    assert_eq!(reports.len(), 254);
    for s in &present {
        let r = reports.iter().find(|r| r.ip == IpAddr::V4(s.ip)).unwrap();
        assert_eq!(
            r.state,
            HostState::Identified {
                id: s.id.clone(),
                name: Some(s.name.clone()),
                version: s.version,
                via: scan::Via::Tcp,
            },
            "{}",
            s.ip
        );
    }
    let r = reports
        .iter()
        .find(|r| r.ip == IpAddr::V4(stranger.ip))
        .unwrap();
    assert_eq!(r.state, HostState::Unidentified);
    let r = reports
        .iter()
        .find(|r| r.ip == IpAddr::V4(missing.ip))
        .unwrap();
    assert_eq!(r.state, HostState::Absent);
    let absent = reports
        .iter()
        .filter(|r| r.state == HostState::Absent)
        .count();
    assert_eq!(absent, 254 - 6);
    sim.shutdown().await;
}
