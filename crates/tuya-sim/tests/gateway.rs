//! Gateways (children addressed by cid) and device22 devices.

mod common;

use common::*;
use tuya_proto::payload::{self, StatusUpdate, Target};
use tuya_proto::{Command, DpId, DpValue, Version};
use tuya_sim::ChildSpec;

const CID: &str = "a4c1380000000001";

fn gateway(id: &str, v: Version, host: u8) -> tuya_sim::DeviceSpec {
    let mut s = spec(id, v, ip(2, host));
    s.children.push(ChildSpec {
        cid: CID.into(),
        name: "Sensor".into(),
        dps: dps(&[(1, DpValue::Integer(215)), (2, DpValue::Bool(false))]),
    });
    s
}

#[tokio::test]
async fn child_query_control_and_push_carry_the_cid() {
    for (v, host) in [(Version::V33, 40), (Version::V34, 41), (Version::V35, 42)] {
        let id = format!("bfgw{host}");
        let sim = start(vec![gateway(&id, v, host)]).await;
        let dev = sim.device(&id).unwrap();
        let mut c = Client::connect(dev.addr(), v, KEY, &id).await;
        wait_connected(&dev).await;

        c.query(Some(CID)).await;
        let r = c.recv().await.unwrap();
        let st = StatusUpdate::parse_bytes(&r.payload).unwrap();
        assert_eq!(st.cid.as_deref(), Some(CID), "{v}");
        assert_eq!(st.dps, dev.child_dps(CID).unwrap(), "{v}");

        let set = dps(&[(2, DpValue::Bool(true))]);
        let seq = c.control(Some(CID), &set).await;
        let ack = c.recv().await.unwrap();
        assert_eq!((ack.seq, ack.payload.len()), (seq, 0), "{v}");
        let push = StatusUpdate::parse_bytes(&c.recv().await.unwrap().payload).unwrap();
        assert_eq!(
            (push.cid.as_deref(), push.dps),
            (Some(CID), set.clone()),
            "{v}"
        );
        assert_eq!(
            dev.child_dps(CID).unwrap()[&DpId(2)],
            DpValue::Bool(true),
            "{v}"
        );
        assert_eq!(
            dev.dps()[&DpId(2)],
            DpValue::Integer(50),
            "{v}: the gateway's own DP changed"
        );

        dev.set_child_dp(CID, DpId(1), DpValue::Integer(230));
        let push = StatusUpdate::parse_bytes(&c.recv().await.unwrap().payload).unwrap();
        assert_eq!(push.cid.as_deref(), Some(CID), "{v}");
        assert_eq!(push.dps, dps(&[(1, DpValue::Integer(230))]), "{v}");

        // Unknown child: retcode 1, "devid not found".
        c.query(Some("nosuchchild")).await;
        let r = c.recv().await.unwrap();
        assert_eq!(r.retcode, Some(1), "{v}");
        assert_eq!(r.payload, b"devid not found", "{v}");

        // No cid on a gateway: "json obj data unvalid".
        c.query(None).await;
        let r = c.recv().await.unwrap();
        assert_eq!(
            (r.retcode, r.payload.as_slice()),
            (Some(1), &b"json obj data unvalid"[..]),
            "{v}"
        );

        // Online-status query: answered by 3.4+ gateways only.
        let (cmd, body) = payload::subdev_online_query();
        c.send(cmd, body).await;
        if v.uses_session_key() {
            let r = c.recv().await.unwrap();
            assert_eq!(r.cmd, Command::LanExtStream);
            assert_eq!(r.json().unwrap()["data"]["online"][0], CID, "{v}");
            // An offline child is reported so, and still answers with its cached status.
            assert!(dev.set_child_online(CID, false));
            let (cmd, body) = payload::subdev_online_query();
            c.send(cmd, body).await;
            let j = c.recv().await.unwrap().json().unwrap();
            assert_eq!(j["data"]["offline"][0], CID, "{v}");
            assert_eq!(j["data"]["online"].as_array().map(Vec::len), Some(0), "{v}");
            c.query(Some(CID)).await;
            let st = StatusUpdate::parse_bytes(&c.recv().await.unwrap().payload).unwrap();
            assert_eq!(st.dps, dev.child_dps(CID).unwrap(), "{v}");
        } else {
            assert!(matches!(
                c.recv_within(std::time::Duration::from_millis(300)).await,
                Err(RecvError::Timeout)
            ));
        }
        stop(sim).await;
    }
}

#[tokio::test]
async fn device22_refuses_dp_query_and_answers_null_control_without_changing_state() {
    let id = "bfdev22";
    let mut s = spec(id, Version::V33, ip(2, 43));
    s.device22 = true;
    let sim = start(vec![s]).await;
    let dev = sim.device(id).unwrap();
    let mut c = Client::connect(dev.addr(), Version::V33, KEY, id).await;
    let seq = c.query(None).await;
    let r = c.recv().await.unwrap();
    assert_eq!((r.seq, r.retcode, r.plaintext), (seq, Some(1), true));
    assert_eq!(r.payload, b"json obj data unvalid");

    let t = Target {
        version: Version::V33,
        dev_id: id,
        cid: None,
        t: 1,
    };
    let (cmd, body) = payload::query_device22(&t, &[DpId(1), DpId(2), DpId(77)]);
    let seq = c.send(cmd, body).await;
    let ack = c.recv().await.unwrap();
    assert_eq!(
        (ack.cmd, ack.seq, ack.payload.len()),
        (Command::ControlNew, seq, 0)
    );
    let r = c.recv().await.unwrap();
    assert_eq!(
        status_dps(&r),
        dps(&[(1, DpValue::Bool(false)), (2, DpValue::Integer(50))])
    );
    assert_eq!(dev.dps()[&DpId(1)], DpValue::Bool(false));
    assert_eq!(dev.dps().len(), 3, "the null query created DPs");
    stop(sim).await;
}
