//! Client engine, the common paths: connecting, sequence numbers, pushes, reply matching on
//! firmware with its own numbering, late replies, gateway children and device error strings.

mod engine;

use engine::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tuya_proto::client::{ClientError, Event, Op, Output, Request};
use tuya_proto::{payload, Command, DpId, DpValue, Dps, Version};

#[test]
fn up_to_3_3_sends_the_status_query_at_once_and_connects_on_its_reply() {
    for v in [Version::V31, Version::V33] {
        let mut rig = Rig::new(cfg(v));
        rig.dev.dps = dps(&[(1, true)]);
        rig.dev.dps.insert(DpId(2), DpValue::Integer(50));
        let q = rig.one_frame();
        assert_eq!((q.cmd, q.seq), (Command::DpQuery, 1), "{v}");
        let body = q.json().unwrap();
        assert_eq!(body["gwId"], DEV_ID);
        assert_eq!(body["devId"], DEV_ID);
        assert_eq!(body["t"], UNIX.to_string());
        assert!(rig.take_events().is_empty());
        assert!(!rig.conn.is_ready());

        let reply = rig.dev.answer(&q);
        rig.deliver(&reply);
        let want = rig.dev.dps.clone();
        rig.assert_connected_with(&want, v);
        assert!(rig.conn.is_ready());
        assert!(rig.conn.heard_from_device());
        assert_eq!(rig.conn.memory().dps, want);
    }
}

#[test]
fn session_versions_negotiate_then_query_then_connect() {
    for v in [Version::V34, Version::V35] {
        let mut rig = Rig::new(cfg(v));
        rig.dev.dps = dps(&[(1, false)]);
        rig.dev.negotiate = false;
        let start = rig.one_frame();
        assert_eq!((start.cmd, start.seq), (Command::SessKeyNegStart, 1), "{v}");
        assert_eq!(start.payload.len(), 16);
        assert_eq!(rig.conn.poll_timeout(), Some(rig.t0 + secs(5)));
        assert!(rig.take_events().is_empty());

        let resp = rig.dev.neg_start(&start).unwrap();
        rig.dev.negotiate = true;
        rig.deliver(&[resp]);
        let q = rig.one_frame();
        assert_eq!(
            cmds(&rig.dev.log),
            [
                Command::SessKeyNegStart,
                Command::SessKeyNegFinish,
                Command::DpQueryNew
            ]
        );
        assert_eq!(rig.dev.wire_seqs(), [1, 2, 3]);
        assert_eq!(rig.dev.session_keys.len(), 1, "the device accepted FINISH");
        assert_eq!(q.payload, b"{}");
        assert_eq!(rig.take_events(), vec![Event::SessionEstablished]);

        let reply = rig.dev.answer(&q);
        rig.deliver(&reply);
        let ev = rig.take_events();
        assert_eq!(ev.last(), Some(&Event::Connected { version: v }));
        assert_eq!(updates(&ev), [(None, rig.dev.dps.clone(), false)]);
        assert_eq!(rig.conn.memory().dps, rig.dev.dps);
    }
}

/// Every frame the client sends on one connection has a larger seq than the one before, over
/// negotiation (twice, with a 0x00-first key), queries, controls, refreshes, raw frames and
/// heartbeats; and every request is answered.
#[test]
fn sequence_numbers_strictly_increase_over_a_long_run() {
    for v in [Version::V33, Version::V34, Version::V35] {
        let mut rig = Rig::new(cfg(v));
        rig.dev.zero_keys = u32::from(v.uses_session_key());
        rig.connect();
        let mut rng = StdRng::seed_from_u64(5);
        let mut ids = Vec::new();
        for i in 0..300u32 {
            let req = match rng.gen_range(0..4) {
                0 => Request::status(),
                1 => Request::set(dps(&[(rng.gen_range(1..5), i64::from(i))])),
                2 => Request::new(Op::Refresh(vec![DpId(1), DpId(2)])),
                _ => Request::new(Op::Raw(Command::HeartBeat, b"{}".to_vec())),
            };
            ids.push(rig.submit(req));
            rig.advance_serving(ms(rng.gen_range(0..25_000)));
        }
        rig.serve();
        for id in ids {
            assert!(matches!(rig.reply(id), Some(Ok(_))), "{v}: {id:?}");
        }
        let seqs = rig.dev.wire_seqs();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{v}: {seqs:?}");
        let log = cmds(&rig.dev.log);
        for c in [
            Command::HeartBeat,
            v.query_command(),
            v.control_command(),
            Command::UpdateDps,
        ] {
            assert!(log.contains(&c), "{v}: no {c} sent");
        }
        if v.uses_session_key() {
            let starts = log
                .iter()
                .filter(|c| **c == Command::SessKeyNegStart)
                .count();
            assert_eq!(starts, 2, "{v}");
        }
        assert!(rig.conn.is_ready());
        let hb = log.iter().filter(|c| **c == Command::HeartBeat).count();
        assert!(hb > 100, "{v}: {hb} heartbeats (and raw pings)");
    }
}

