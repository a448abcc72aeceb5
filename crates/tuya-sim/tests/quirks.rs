//! Each quirk observably does what it says.

mod common;

use std::time::Duration;

use common::*;
use tuya_proto::payload::{self, StatusUpdate};
use tuya_proto::{Command, DpId, DpValue, Version};
use tuya_sim::{MultiDp, Quirks};

async fn with_quirks(
    id: &str,
    v: Version,
    host: u8,
    q: Quirks,
) -> (tuya_sim::Simulator, tuya_sim::DeviceHandle, Client) {
    let mut s = spec(id, v, ip(2, host));
    s.quirks = q;
    let sim = start(vec![s]).await;
    let dev = sim.device(id).unwrap();
    let c = Client::connect(dev.addr(), v, KEY, id).await;
    wait_connected(&dev).await;
    (sim, dev, c)
}

#[tokio::test]
async fn own_seq_replies_do_not_echo_the_request() {
    let q = Quirks {
        own_seq: true,
        ..Default::default()
    };
    let (sim, _dev, mut c) = with_quirks("bfownseq", Version::V34, 50, q).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let seq = c.query(None).await;
        let r = c.recv().await.unwrap();
        assert_eq!(r.cmd, Command::DpQueryNew);
        assert_ne!(r.seq, seq);
        seen.push(r.seq);
    }
    assert!(
        seen.windows(2).all(|w| w[1] > w[0]),
        "device counter does not advance: {seen:?}"
    );
    stop(sim).await;
}

#[tokio::test]
async fn seq_zero_pushes_and_heartbeats() {
    let q = Quirks {
        seq_zero_pushes: true,
        ..Default::default()
    };
    let (sim, dev, mut c) = with_quirks("bfseq0", Version::V33, 51, q).await;
    c.heartbeat().await;
    let r = c.recv().await.unwrap();
    assert_eq!((r.cmd, r.seq), (Command::HeartBeat, 0));
    dev.set_dp(DpId(1), DpValue::Bool(true));
    let r = c.recv().await.unwrap();
    assert_eq!((r.cmd, r.seq), (Command::Status, 0));
    // Well-behaved default for comparison: pushes carry a non-zero counter.
    dev.set_quirks(Quirks::default());
    dev.set_dp(DpId(1), DpValue::Bool(false));
    assert_ne!(c.recv().await.unwrap().seq, 0);
    stop(sim).await;
}

#[tokio::test]
async fn header_counter_fills_the_push_header() {
    let q = Quirks {
        header_counter: true,
        ..Default::default()
    };
    let (sim, dev, mut c) = with_quirks("bfhdr", Version::V33, 52, q).await;
    dev.set_dp(DpId(2), DpValue::Integer(1));
    let r = c.recv().await.unwrap();
    let h = r.header.expect("3.3 pushes have a header");
    assert_eq!(&h[..3], b"3.3");
    assert!(
        h[3..].iter().any(|&b| b != 0),
        "header bytes all zero: {h:?}"
    );
    assert_eq!(status_dps(&r), dps(&[(2, DpValue::Integer(1))]));
    stop(sim).await;
}

#[tokio::test]
async fn status_without_t_and_push_only_dps() {
    let q = Quirks {
        status_without_t: true,
        push_only_dps: vec![DpId(3)],
        ..Default::default()
    };
    let (sim, _dev, mut c) = with_quirks("bfnot", Version::V33, 53, q).await;
    c.query(None).await;
    let r = c.recv().await.unwrap();
    let st = StatusUpdate::parse_bytes(&r.payload).unwrap();
    assert_eq!(st.t, None);
    assert!(
        st.dps.contains_key(&DpId(1)) && !st.dps.contains_key(&DpId(3)),
        "{:?}",
        st.dps
    );
    // The push-only DP still comes in a refresh push, with t.
    let (cmd, body) = payload::refresh(&[DpId(3)]);
    c.send(cmd, body).await;
    let _ack = c.recv().await.unwrap();
    let push = StatusUpdate::parse_bytes(&c.recv().await.unwrap().payload).unwrap();
    assert_eq!(push.dps, dps(&[(3, DpValue::String("white".into()))]));
    assert!(push.t.is_some());
    stop(sim).await;
}

