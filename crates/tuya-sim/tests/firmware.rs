//! Each firmware rule observably does what it says, over loopback TCP/UDP with the proto
//! client; each default keeps the lenient behaviour. Addresses: 127.0.19.x.

mod common;

use std::time::Duration;

use common::*;
use tuya_proto::{Command, DpId, DpValue, Version};
use tuya_sim::{DeviceHandle, DeviceSpec, Firmware};

fn with_firmware(id: &str, v: Version, host: u8, fw: Firmware) -> DeviceSpec {
    let mut s = spec(id, v, ip(19, host));
    s.firmware = fw;
    s
}

/// Waits until the device counts `n` clients (its accept loop runs concurrently).
async fn wait_clients(dev: &DeviceHandle, n: usize) {
    for _ in 0..300 {
        if dev.client_count() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "device {} has {} clients, not {n}",
        dev.id(),
        dev.client_count()
    );
}

async fn assert_answered(c: &mut Client, what: &str) {
    let seq = c.query(None).await;
    let r = c.recv().await.unwrap_or_else(|e| panic!("{what}: {e:?}"));
    assert_eq!(r.seq, seq, "{what}");
    assert!(status_dps(&r).contains_key(&DpId(1)), "{what}");
}

#[tokio::test]
async fn max_clients_three_serves_three_pushes_to_all_and_closes_a_fourth() {
    let three = Firmware {
        max_clients: 3,
        ..Default::default()
    };
    let sim = start(vec![
        with_firmware("bffw3cl", Version::V34, 10, three),
        with_firmware("bffw1cl", Version::V34, 11, Firmware::default()),
    ])
    .await;
    let dev = sim.device("bffw3cl").unwrap();
    let mut clients = Vec::new();
    for n in 1..=3 {
        clients.push(Client::connect(dev.addr(), Version::V34, KEY, "bffw3cl").await);
        wait_clients(&dev, n).await;
    }
    let mut fourth = Client::connect_raw(dev.addr(), Version::V34, KEY, "bffw3cl").await;
    assert!(fourth.closed_within(T).await, "a fourth client is closed");
    assert_eq!(dev.client_count(), 3);
    // Each client has its own session: each is answered under its own key.
    for (i, c) in clients.iter_mut().enumerate() {
        assert_answered(c, &format!("client {i}")).await;
    }
    dev.set_dp(DpId(1), DpValue::Bool(true));
    for (i, c) in clients.iter_mut().enumerate() {
        let push = c
            .recv()
            .await
            .unwrap_or_else(|e| panic!("client {i}: {e:?}"));
        assert_eq!(push.cmd, Command::Status, "client {i}");
        assert_eq!(status_dps(&push), dps(&[(1, DpValue::Bool(true))]));
    }
    dev.close_client();
    for c in &mut clients {
        assert!(c.closed_within(T).await, "close_client closes every client");
    }
    wait_clients(&dev, 0).await;
    assert!(!dev.is_connected());

    // Default firmware: a second client is closed at once, the first keeps being served.
    let one = sim.device("bffw1cl").unwrap();
    let mut first = Client::connect(one.addr(), Version::V34, KEY, "bffw1cl").await;
    wait_connected(&one).await;
    let mut second = Client::connect_raw(one.addr(), Version::V34, KEY, "bffw1cl").await;
    assert!(
        second.closed_within(T).await,
        "default: second client closed"
    );
    assert_eq!(one.client_count(), 1);
    assert_answered(&mut first, "default first client").await;
    stop(sim).await;
}
