//! Every version: status query, control with ack and push, physical change push, heartbeat,
//! refresh, and 3.4/3.5 negotiation, over real loopback TCP.

mod common;

use common::*;
use tuya_proto::payload;
use tuya_proto::{Command, DpId, DpValue, Version};

async fn exercise(version: Version, host: u8) {
    let id = format!("bfbasic{host:013}");
    let sim = start(vec![spec(&id, version, ip(2, host))]).await;
    let dev = sim.device(&id).unwrap();
    let mut c = Client::connect(dev.addr(), version, KEY, &id).await;
    wait_connected(&dev).await;

    // Status query: reply to the same command, echoing the request's seq.
    let seq = c.query(None).await;
    let r = c.recv().await.expect("status reply");
    assert_eq!(r.cmd, version.query_command(), "{version}");
    assert_eq!(r.seq, seq);
    assert_eq!(r.retcode, Some(0));
    assert_eq!(status_dps(&r), dev.dps());
    assert_eq!(status_dps(&r)[&DpId(2)], DpValue::Integer(50));

    // Control: empty ack with the request's seq, then a STATUS push of the set DPs.
    let set = dps(&[(1, DpValue::Bool(true)), (2, DpValue::Integer(75))]);
    let seq = c.control(None, &set).await;
    let ack = c.recv().await.expect("ack");
    assert_eq!(
        (ack.cmd, ack.seq, ack.payload.len()),
        (version.control_command(), seq, 0)
    );
    let push = c.recv().await.expect("push");
    assert_eq!(push.cmd, Command::Status);
    assert_eq!(status_dps(&push), set);
    assert_eq!(dev.dps()[&DpId(1)], DpValue::Bool(true));
    assert_eq!(dev.dps()[&DpId(2)], DpValue::Integer(75));

    // A physical change is pushed.
    dev.set_dp(DpId(3), DpValue::String("colour".into()));
    let push = c.recv().await.expect("physical push");
    assert_eq!(push.cmd, Command::Status);
    assert_eq!(
        status_dps(&push),
        dps(&[(3, DpValue::String("colour".into()))])
    );
    let upd = payload::StatusUpdate::parse_bytes(&push.payload).unwrap();
    assert!(upd.t.is_some(), "pushes carry t");

    // Heartbeat: an empty reply, cmd 9, same seq.
    let seq = c.heartbeat().await;
    let hb = c.recv().await.expect("heartbeat reply");
    assert_eq!(
        (hb.cmd, hb.seq, hb.payload.len()),
        (Command::HeartBeat, seq, 0)
    );

    // Refresh: an empty UPDATEDPS reply, then the listed DPs as a push.
    let (cmd, body) = payload::refresh(&[DpId(2), DpId(99)]);
    let seq = c.send(cmd, body).await;
    let ack = c.recv().await.expect("refresh ack");
    assert_eq!((ack.cmd, ack.seq), (Command::UpdateDps, seq));
    let push = c.recv().await.expect("refresh push");
    assert_eq!(status_dps(&push), dps(&[(2, DpValue::Integer(75))]));

    stop(sim).await;
}

#[tokio::test]
async fn v31() {
    exercise(Version::V31, 11).await;
}

#[tokio::test]
async fn v33() {
    exercise(Version::V33, 13).await;
}

#[tokio::test]
async fn v34() {
    exercise(Version::V34, 14).await;
}

#[tokio::test]
async fn v35() {
    exercise(Version::V35, 15).await;
}

#[tokio::test]
async fn v32_controls_like_33_and_refuses_dp_query() {
    let id = "bfbasic32";
    let sim = start(vec![spec(id, Version::V32, ip(2, 12))]).await;
    let dev = sim.device(id).unwrap();
    let mut c = Client::connect(dev.addr(), Version::V32, KEY, id).await;
    let seq = c.query(None).await;
    let r = c.recv().await.unwrap();
    assert_eq!((r.seq, r.retcode), (seq, Some(1)));
    assert_eq!(r.payload, b"json obj data unvalid");
    let set = dps(&[(1, DpValue::Bool(true))]);
    c.control(None, &set).await;
    assert_eq!(c.recv().await.unwrap().payload.len(), 0);
    assert_eq!(status_dps(&c.recv().await.unwrap()), set);
    stop(sim).await;
}
