//! Client engine, fallbacks: device22 queries, one DP per set, sets split under the device's
//! frame cap, and version detection.

mod engine;

use engine::*;
use tuya_proto::client::{
    Attempt, ClientError, Event, Fallback, Memory, Output, Request, VersionProbe, DEVICE_MAX_FRAME,
};
use tuya_proto::payload::ControlRequest;
use tuya_proto::{Command, DpId, DpValue, Dps, Message, Version};

fn learnt(ev: &[Event]) -> Vec<Fallback> {
    ev.iter()
        .filter_map(|e| match e {
            Event::FallbackLearnt { fallback, .. } => Some(*fallback),
            _ => None,
        })
        .collect()
}

fn control_of(m: &Message) -> ControlRequest {
    ControlRequest::parse_bytes(&m.payload).expect("a control payload")
}

#[test]
fn a_refused_query_switches_to_device22_and_the_next_connection_remembers() {
    for v in [Version::V33, Version::V34] {
        let mut rig = Rig::new(cfg(v));
        let want = dps(&[(1, true), (2, false)]);
        rig.dev.dps = want.clone();
        let q = rig.one_frame();
        assert_eq!(q.cmd, v.query_command());
        let e = rig.dev.error(q.cmd, q.seq, "json obj data unvalid");
        rig.deliver(&[e]);
        assert_eq!(learnt(&rig.take_events()), [Fallback::Device22], "{v}");
        assert!(rig.conn.memory().device22);

        let q22 = rig.one_frame();
        assert_eq!(q22.cmd, Command::ControlNew);
        let req = control_of(&q22);
        assert!(req.dps.is_empty());
        assert_eq!(req.queried, (1..=20).map(DpId).collect::<Vec<_>>());
        // An empty ack first: not the answer yet.
        let ack = rig.dev.ack(Command::ControlNew, q22.seq);
        rig.deliver(&[ack]);
        assert!(rig.take_events().is_empty());
        let p = rig.dev.push(None, &want);
        rig.deliver(&[p]);
        assert_eq!(
            rig.take_events(),
            vec![
                Event::Update {
                    cid: None,
                    changed: want.clone(),
                    pushed: false
                },
                Event::Connected { version: v }
            ]
        );

        // Later reads are device22 reads too.
        let id = rig.submit(Request::status());
        rig.serve();
        assert_eq!(rig.reply_dps(id), want);
        assert_eq!(rig.dev.log.last().unwrap().cmd, Command::ControlNew);

        // A new connection given the memory asks the device22 way at once, naming the DPs it
        // knows (mapping and memory); the answer may come as CONTROL_NEW.
        let mem = rig.conn.memory().clone();
        let mut c = cfg(v);
        c.known_dps = vec![DpId(101), DpId(1)];
        let mut rig = Rig::with(c, mem, ScriptedDevice::new(v, 8));
        let q = rig.one_frame();
        assert_eq!(q.cmd, Command::ControlNew, "{v}");
        assert_eq!(control_of(&q).queried, [DpId(1), DpId(2), DpId(101)]);
        let r = rig
            .dev
            .status(Command::ControlNew, q.seq, None, &dps(&[(1, false)]));
        rig.deliver(&[r]);
        let ev = rig.take_events();
        assert_eq!(ev.last(), Some(&Event::Connected { version: v }));
        assert!(learnt(&ev).is_empty());
        assert_eq!(rig.conn.memory().dps, dps(&[(1, false), (2, false)]));
    }
}

fn two() -> Dps {
    let mut d = dps(&[(1, true)]);
    d.insert(DpId(2), DpValue::Integer(5));
    d
}

#[test]
fn a_refused_multi_dp_set_is_sent_one_dp_at_a_time() {
    let mut rig = Rig::connected(cfg(Version::V33));
    let id = rig.submit(Request::set(two()));
    let c = rig.one_frame();
    assert_eq!(control_of(&c).dps, two());
    let e = rig.dev.error(c.cmd, c.seq, "data format error");
    rig.deliver(&[e]);
    assert_eq!(learnt(&rig.take_events()), [Fallback::SingleDp]);
    assert!(rig.conn.memory().single_dp);

    for want in [dps(&[(1, true)]), dps(&[(2, 5)])] {
        let c = rig.one_frame();
        assert_eq!(c.cmd, Command::Control);
        assert_eq!(control_of(&c).dps, want);
        let a = rig.dev.answer(&c);
        assert_eq!(a.len(), 2, "ack and push");
        rig.deliver(&a);
    }
    assert_eq!(rig.reply_dps(id), two());
    assert_eq!(rig.dev.dps, two());

    // From now on, straight to one at a time.
    let id = rig.submit(Request::set(dps(&[(3, 1), (4, 2)])));
    let c = rig.one_frame();
    assert_eq!(control_of(&c).dps, dps(&[(3, 1)]));
    let a = rig.dev.answer(&c);
    rig.deliver(&a);
    rig.serve();
    assert_eq!(rig.reply_dps(id).len(), 4);
}

