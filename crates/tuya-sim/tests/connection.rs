//! Connection rules of real firmware: negotiation, one client at a time, silence timeout, frames
//! with a wrong key ignored, offline and re-keying.

mod common;

use std::time::Duration;

use common::*;
use tuya_proto::{Command, DpId, DpValue, Version};

const WRONG: &str = "fedcba9876543210";

#[tokio::test]
async fn negotiation_uses_a_fresh_device_nonce_per_connection() {
    for (v, host) in [(Version::V34, 20), (Version::V35, 21)] {
        let id = format!("bfneg{host}");
        let sim = start(vec![spec(&id, v, ip(2, host))]).await;
        let dev = sim.device(&id).unwrap();
        let mut nonces = Vec::new();
        for _ in 0..2 {
            let mut c = Client::connect_raw(dev.addr(), v, KEY, &id).await;
            let resp = c.negotiate().await.expect("negotiates");
            assert_eq!(resp.cmd, Command::SessKeyNegResp);
            nonces.push(resp.payload[..16].to_vec());
            // The session works: a query is answered.
            let seq = c.query(None).await;
            assert_eq!(c.recv().await.unwrap().seq, seq, "{v}");
            drop(c);
            wait_disconnected(&dev).await;
        }
        assert_ne!(nonces[0], nonces[1], "{v}: device nonce reused");
        stop(sim).await;
    }
}

#[tokio::test]
async fn data_frames_before_negotiation_are_refused() {
    for (v, host) in [(Version::V34, 22), (Version::V35, 23)] {
        let id = format!("bfpre{host}");
        let sim = start(vec![spec(&id, v, ip(2, host))]).await;
        let dev = sim.device(&id).unwrap();
        let mut c = Client::connect_raw(dev.addr(), v, KEY, &id).await;
        // Encode with a made-up session key so the frame is well formed.
        c.codec
            .set_session_key(tuya_proto::SessionKey::from_bytes([7; 16]));
        c.query(None).await;
        c.control(None, &dps(&[(1, DpValue::Bool(true))])).await;
        assert!(
            matches!(
                c.recv_within(Duration::from_millis(400)).await,
                Err(RecvError::Timeout)
            ),
            "{v}"
        );
        assert_eq!(
            dev.dps()[&DpId(1)],
            DpValue::Bool(false),
            "{v}: control applied without a session"
        );
        stop(sim).await;
    }
}

#[tokio::test]
async fn wrong_key_frames_are_ignored() {
    for (v, host) in [(Version::V31, 24), (Version::V33, 25)] {
        let id = format!("bfwrong{host}");
        let sim = start(vec![spec(&id, v, ip(2, host))]).await;
        let dev = sim.device(&id).unwrap();
        let mut c = Client::connect_raw(dev.addr(), v, WRONG, &id).await;
        c.control(None, &dps(&[(1, DpValue::Bool(true))])).await;
        if v != Version::V31 {
            // 3.1 queries are plaintext and readable by anyone; 3.3 ones are encrypted.
            c.query(None).await;
        }
        assert!(
            matches!(
                c.recv_within(Duration::from_millis(400)).await,
                Err(RecvError::Timeout)
            ),
            "{v}"
        );
        assert_eq!(dev.dps()[&DpId(1)], DpValue::Bool(false), "{v}");
        stop(sim).await;
    }
    // 3.4/3.5: the device's negotiation answer proves it has another key.
    for (v, host) in [(Version::V34, 26), (Version::V35, 27)] {
        let id = format!("bfwrong{host}");
        let sim = start(vec![spec(&id, v, ip(2, host))]).await;
        let dev = sim.device(&id).unwrap();
        let mut c = Client::connect_raw(dev.addr(), v, WRONG, &id).await;
        // The device cannot authenticate our START: it ignores it, as firmware does.
        let err = c.negotiate().await.unwrap_err();
        assert!(err.contains("Timeout"), "{v}: {err}");
        drop(c);
        wait_disconnected(&dev).await;
        let mut c = Client::connect_raw(dev.addr(), v, KEY, &id).await;
        c.negotiate().await.expect("the right key still negotiates");
        stop(sim).await;
    }
}

#[tokio::test]
async fn a_second_client_is_closed_while_the_first_keeps_working() {
    let id = "bfsecond";
    let sim = start(vec![spec(id, Version::V33, ip(2, 28))]).await;
    let dev = sim.device(id).unwrap();
    let mut first = Client::connect(dev.addr(), Version::V33, KEY, id).await;
    wait_connected(&dev).await;
    let seq = first.query(None).await;
    assert_eq!(first.recv().await.unwrap().seq, seq);
    let mut second = Client::connect_raw(dev.addr(), Version::V33, KEY, id).await;
    assert!(second.closed_within(T).await, "second client not closed");
    let seq = first.query(None).await;
    assert_eq!(
        first.recv().await.unwrap().seq,
        seq,
        "first client broken by the second"
    );
    assert_eq!(dev.connections_accepted(), 2);
    stop(sim).await;
}

#[tokio::test]
async fn a_silent_client_is_dropped_and_heartbeats_keep_it() {
    let id = "bfsilent";
    let mut s = spec(id, Version::V33, ip(2, 29));
    s.heartbeat_timeout = Duration::from_millis(1500);
    let sim = start(vec![s]).await;
    let dev = sim.device(id).unwrap();
    let mut c = Client::connect(dev.addr(), Version::V33, KEY, id).await;
    // Four beats 400 ms apart span longer than the 1.5 s timeout.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let seq = c.heartbeat().await;
        let r = c.recv().await.expect("heartbeat reply");
        assert_eq!((r.cmd, r.seq), (Command::HeartBeat, seq));
    }
    assert!(c.closed_within(T).await, "silent client kept");
    stop(sim).await;
}

#[tokio::test]
async fn offline_closes_and_refuses_then_online_serves() {
    let id = "bfoffline";
    let sim = start(vec![spec(id, Version::V33, ip(2, 30))]).await;
    let dev = sim.device(id).unwrap();
    let mut c = Client::connect(dev.addr(), Version::V33, KEY, id).await;
    wait_connected(&dev).await;
    dev.set_online(false);
    assert!(c.closed_within(T).await);
    let mut c = Client::connect_raw(dev.addr(), Version::V33, KEY, id).await;
    assert!(c.closed_within(T).await, "offline device served a client");
    dev.set_online(true);
    let mut c = Client::connect(dev.addr(), Version::V33, KEY, id).await;
    let seq = c.query(None).await;
    assert_eq!(c.recv().await.unwrap().seq, seq);
    stop(sim).await;
}

#[tokio::test]
async fn rekey_drops_the_client_and_only_the_new_key_works() {
    let new_key = "newkey0123456789";
    for (v, host) in [(Version::V33, 31), (Version::V34, 32)] {
        let id = format!("bfrekey{host}");
        let sim = start(vec![spec(&id, v, ip(2, host))]).await;
        let dev = sim.device(&id).unwrap();
        let mut c = Client::connect(dev.addr(), v, KEY, &id).await;
        let seq = c.query(None).await;
        assert_eq!(c.recv().await.unwrap().seq, seq, "{v}");
        dev.set_local_key(new_key);
        assert!(c.closed_within(T).await, "{v}");
        wait_disconnected(&dev).await;
        let mut c = Client::connect(dev.addr(), v, new_key, &id).await;
        let seq = c.query(None).await;
        assert_eq!(c.recv().await.unwrap().seq, seq, "{v}");
        drop(c);
        stop(sim).await;
    }
}