#[tokio::test]
async fn multi_dp_reject_and_half_apply() {
    let two = dps(&[(1, DpValue::Bool(true)), (2, DpValue::Integer(99))]);
    let q = Quirks {
        multi_dp: MultiDp::Reject,
        ..Default::default()
    };
    let (sim, dev, mut c) = with_quirks("bfmulti", Version::V33, 54, q).await;
    let seq = c.control(None, &two).await;
    let r = c.recv().await.unwrap();
    assert_eq!((r.seq, r.retcode), (seq, Some(1)));
    assert_eq!(dev.dps()[&DpId(1)], DpValue::Bool(false));
    // One DP at a time still works.
    c.control(None, &dps(&[(2, DpValue::Integer(7))])).await;
    assert_eq!(c.recv().await.unwrap().payload.len(), 0);
    assert_eq!(
        status_dps(&c.recv().await.unwrap()),
        dps(&[(2, DpValue::Integer(7))])
    );

    dev.set_quirks(Quirks {
        multi_dp: MultiDp::HalfApply,
        ..Default::default()
    });
    c.control(None, &two).await;
    assert_eq!(c.recv().await.unwrap().payload.len(), 0, "ack");
    assert_eq!(
        status_dps(&c.recv().await.unwrap()),
        dps(&[(1, DpValue::Bool(true))])
    );
    assert_eq!(
        dev.dps()[&DpId(2)],
        DpValue::Integer(7),
        "second DP applied"
    );
    stop(sim).await;
}

#[tokio::test]
async fn commands_closer_than_min_gap_are_dropped() {
    let q = Quirks {
        min_command_gap: Some(Duration::from_secs(30)),
        ..Default::default()
    };
    let (sim, dev, mut c) = with_quirks("bfgap", Version::V33, 55, q).await;
    c.control(None, &dps(&[(2, DpValue::Integer(1))])).await;
    assert_eq!(c.recv().await.unwrap().payload.len(), 0);
    let _push = c.recv().await.unwrap();
    c.control(None, &dps(&[(2, DpValue::Integer(2))])).await;
    assert!(matches!(
        c.recv_within(Duration::from_millis(400)).await,
        Err(RecvError::Timeout)
    ));
    assert_eq!(dev.dps()[&DpId(2)], DpValue::Integer(1));
    // Queries are not commands: still answered.
    c.query(None).await;
    assert_eq!(c.recv().await.unwrap().cmd, Command::DpQuery);
    stop(sim).await;
}

#[tokio::test]
async fn refresh_fails_answers_query_dp_failed() {
    let q = Quirks {
        refresh_fails: true,
        ..Default::default()
    };
    let (sim, _dev, mut c) = with_quirks("bfrefail", Version::V35, 56, q).await;
    let (cmd, body) = payload::refresh(&[DpId(1)]);
    c.send(cmd, body).await;
    let r = c.recv().await.unwrap();
    assert_eq!((r.cmd, r.retcode), (Command::UpdateDps, Some(1)));
    assert_eq!(r.payload, b"query dp failed");
    stop(sim).await;
}

#[tokio::test]
async fn split_pushes_report_a_multi_dp_change_in_two_frames() {
    let q = Quirks {
        split_pushes: true,
        ..Default::default()
    };
    let (sim, _dev, mut c) = with_quirks("bfsplit", Version::V34, 57, q).await;
    let set = dps(&[
        (1, DpValue::Bool(true)),
        (2, DpValue::Integer(3)),
        (3, DpValue::String("x".into())),
    ]);
    c.control(None, &set).await;
    assert_eq!(c.recv().await.unwrap().payload.len(), 0);
    let a = status_dps(&c.recv().await.unwrap());
    let b = status_dps(&c.recv().await.unwrap());
    assert!(!a.is_empty() && !b.is_empty());
    let mut all = a.clone();
    all.extend(b);
    assert_eq!(all, set);
    assert!(a.len() < set.len());
    stop(sim).await;
}

#[tokio::test]
async fn encrypted_errors_seal_the_device22_refusal() {
    let id = "bfencerr";
    let mut s = spec(id, Version::V33, ip(2, 58));
    s.device22 = true;
    let sim = start(vec![s]).await;
    let dev = sim.device(id).unwrap();
    let mut c = Client::connect(dev.addr(), Version::V33, KEY, id).await;
    c.query(None).await;
    let r = c.recv().await.unwrap();
    assert!(r.plaintext, "default: plaintext error");
    dev.set_quirks(Quirks {
        encrypted_errors: true,
        ..Default::default()
    });
    c.query(None).await;
    let r = c.recv().await.unwrap();
    assert_eq!((r.retcode, r.plaintext), (Some(1), false));
    assert_eq!(r.payload, b"json obj data unvalid");
    stop(sim).await;
}
