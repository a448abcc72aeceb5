//! Client engine, time: silence, heartbeats and the two-missed rule, the minimum gap between
//! frames, queued requests' deadlines and the queue bound.

mod engine;

use engine::*;
use tuya_proto::client::{ClientError, Event, Request};
use tuya_proto::{Command, Version};

#[test]
fn a_device_that_never_answers_the_first_query_ends_the_connection() {
    for v in [Version::V31, Version::V33] {
        let mut rig = Rig::new(cfg(v));
        let q = rig.one_frame();
        assert_eq!(q.cmd, Command::DpQuery);
        assert_eq!(rig.conn.poll_timeout(), Some(rig.t0 + secs(5)));
        rig.advance(ms(4999));
        assert!(rig.take_events().is_empty());
        rig.advance(ms(1));
        match rig.closed_reason() {
            Some(
                e @ ClientError::Timeout {
                    cmd: "DP_QUERY", ..
                },
            ) => {
                assert!(e.to_string().contains("never answered"), "{e}");
            }
            other => panic!("{v}: {other:?}"),
        }
        assert!(!rig.conn.heard_from_device());
        rig.assert_inert();
    }
}

#[test]
fn silence_during_negotiation_means_a_wrong_key() {
    for v in [Version::V34, Version::V35] {
        let mut rig = Rig::new(cfg(v));
        rig.dev.negotiate = false;
        assert_eq!(cmds(&rig.client_frames()), [Command::SessKeyNegStart]);
        rig.advance(secs(5));
        assert!(
            matches!(
                rig.closed_reason(),
                Some(ClientError::WrongKey { source: None, .. })
            ),
            "{v}: {:?}",
            rig.events
        );
        assert!(rig.closed_reason().unwrap().is_permanent());
        rig.assert_inert();
    }
}

/// Connects a 3.3 rig whose heartbeats are due every 10 s.
fn idle_rig() -> Rig {
    Rig::connected(cfg(Version::V33))
}

#[test]
fn heartbeats_go_out_after_the_idle_interval() {
    let mut rig = idle_rig();
    assert_eq!(rig.conn.poll_timeout(), Some(rig.t0 + secs(10)));
    rig.advance(ms(9999));
    assert!(rig.client_frames().is_empty());
    rig.advance(ms(1));
    let hb = rig.one_frame();
    assert_eq!(hb.cmd, Command::HeartBeat);
    let body = hb.json().unwrap();
    assert_eq!(
        (body["gwId"].as_str(), body["devId"].as_str()),
        (Some(DEV_ID), Some(DEV_ID))
    );
    let a = rig.dev.answer(&hb);
    rig.deliver(&a);
    assert!(
        rig.take_events().is_empty(),
        "an answered heartbeat is silent"
    );
    assert_eq!(rig.conn.poll_timeout(), Some(rig.now + secs(10)));
    rig.advance(secs(10));
    assert_eq!(rig.one_frame().cmd, Command::HeartBeat);
}

#[test]
fn one_missed_heartbeat_is_reported_two_in_a_row_close_the_connection() {
    let mut rig = idle_rig();
    rig.advance(secs(10));
    assert_eq!(rig.one_frame().cmd, Command::HeartBeat);
    rig.advance(secs(5));
    assert_eq!(
        rig.take_events(),
        vec![Event::HeartbeatMissed { misses: 1 }]
    );
    assert!(!rig.conn.is_closed());

    rig.advance(secs(10));
    assert_eq!(rig.one_frame().cmd, Command::HeartBeat);
    rig.advance(secs(5));
    match rig.closed_reason() {
        Some(ClientError::Unresponsive { misses: 2, last }) => {
            assert!(matches!(
                *last,
                ClientError::Timeout {
                    cmd: "HEART_BEAT",
                    ..
                }
            ));
        }
        other => panic!("{other:?} in {:?}", rig.events),
    }
    rig.assert_inert();
}

#[test]
fn an_answered_heartbeat_resets_the_count() {
    let mut rig = idle_rig();
    for round in 0..4 {
        // Missed...
        rig.advance(secs(10));
        assert_eq!(rig.one_frame().cmd, Command::HeartBeat);
        rig.advance(secs(5));
        assert_eq!(
            rig.take_events(),
            vec![Event::HeartbeatMissed { misses: 1 }],
            "round {round}"
        );
        // ...then answered.
        rig.advance(secs(10));
        let hb = rig.one_frame();
        let a = rig.dev.answer(&hb);
        rig.deliver(&a);
        assert!(rig.take_events().is_empty());
    }
    assert!(rig.conn.is_ready());
}

