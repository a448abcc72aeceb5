//! The line-based control channel, driving a connected client's view of the device.

mod common;

use common::*;
use tuya_proto::{DpId, DpValue, Version};
use tuya_sim::control::execute;

#[tokio::test]
async fn control_lines_change_the_device_and_answer_ok_or_error() {
    let id = "bfctl";
    let mut gw = spec(id, Version::V34, ip(2, 90));
    gw.name = "Hall".into();
    gw.children.push(tuya_sim::ChildSpec {
        cid: "c1".into(),
        name: "S".into(),
        dps: dps(&[(1, DpValue::Integer(5))]),
    });
    let sim = start(vec![gw]).await;
    let dev = sim.device(id).unwrap();
    let mut c = Client::connect(dev.addr(), Version::V34, KEY, id).await;
    wait_connected(&dev).await;

    assert_eq!(
        execute(&sim, "set Hall 1=true 3=colour").unwrap(),
        r#"ok set bfctl {"1":true,"3":"colour"}"#
    );
    assert_eq!(
        status_dps(&c.recv().await.unwrap()),
        dps(&[(1, DpValue::Bool(true))])
    );
    assert_eq!(
        status_dps(&c.recv().await.unwrap()),
        dps(&[(3, DpValue::String("colour".into()))])
    );
    assert_eq!(
        execute(&sim, "status bfctl").unwrap(),
        r#"ok {"1":true,"2":50,"3":"colour"}"#
    );

    assert!(execute(&sim, "child bfctl c1 1=7")
        .unwrap()
        .starts_with("ok"));
    let push =
        tuya_proto::payload::StatusUpdate::parse_bytes(&c.recv().await.unwrap().payload).unwrap();
    assert_eq!(push.cid.as_deref(), Some("c1"));
    assert_eq!(execute(&sim, "status bfctl c1").unwrap(), r#"ok {"1":7}"#);
    assert_eq!(
        execute(&sim, "child-offline bfctl c1").unwrap(),
        "ok child-offline bfctl c1"
    );
    assert!(execute(&sim, "child-online bfctl nope")
        .unwrap()
        .starts_with("error"));
    assert!(execute(&sim, "child bfctl nope 1=7")
        .unwrap()
        .starts_with("error"));

    assert_eq!(
        execute(&sim, r#"quirks bfctl {"own_seq":true}"#).unwrap(),
        "ok quirks bfctl"
    );
    assert!(dev.quirks().own_seq);
    assert_eq!(
        execute(&sim, r#"faults bfctl {"delay_ms":5}"#).unwrap(),
        "ok faults bfctl"
    );
    assert_eq!(
        dev.faults().delay,
        Some(std::time::Duration::from_millis(5))
    );
    assert!(execute(&sim, r#"faults bfctl {"drop_ratio":2}"#)
        .unwrap()
        .starts_with("error"));
    assert!(execute(&sim, r#"quirks bfctl {"own_sek":true}"#)
        .unwrap()
        .starts_with("error"));
    assert_eq!(
        execute(
            &sim,
            r#"firmware bfctl {"max_clients":3,"strict_seq":true}"#
        )
        .unwrap(),
        "ok firmware bfctl"
    );
    assert_eq!(dev.firmware().max_clients, 3);
    assert!(dev.firmware().strict_seq);
    for bad in [r#"{"max_clients":0}"#, r#"{"max_clent":2}"#] {
        let answer = execute(&sim, &format!("firmware bfctl {bad}")).unwrap();
        assert!(answer.starts_with("error"), "{bad}: {answer}");
    }
    dev.set_firmware(tuya_sim::Firmware::default());

    let info = execute(&sim, "info bfctl").unwrap();
    assert!(info.contains(r#""connected":true"#), "{info}");
    assert!(info.contains(r#""clients":1"#), "{info}");
    assert_eq!(execute(&sim, "offline bfctl").unwrap(), "ok offline bfctl");
    assert!(c.closed_within(T).await);
    assert_eq!(execute(&sim, "online bfctl").unwrap(), "ok online bfctl");
    let answer = execute(&sim, "rekey bfctl abcdefabcdefabcd").unwrap();
    assert_eq!(answer, "ok rekey bfctl");
    assert!(!answer.contains("abcdefabcdefabcd"), "key echoed");
    assert!(execute(&sim, "rekey bfctl short")
        .unwrap()
        .starts_with("error"));

    assert!(execute(&sim, "set nosuch 1=true")
        .unwrap()
        .starts_with("error"));
    assert!(execute(&sim, "set bfctl 1").unwrap().starts_with("error"));
    assert!(execute(&sim, "frobnicate").unwrap().starts_with("error"));
    assert_eq!(execute(&sim, "   "), None);
    assert_eq!(execute(&sim, "# comment"), None);
    assert_eq!(dev.dps()[&DpId(2)], DpValue::Integer(50));
    stop(sim).await;
}