#[test]
fn a_half_applied_set_is_read_back_and_the_rest_sent_alone() {
    let mut rig = Rig::new(cfg(Version::V33));
    rig.dev.dps = dps(&[(1, false)]);
    rig.dev.dps.insert(DpId(2), DpValue::Integer(0));
    rig.connect();
    let id = rig.submit(Request::set(two()));
    let c = rig.one_frame();
    assert_eq!(control_of(&c).dps, two());
    // Acked, but only DP 1 applied and pushed.
    rig.dev.dps.insert(DpId(1), DpValue::Bool(true));
    let ack = rig.dev.ack(c.cmd, c.seq);
    let p = rig.dev.push(None, &dps(&[(1, true)]));
    rig.deliver(&[ack, p]);
    assert!(rig.client_frames().is_empty());
    assert_eq!(rig.conn.poll_timeout(), Some(rig.now + secs(1)));
    rig.advance(secs(1));

    let q = rig.one_frame();
    assert_eq!(q.cmd, Command::DpQuery, "read back");
    let r = rig.dev.answer(&q);
    rig.deliver(&r);
    assert_eq!(learnt(&rig.take_events()), [Fallback::SingleDp]);
    let c = rig.one_frame();
    assert_eq!(control_of(&c).dps, dps(&[(2, 5)]));
    let a = rig.dev.answer(&c);
    rig.deliver(&a);
    assert_eq!(rig.reply_dps(id), two());
    assert!(rig.conn.memory().single_dp);
}

#[test]
fn a_single_dp_acked_without_a_push_is_taken_as_set() {
    let mut rig = Rig::connected(cfg(Version::V33));
    let id = rig.submit(Request::set(dps(&[(7, "x")])));
    let c = rig.one_frame();
    let ack = rig.dev.ack(c.cmd, c.seq);
    rig.deliver(&[ack]);
    assert!(rig.reply(id).is_none());
    rig.advance(secs(1));
    assert_eq!(rig.reply_dps(id), dps(&[(7, "x")]));
    assert!(rig.client_frames().is_empty(), "no read-back for one DP");
    assert!(!rig.conn.memory().single_dp);
}

#[test]
fn a_set_too_large_for_one_frame_is_split() {
    for v in [Version::V33, Version::V35] {
        let mut rig = Rig::connected(cfg(v));
        let big: Dps = (1..=10)
            .map(|i| (DpId(i), DpValue::String(format!("{i:x}").repeat(600))))
            .collect();
        let sent_before = rig.dev.wire.len();
        let id = rig.submit(Request::set(big.clone()));
        let ev = rig.take_events();
        assert!(
            matches!(&ev[..], [Event::Notice(n)] if n.contains("4096")),
            "{v}: {ev:?}"
        );
        rig.serve();
        assert_eq!(rig.reply_dps(id), big);
        assert_eq!(rig.dev.dps, big, "{v}: the device got every DP");
        let frames = &rig.dev.wire[sent_before..];
        assert_eq!(frames.len(), 10);
        assert!(frames.iter().all(|f| f.len() <= DEVICE_MAX_FRAME));
        assert!(!rig.conn.memory().single_dp, "a split is not a fallback");

        // One DP too large for any frame: refused, nothing sent.
        let before = rig.dev.wire.len();
        let id = rig.submit(Request::set(dps(&[(1, "y".repeat(5000).as_str())])));
        match rig.reply(id) {
            Some(Err(ClientError::TooLarge { len, limit, .. })) => {
                assert!(len > limit && limit == DEVICE_MAX_FRAME, "{v}");
            }
            other => panic!("{v}: {other:?}"),
        }
        assert!(rig.client_frames().is_empty());
        assert_eq!(rig.dev.wire.len(), before);
        assert!(rig.conn.is_ready());
    }
}

fn probe_rig(v: Version) -> (Rig, Message) {
    let mut c = cfg(v);
    c.probe = true;
    let mut rig = Rig::new(c);
    rig.dev.dps = dps(&[(1, true)]);
    let q = rig.one_frame();
    (rig, q)
}