#[test]
fn no_heartbeat_while_a_request_is_in_flight() {
    let mut c = cfg(Version::V33);
    c.request_timeout = secs(30);
    let mut rig = Rig::connected(c);
    let id = rig.submit(Request::status());
    let q = rig.one_frame();
    rig.advance(secs(25));
    assert!(rig.client_frames().is_empty(), "sent during a request");
    let r = rig.dev.answer(&q);
    rig.deliver(&r);
    assert!(rig.reply(id).unwrap().is_ok());
    // The idle interval starts over at the reply.
    assert_eq!(rig.conn.poll_timeout(), Some(rig.now + secs(10)));
    rig.advance(ms(9999));
    assert!(rig.client_frames().is_empty());
    rig.advance(ms(1));
    assert_eq!(rig.one_frame().cmd, Command::HeartBeat);
}

#[test]
fn the_minimum_command_gap_holds_back_the_next_frame() {
    let mut c = cfg(Version::V33);
    c.min_command_gap = Some(ms(300));
    let mut rig = Rig::connected(c);
    rig.advance(secs(1));
    let sent_at = rig.now;
    let a = rig.submit(Request::status());
    let b = rig.submit(Request::set(dps(&[(1, true)])));
    let qa = rig.one_frame();
    assert_eq!(qa.cmd, Command::DpQuery);
    let r = rig.dev.answer(&qa);
    rig.deliver(&r);
    assert!(rig.reply(a).unwrap().is_ok());
    // B started at once, but its frame waits for the gap.
    assert!(rig.client_frames().is_empty());
    assert_eq!(rig.conn.poll_timeout(), Some(sent_at + ms(300)));
    rig.advance(ms(299));
    assert!(rig.client_frames().is_empty());
    rig.advance(ms(1));
    let qb = rig.one_frame();
    assert_eq!(qb.cmd, Command::Control);
    // Its reply deadline counts from when it went out.
    assert_eq!(rig.conn.poll_timeout(), Some(sent_at + ms(300) + secs(5)));
    let r = rig.dev.answer(&qb);
    rig.deliver(&r);
    assert_eq!(rig.reply_dps(b), dps(&[(1, true)]));
}

#[test]
fn a_queued_request_past_its_deadline_expires_without_being_sent() {
    let mut rig = idle_rig();
    let a = rig.submit(Request::status());
    let qa = rig.one_frame();
    let b = rig.submit(Request::status().deadline(rig.now + secs(2)));
    let c = rig.submit(Request::set(dps(&[(3, 3)])).deadline(rig.now + secs(20)));
    assert_eq!(rig.conn.poll_timeout(), Some(rig.now + secs(2)));
    rig.advance(secs(2));
    assert_eq!(rig.reply(b), Some(Err(ClientError::Expired)));
    assert!(rig.client_frames().is_empty());
    let r = rig.dev.answer(&qa);
    rig.deliver(&r);
    assert!(rig.reply(a).unwrap().is_ok());
    // C had time: it goes out next.
    let qc = rig.one_frame();
    assert_eq!(qc.cmd, Command::Control);
    let r = rig.dev.answer(&qc);
    rig.deliver(&r);
    assert_eq!(rig.reply_dps(c), dps(&[(3, 3)]));
    assert_eq!(
        rig.dev
            .log
            .iter()
            .filter(|m| m.cmd == Command::DpQuery)
            .count(),
        2
    );

    // Queued before the connection is ready, expired while connecting.
    let mut rig = Rig::new(cfg(Version::V33));
    let q = rig.one_frame();
    let d = rig.submit(Request::status().deadline(rig.now + secs(1)));
    rig.advance(secs(1));
    assert_eq!(rig.reply(d), Some(Err(ClientError::Expired)));
    let r = rig.dev.answer(&q);
    rig.deliver(&r);
    assert!(rig.take_events().contains(&Event::Connected {
        version: Version::V33
    }));
    assert!(
        rig.client_frames().is_empty(),
        "the expired request was sent"
    );
}

#[test]
fn requests_beyond_the_queue_bound_are_refused_at_once() {
    let mut c = cfg(Version::V33);
    c.max_queue = 2;
    let mut rig = Rig::new(c);
    // Not connected yet: everything waits in the queue.
    let a = rig.submit(Request::status());
    let b = rig.submit(Request::status());
    let c = rig.submit(Request::status());
    assert_eq!(rig.reply(c), Some(Err(ClientError::QueueFull(2))));
    assert!(rig.reply(a).is_none() && rig.reply(b).is_none());
    rig.serve();
    assert!(rig.conn.is_ready());
    assert!(rig.reply(a).unwrap().is_ok());
    assert!(rig.reply(b).unwrap().is_ok());

    // Connected: one in flight, two queued, the fourth refused.
    let ids: Vec<_> = (0..4).map(|_| rig.submit(Request::status())).collect();
    assert_eq!(rig.reply(ids[3]), Some(Err(ClientError::QueueFull(2))));
    rig.serve();
    for id in &ids[..3] {
        assert!(rig.reply(*id).unwrap().is_ok());
    }
}
