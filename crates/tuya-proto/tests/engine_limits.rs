//! Client engine, hostile or broken devices: the state kept for a device stays bounded whatever
//! it reports (said once per kind per connection), DP keys beyond `u32` are ignored rather than
//! truncated, and oversized or truncated frames are named when a reply goes missing.

mod engine;

use engine::*;
use tuya_proto::client::{
    ClientError, Event, Ignored, Request, MAX_CHILDREN, MAX_DPS, MAX_VALUE_LEN,
};
use tuya_proto::{Command, DpId, DpValue, Dps, Message, Version};

fn ignored(ev: &[Event]) -> Vec<&Ignored> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Ignored(i) => Some(i),
            _ => None,
        })
        .collect()
}

#[test]
fn a_device_pushing_ever_more_dps_children_and_long_values_stays_bounded() {
    let mut rig = Rig::connected(cfg(Version::V33));
    // Ever more DP ids, pushed a few at a time.
    let mut said = Vec::new();
    for round in 0..40u32 {
        let d: Dps = (0..10)
            .map(|i| (DpId(round * 10 + i + 1), DpValue::Integer(1)))
            .collect();
        let p = rig.dev.push(None, &d);
        rig.deliver(&[p]);
        said.extend(ignored(&rig.take_events()).into_iter().cloned());
    }
    assert_eq!(rig.conn.memory().dps.len(), MAX_DPS);
    assert!(
        matches!(&said[..], [Ignored::TooManyDps { cid: None, dp }] if dp.0 == MAX_DPS as u32 + 1),
        "said once: {said:?}"
    );
    assert!(
        said[0].to_string().contains("more than 255 DPs"),
        "{}",
        said[0]
    );
    // Known DPs still change.
    let p = rig.dev.push(None, &dps(&[(1, 2)]));
    rig.deliver(&[p]);
    assert_eq!(rig.conn.memory().dps[&DpId(1)], DpValue::Integer(2));

    // Ever more children.
    let mut said = Vec::new();
    for c in 0..MAX_CHILDREN + 50 {
        let p = rig.dev.push(Some(&format!("child{c}")), &dps(&[(1, true)]));
        rig.deliver(&[p]);
        said.extend(ignored(&rig.take_events()).into_iter().cloned());
    }
    assert_eq!(rig.conn.memory().children.len(), MAX_CHILDREN);
    assert!(
        matches!(&said[..], [Ignored::TooManyChildren { .. }]),
        "{said:?}"
    );

    // A value longer than the cap: the DP keeps its last value.
    let p = rig
        .dev
        .push(None, &dps(&[(2, "x".repeat(MAX_VALUE_LEN + 1).as_str())]));
    rig.deliver(&[p]);
    let ev = rig.take_events();
    assert!(
        matches!(
            ignored(&ev)[..],
            [Ignored::ValueTooLong { dp: DpId(2), .. }]
        ),
        "{ev:?}"
    );
    assert_eq!(rig.conn.memory().dps[&DpId(2)], DpValue::Integer(1));
    assert!(!rig.conn.is_closed(), "bounded, not disconnected");
}

#[test]
fn dp_keys_beyond_u32_are_ignored_not_truncated_into_other_dps() {
    let mut rig = Rig::connected(cfg(Version::V33));
    // 2^32 + 1 truncates to 1.
    let body = br#"{"devId":"x","dps":{"4294967297":true,"2":5},"t":1700000000}"#.to_vec();
    let m = Message::reply(Version::V33, 0, Command::Status, body);
    rig.deliver(&[m]);
    let ev = rig.take_events();
    assert!(
        matches!(&ignored(&ev)[..], [Ignored::NotDpIds { keys }] if keys == &["4294967297"]),
        "{ev:?}"
    );
    assert_eq!(rig.conn.memory().dps.get(&DpId(1)), None);
    assert_eq!(rig.conn.memory().dps[&DpId(2)], DpValue::Integer(5));
}

#[test]
fn an_oversized_frame_is_named_when_the_reply_goes_missing() {
    let mut rig = Rig::connected(cfg(Version::V33));
    let a = rig.submit(Request::status());
    rig.one_frame();
    // A 55AA header declaring a 1 MiB frame, then its first bytes.
    let mut f = vec![0, 0, 0x55, 0xaa, 0, 0, 0, 1, 0, 0, 0, 10];
    f.extend((1u32 << 20).to_be_bytes());
    f.extend([0u8; 64]);
    rig.deliver_bytes(&f);
    assert!(matches!(
        rig.take_events()[..],
        [Event::FrameDropped(ClientError::Undecodable { .. })]
    ));
    rig.advance(secs(5));
    let e = rig.reply(a).unwrap().unwrap_err();
    assert!(
        e.to_string()
            .contains("frame length 1048576 exceeds the limit"),
        "{e}"
    );
}

#[test]
fn a_truncated_reply_is_named_when_the_rest_never_comes() {
    let mut rig = Rig::connected(cfg(Version::V33));
    let a = rig.submit(Request::status());
    let q = rig.one_frame();
    let r = rig.dev.status(q.cmd, q.seq, None, &dps(&[(1, true)]));
    let bytes = rig.dev.encode(&[r]);
    rig.deliver_bytes(&bytes[..bytes.len() / 2]);
    rig.advance(secs(5));
    let e = rig.reply(a).unwrap().unwrap_err();
    assert!(matches!(e, ClientError::Timeout { .. }), "{e:?}");
    assert!(e.to_string().contains("truncated frame"), "{e}");
}
