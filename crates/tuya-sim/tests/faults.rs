//! Each injected fault observably does what it says.

mod common;

use std::time::Duration;

use common::*;
use tuya_proto::{Command, DpId, DpValue, Version};
use tuya_sim::Faults;

async fn with_faults(
    id: &str,
    v: Version,
    host: u8,
    f: Faults,
) -> (tuya_sim::Simulator, tuya_sim::DeviceHandle) {
    let mut s = spec(id, v, ip(2, host));
    s.faults = f;
    let sim = start(vec![s]).await;
    let dev = sim.device(id).unwrap();
    (sim, dev)
}

#[tokio::test]
async fn delay_holds_replies_back() {
    let f = Faults {
        delay: Some(Duration::from_millis(1500)),
        ..Default::default()
    };
    let (sim, dev) = with_faults("bfdelay", Version::V33, 60, f).await;
    let mut c = Client::connect(dev.addr(), Version::V33, KEY, "bfdelay").await;
    let seq = c.query(None).await;
    assert!(matches!(
        c.recv_within(Duration::from_millis(300)).await,
        Err(RecvError::Timeout)
    ));
    assert_eq!(c.recv().await.unwrap().seq, seq);
    stop(sim).await;
}

#[tokio::test]
async fn drop_ratio_one_drops_every_reply_and_zero_none() {
    let f = Faults {
        drop_ratio: 1.0,
        ..Default::default()
    };
    let (sim, dev) = with_faults("bfdrop", Version::V33, 61, f).await;
    let mut c = Client::connect(dev.addr(), Version::V33, KEY, "bfdrop").await;
    c.query(None).await;
    c.heartbeat().await;
    assert!(matches!(
        c.recv_within(Duration::from_millis(400)).await,
        Err(RecvError::Timeout)
    ));
    dev.set_faults(Faults::default());
    let seq = c.query(None).await;
    assert_eq!(c.recv().await.unwrap().seq, seq);
    stop(sim).await;
}

#[tokio::test]
async fn close_after_frames() {
    let f = Faults {
        close_after_frames: Some(2),
        ..Default::default()
    };
    let (sim, dev) = with_faults("bfclose", Version::V33, 62, f).await;
    let mut c = Client::connect(dev.addr(), Version::V33, KEY, "bfclose").await;
    c.query(None).await;
    assert!(c.recv().await.is_ok());
    c.heartbeat().await;
    assert_eq!(
        c.recv().await.unwrap().cmd,
        Command::HeartBeat,
        "the last frame is answered"
    );
    assert!(c.closed_within(T).await);
    stop(sim).await;
}

#[tokio::test]
async fn garbage_before_frames_is_skipped_by_a_resyncing_client() {
    let f = Faults {
        garbage: true,
        ..Default::default()
    };
    let (sim, dev) = with_faults("bfgarbage", Version::V34, 63, f).await;
    let mut c = Client::connect(dev.addr(), Version::V34, KEY, "bfgarbage").await;
    let seq = c.query(None).await;
    assert_eq!(c.recv().await.unwrap().seq, seq);
    assert!(c.skipped() > 0, "no garbage seen");
    stop(sim).await;
}

#[tokio::test]
async fn bad_integrity_corrupts_every_version_trailer() {
    for (v, host) in [
        (Version::V31, 64),
        (Version::V33, 65),
        (Version::V34, 66),
        (Version::V35, 67),
    ] {
        let id = format!("bfbad{host}");
        let (sim, dev) = with_faults(&id, v, host, Faults::default()).await;
        let mut c = Client::connect(dev.addr(), v, KEY, &id).await;
        dev.set_faults(Faults {
            bad_integrity: true,
            ..Default::default()
        });
        c.query(None).await;
        match c.recv().await {
            Err(RecvError::Decode(e)) => {
                let text = e.to_string().to_lowercase();
                assert!(
                    text.contains("crc")
                        || text.contains("hmac")
                        || text.contains("tag")
                        || text.contains("gcm")
                        || text.contains("auth"),
                    "{v}: {e}"
                );
            }
            other => panic!("{v}: expected an integrity error, got {other:?}"),
        }
        stop(sim).await;
    }
}

#[tokio::test]
async fn refuse_for_closes_connections_at_first() {
    let f = Faults {
        refuse_for: Some(Duration::from_secs(60)),
        ..Default::default()
    };
    let (sim, dev) = with_faults("bfrefuse", Version::V33, 68, f).await;
    let mut c = Client::connect_raw(dev.addr(), Version::V33, KEY, "bfrefuse").await;
    assert!(c.closed_within(T).await);
    assert_eq!(dev.connections_accepted(), 1);
    dev.set_faults(Faults::default());
    let mut c = Client::connect(dev.addr(), Version::V33, KEY, "bfrefuse").await;
    c.control(None, &dps(&[(1, DpValue::Bool(true))])).await;
    assert_eq!(c.recv().await.unwrap().payload.len(), 0);
    assert_eq!(dev.dps()[&DpId(1)], DpValue::Bool(true));
    stop(sim).await;
}
