//! The force scan against strict firmware: devices that close the connection at the first
//! frame they cannot read (so a burst of probes for many keys is cut short), a 3.1 device, a
//! device answering the unicast REQ_DEVINFO pass, a busy device and one whose key we lack.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::time::timeout;
use tuya_local::scan::{self, HostState, KnownDevice, ScanConfig, Via};
use tuya_proto::{LocalKey, Version};
use tuya_sim::{DeviceSpec, Firmware, SimOptions, Simulator};

/// The simulated devices' REQ_DEVINFO port (each on its own loopback address).
const DEVINFO_PORT: u16 = 47070;

fn strict(id: &str, key: &str, v: Version, last: u8, devinfo: bool) -> DeviceSpec {
    let mut s = DeviceSpec::new(id, key, v, Ipv4Addr::new(127, 0, 70, last));
    s.firmware = Firmware {
        answers_devinfo: Some(devinfo),
        ..Firmware::strict()
    };
    // One client at a time, like older firmware: the busy device below relies on it.
    s.firmware.max_clients = 1;
    s
}

fn known(s: &DeviceSpec) -> KnownDevice {
    KnownDevice {
        id: s.id.clone(),
        key: LocalKey::new(&s.key).unwrap(),
        name: Some(s.name.clone()),
        ip: None,
        version: None,
    }
}

#[tokio::test]
async fn force_scan_identifies_devices_that_close_on_frames_they_cannot_read() {
    let devices = vec![
        strict(
            "strict33aaaaaaaaaaaa",
            "k33k33k33k33k33k",
            Version::V33,
            2,
            false,
        ),
        strict(
            "strict34aaaaaaaaaaaa",
            "k34k34k34k34k34k",
            Version::V34,
            3,
            false,
        ),
        strict(
            "strict35aaaaaaaaaaaa",
            "k35k35k35k35k35k",
            Version::V35,
            4,
            false,
        ),
        strict(
            "strict31aaaaaaaaaaaa",
            "k31k31k31k31k31k",
            Version::V31,
            5,
            false,
        ),
        strict(
            "devinfo35aaaaaaaaaaa",
            "kd5kd5kd5kd5kd5k",
            Version::V35,
            6,
            true,
        ),
        strict(
            "busyaaaaaaaaaaaaaaaa",
            "kbbkbbkbbkbbkbbk",
            Version::V33,
            7,
            false,
        ),
    ];
    let stranger = strict(
        "strangeraaaaaaaaaaaa",
        "nokeynokeynokeyn",
        Version::V34,
        8,
        false,
    );
    let mut all = devices.clone();
    all.push(stranger.clone());
    let sim = Simulator::start(
        all,
        SimOptions {
            devinfo_unicast_port: Some(DEVINFO_PORT),
            ..SimOptions::default()
        },
    )
    .await
    .unwrap();
    // Another client holds the busy device's only slot.
    let busy_addr = SocketAddr::new(IpAddr::V4(devices[5].ip), devices[5].port);
    let _holder = tokio::net::TcpStream::connect(busy_addr).await.unwrap();
    let busy = sim.device(&devices[5].id).unwrap();
    for _ in 0..100 {
        if busy.is_connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(busy.is_connected());

    // Decoy keys first: a batch reaches a device's own key only after frames it cannot read.
    let mut keys: Vec<KnownDevice> = (0..6)
        .map(|i| KnownDevice {
            id: format!("decoy{i}aaaaaaaaaaaaaaa"),
            key: LocalKey::new(&format!("decoydecoydecoy{i}")).unwrap(),
            name: None,
            ip: None,
            version: None,
        })
        .collect();
    keys.extend(devices.iter().map(known));

    let nkeys = keys.len() as u64;
    let hosts: Vec<IpAddr> = scan::parse_cidr("127.0.70.0/28")
        .unwrap()
        .into_iter()
        .map(IpAddr::V4)
        .collect();
    let cfg = ScanConfig {
        probe_timeout: Duration::from_millis(400),
        connect_timeout: Duration::from_millis(400),
        devinfo_port: Some(DEVINFO_PORT),
        devinfo_bind: Some("127.0.0.1:0".parse().unwrap()),
        devinfo_wait: Duration::from_millis(500),
        ..ScanConfig::default()
    };
    let reports = timeout(
        Duration::from_secs(90),
        scan::scan(hosts, keys, cfg.clone(), |_, _| {}),
    )
    .await
    .expect("scan finishes");
    let state = |last: u8| {
        reports
            .iter()
            .find(|r| r.ip == IpAddr::V4(Ipv4Addr::new(127, 0, 70, last)))
            .unwrap()
            .state
            .clone()
    };
    for (d, via) in devices[..5]
        .iter()
        .zip([Via::Tcp, Via::Tcp, Via::Tcp, Via::Tcp, Via::Devinfo])
    {
        assert_eq!(
            state(d.ip.octets()[3]),
            HostState::Identified {
                id: d.id.clone(),
                name: Some(d.name.clone()),
                version: d.version,
                via,
            },
            "{}",
            d.id
        );
    }
    assert_eq!(state(7), HostState::Busy);
    assert_eq!(state(8), HostState::Unidentified);
    assert_eq!(
        reports
            .iter()
            .filter(|r| r.state == HostState::Absent)
            .count(),
        14 - 7
    );
    // Bounded: at most one connection per key and version (plus the busy holder's).
    for d in devices.iter().chain([&stranger]) {
        let n = sim.device(&d.id).unwrap().connections_accepted();
        assert!(n <= nkeys * 4 + 1, "{}: {n} connections", d.id);
    }
    sim.shutdown().await;
}