#[test]
fn pushes_between_a_request_and_its_reply_are_updates_and_the_reply_still_counts() {
    let mut rig = Rig::new(cfg(Version::V33));
    rig.dev.dps = dps(&[(1, true)]);
    rig.connect();

    let id = rig.submit(Request::status());
    let q = rig.one_frame();
    let p1 = rig.dev.push(None, &dps(&[(1, false)]));
    let p2 = rig.dev.push(None, &dps(&[(2, 7)]));
    rig.deliver(&[p1, p2]);
    let ev = rig.take_events();
    assert_eq!(
        updates(&ev),
        [
            (None, dps(&[(1, false)]), true),
            (None, dps(&[(2, 7)]), true)
        ]
    );
    assert!(ev.iter().all(|e| !matches!(e, Event::Reply { .. })));

    let mut now: Dps = dps(&[(1, false)]);
    now.insert(DpId(2), DpValue::Integer(7));
    now.insert(DpId(3), DpValue::from("x"));
    let r = rig.dev.status(q.cmd, q.seq, None, &now);
    rig.deliver(&[r]);
    assert_eq!(rig.reply_dps(id), now);
    assert_eq!(
        updates(&rig.take_events()),
        [(None, dps(&[(3, "x")]), false)]
    );

    // A set: a push of another DP before the ack, then the ack and the push of the DP set.
    let id = rig.submit(Request::set(dps(&[(1, true)])));
    let c = rig.one_frame();
    assert_eq!(c.cmd, Command::Control);
    let other = rig.dev.push(None, &dps(&[(5, 1)]));
    rig.deliver(&[other]);
    assert!(rig.reply(id).is_none());
    let ack = rig.dev.ack(c.cmd, c.seq);
    let p = rig.dev.push(None, &dps(&[(1, true)]));
    rig.deliver(&[ack, p]);
    let got = rig.reply_dps(id);
    assert_eq!(got[&DpId(1)], DpValue::Bool(true));
    assert_eq!(got[&DpId(5)], DpValue::Integer(1));
}

/// Devices with their own counter, seq 0 everywhere, or 3.5's global counter: replies are
/// recognised by command; a STATUS frame answers a query only when it echoes the query's seq.
#[test]
fn replies_are_matched_by_command_whatever_the_device_numbers() {
    for (v, mode) in [
        (Version::V33, SeqMode::Own),
        (Version::V33, SeqMode::Zero),
        (Version::V34, SeqMode::Zero),
        (Version::V35, SeqMode::Own),
    ] {
        let mut rig = Rig::new(cfg(v));
        rig.dev.seq_mode = mode;
        rig.dev.dps = dps(&[(1, 1)]);
        rig.connect();

        let id = rig.submit(Request::status());
        let q = rig.one_frame();
        // A STATUS frame not echoing the seq is a push, not the reply.
        let mut push = rig.dev.status(Command::Status, 0, None, &dps(&[(1, 2)]));
        push.seq = if mode == SeqMode::Zero {
            0
        } else {
            q.seq + 500
        };
        rig.deliver(&[push]);
        assert!(rig.reply(id).is_none(), "{v} {mode:?}");
        assert_eq!(updates(&rig.take_events()), [(None, dps(&[(1, 2)]), true)]);
        let r = rig.dev.status(q.cmd, q.seq, None, &dps(&[(1, 3)]));
        assert_ne!(r.seq, q.seq);
        rig.deliver(&[r]);
        assert_eq!(rig.reply_dps(id), dps(&[(1, 3)]), "{v} {mode:?}");
        assert_eq!(updates(&rig.take_events()), [(None, dps(&[(1, 3)]), false)]);

        // A STATUS echoing the query's seq is its reply.
        let id = rig.submit(Request::status());
        let q = rig.one_frame();
        let mut r = rig.dev.status(Command::Status, 0, None, &dps(&[(1, 4)]));
        r.seq = q.seq;
        rig.deliver(&[r]);
        assert_eq!(rig.reply_dps(id), dps(&[(1, 4)]), "{v} {mode:?}");
        assert_eq!(updates(&rig.take_events()), [(None, dps(&[(1, 4)]), false)]);

        // A control ack numbered the device's way.
        let id = rig.submit(Request::set(dps(&[(1, 5)])));
        rig.serve();
        assert_eq!(rig.reply_dps(id), dps(&[(1, 5)]), "{v} {mode:?}");
    }
}