#[test]
fn probing_requires_a_reply_that_proves_the_version() {
    // A plaintext status on 3.3: a 3.1 device.
    let (mut rig, q) = probe_rig(Version::V33);
    let body = rig
        .dev
        .status(q.cmd, q.seq, None, &dps(&[(1, true)]))
        .payload;
    let plain = Message {
        plaintext: true,
        header: None,
        ..Message::reply(Version::V33, q.seq, q.cmd, body)
    };
    rig.deliver(&[plain]);
    assert!(matches!(
        rig.closed_reason(),
        Some(ClientError::WrongVersion {
            tried: Version::V33,
            ..
        })
    ));
    assert!(rig.closed_reason().unwrap().is_permanent());

    // A reply that is not JSON.
    let (mut rig, q) = probe_rig(Version::V33);
    let r = Message::reply(Version::V33, q.seq, q.cmd, b"not json at all".to_vec());
    rig.deliver(&[r]);
    match rig.closed_reason() {
        Some(ClientError::WrongVersion { detail, .. }) => assert!(detail.contains("JSON")),
        other => panic!("{other:?}"),
    }

    // Silence: a shorter wait than a request's, then the end.
    let (mut rig, _) = probe_rig(Version::V33);
    assert_eq!(rig.conn.poll_timeout(), Some(rig.t0 + secs(2)));
    rig.advance(secs(2));
    assert!(matches!(
        rig.closed_reason(),
        Some(ClientError::Timeout { .. })
    ));

    // A proper reply connects; on 3.1 a plaintext status is the proper one.
    for v in [Version::V31, Version::V33] {
        let (mut rig, q) = probe_rig(v);
        let r = rig.dev.answer(&q);
        rig.deliver(&r);
        assert_eq!(
            rig.take_events().last(),
            Some(&Event::Connected { version: v })
        );
        assert_eq!(rig.conn.memory().dps, dps(&[(1, true)]));
    }
}

#[test]
fn version_probe_order_and_error() {
    let order = |hint| {
        let mut p = VersionProbe::new(hint);
        std::iter::from_fn(move || p.next_version()).collect::<Vec<_>>()
    };
    use Version::*;
    assert_eq!(order(None), [V35, V34, V33, V31]);
    assert_eq!(order(Some(V33)), [V33, V35, V34, V31]);
    assert_eq!(order(Some(V35)), [V35, V34, V33, V31]);
    assert_eq!(order(Some(V32)), [V32, V35, V34, V33, V31]);

    let mut p = VersionProbe::new(Some(V34));
    let mut n = 0;
    while let Some(v) = p.next_version() {
        n += 1;
        p.failed(v, &format!("failure {n}"), Attempt::Other);
    }
    assert_eq!(p.next_version(), None);
    assert_eq!(p.failures(), 4);
    match p.error() {
        ClientError::UnknownVersion(s) => assert_eq!(
            s,
            "3.4: failure 1; 3.5: failure 2; 3.3: failure 3; 3.1: failure 4"
        ),
        other => panic!("{other:?}"),
    }
    let _ = (Memory::default(), Output::Done);
}

#[test]
fn a_cause_every_version_failed_with_is_said_once_as_itself() {
    let run = |hows: &[Attempt]| {
        let mut p = VersionProbe::new(None);
        for how in hows {
            let v = p.next_version().unwrap();
            p.failed(v, &"why", how.clone());
        }
        p.error()
    };
    let busy = |d: &str| Attempt::Busy(d.into());
    match run(&[busy("a"), busy("b"), busy("c"), busy("full")]) {
        ClientError::Busy { detail } => assert_eq!(detail, "full"),
        other => panic!("{other:?}"),
    }
    let silent = [
        Attempt::Silent,
        Attempt::Silent,
        Attempt::Silent,
        Attempt::Silent,
    ];
    match run(&silent) {
        ClientError::Silent { tried } => assert_eq!(tried, "3.5, 3.4, 3.3, 3.1"),
        other => panic!("{other:?}"),
    }
    // One version failing another way: no common cause, each version's own.
    for mixed in [
        [busy("x"), busy("x"), Attempt::Other, busy("x")],
        [Attempt::Silent, Attempt::Silent, busy("x"), Attempt::Silent],
    ] {
        assert!(
            matches!(run(&mixed), ClientError::UnknownVersion(_)),
            "{mixed:?}"
        );
    }
}