#[test]
fn a_late_reply_to_a_timed_out_request_is_not_the_next_ones_reply() {
    let mut rig = Rig::connected(cfg(Version::V33));

    let a = rig.submit(Request::status());
    let qa = rig.one_frame();
    rig.advance(secs(5));
    assert!(matches!(
        rig.reply(a),
        Some(Err(ClientError::Timeout { .. }))
    ));
    assert!(!rig.conn.is_closed());

    let b = rig.submit(Request::status());
    let qb = rig.one_frame();
    assert!(qb.seq > qa.seq);
    // Late: the DP_QUERY reply and a STATUS carrying the timed-out request's seq.
    let late = rig.dev.status(qa.cmd, qa.seq, None, &dps(&[(1, "late")]));
    let mut late2 = rig
        .dev
        .status(Command::Status, 0, None, &dps(&[(2, "late")]));
    late2.seq = qa.seq;
    rig.deliver(&[late, late2]);
    assert!(
        rig.reply(b).is_none(),
        "a late reply resolved the next request"
    );
    assert!(updates(&rig.take_events()).iter().all(|u| u.2));

    let r = rig.dev.status(qb.cmd, qb.seq, None, &dps(&[(1, "fresh")]));
    rig.deliver(&[r]);
    assert_eq!(rig.reply_dps(b)[&DpId(1)], DpValue::from("fresh"));
}

#[test]
fn gateway_children_are_queried_by_cid_and_tracked_apart() {
    for v in [Version::V33, Version::V34] {
        let mut c = cfg(v);
        c.gateway = true;
        let mut rig = Rig::new(c);
        rig.dev
            .children
            .insert("cid1".into(), dps(&[(1, true), (2, false)]));
        // A gateway answers no cid-less query: it is ready without one.
        rig.serve();
        assert_eq!(
            rig.take_events().last(),
            Some(&Event::Connected { version: v })
        );
        assert!(!cmds(&rig.dev.log).contains(&v.query_command()));

        let id = rig.submit(Request::status().child("cid1"));
        let q = rig.one_frame();
        assert_eq!(q.cmd, v.query_command());
        assert_eq!(
            payload::parse_query_cid(&q.payload).as_deref(),
            Some("cid1")
        );
        let r = rig.dev.answer(&q);
        rig.deliver(&r);
        let want = dps(&[(1, true), (2, false)]);
        assert_eq!(rig.reply_dps(id), want);
        assert_eq!(
            updates(&rig.take_events()),
            [(Some("cid1".into()), want.clone(), false)]
        );

        let p = rig.dev.push(Some("cid1"), &dps(&[(2, true)]));
        rig.deliver(&[p]);
        assert_eq!(
            updates(&rig.take_events()),
            [(Some("cid1".into()), dps(&[(2, true)]), true)]
        );

        // A reply without a cid is the child's, not the gateway's.
        let id = rig.submit(Request::status().child("cid2"));
        let q = rig.one_frame();
        let r = rig.dev.status(q.cmd, q.seq, None, &dps(&[(9, 9)]));
        rig.deliver(&[r]);
        assert_eq!(rig.reply_dps(id), dps(&[(9, 9)]));

        let mem = rig.conn.memory();
        assert_eq!(mem.children["cid1"], dps(&[(1, true), (2, true)]));
        assert_eq!(mem.children["cid2"], dps(&[(9, 9)]));
        assert!(mem.dps.is_empty(), "{v}: {:?}", mem.dps);
        assert_eq!(mem.dps_of(Some("cid2")), dps(&[(9, 9)]));
    }
}

#[test]
fn device_error_strings_outside_a_request_are_device_error_events() {
    let mut rig = Rig::connected(cfg(Version::V33));
    let e = rig.dev.error(Command::Status, 0, "device is busy");
    rig.deliver(&[e]);
    assert_eq!(
        rig.take_events(),
        vec![Event::DeviceError {
            cmd: Command::Status,
            text: "device is busy".into()
        }]
    );

    // During a query, an error of another command is not its reply.
    let id = rig.submit(Request::status());
    let q = rig.one_frame();
    let e = rig.dev.error(Command::Control, 0, "data format error");
    rig.deliver(&[e]);
    assert_eq!(
        rig.take_events(),
        vec![Event::DeviceError {
            cmd: Command::Control,
            text: "data format error".into()
        }]
    );
    // The query's own refusal (not a device22 one) fails it.
    let e = rig.dev.error(q.cmd, q.seq, "no such thing");
    rig.deliver(&[e]);
    assert_eq!(
        rig.reply(id),
        Some(Err(ClientError::Device("no such thing".into())))
    );

    // A raw command gets the first frame with its command.
    let id = rig.submit(Request::new(Op::Raw(Command::Other(40), b"{}".to_vec())));
    let f = rig.one_frame();
    assert_eq!(f.cmd, Command::Other(40));
    let mut r = rig
        .dev
        .status(Command::Other(40), f.seq, None, &dps(&[(1, 1)]));
    r.retcode = Some(0);
    rig.deliver(&[r.clone()]);
    match rig.reply(id) {
        Some(Ok(Output::Raw(raw))) => {
            assert_eq!((raw.cmd, raw.seq, raw.retcode), (r.cmd, f.seq, Some(0)));
            assert_eq!(raw.payload, r.payload);
        }
        other => panic!("{other:?}"),
    }
}
