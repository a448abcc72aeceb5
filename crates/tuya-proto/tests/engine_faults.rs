//! Client engine, faults: 0x00-first session keys, transports that break, wrong keys and
//! corrupted frames.

mod engine;

use engine::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tuya_proto::client::{ClientError, Disconnect, Event, Memory, Op, Request};
use tuya_proto::{Codec, Command, LocalKey, Role, Version};

/// A session key starting with 0x00 is "no key" to firmware: the client negotiates again right
/// after its FINISH, with no time passing, and connects on the second handshake.
#[test]
fn a_session_key_starting_with_zero_is_renegotiated_at_once() {
    for v in [Version::V34, Version::V35] {
        let mut rig = Rig::new(cfg(v));
        rig.dev.zero_keys = 1;
        let q = rig.one_frame();
        assert_eq!(rig.now, rig.t0, "no time passed");
        assert_eq!(
            cmds(&rig.dev.log),
            [
                Command::SessKeyNegStart,
                Command::SessKeyNegFinish,
                Command::SessKeyNegStart,
                Command::SessKeyNegFinish,
                v.query_command(),
            ],
            "{v}"
        );
        assert_eq!(rig.dev.wire_seqs(), [1, 2, 3, 4, 5]);
        let keys = &rig.dev.session_keys;
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0][0], 0, "{v}: the first key starts with 0x00");
        assert_ne!(keys[1][0], 0);
        // The two START nonces differ.
        assert_ne!(rig.dev.log[0].payload, rig.dev.log[2].payload);

        let ev = rig.take_events();
        assert!(
            matches!(&ev[..], [Event::Notice(n), Event::SessionEstablished] if n.contains("0x00")),
            "{v}: {ev:?}"
        );
        let r = rig.dev.answer(&q);
        rig.deliver(&r);
        assert_eq!(
            rig.take_events().last(),
            Some(&Event::Connected { version: v })
        );
    }
}

#[test]
fn four_zero_keys_in_a_row_give_up() {
    let mut rig = Rig::new(cfg(Version::V34));
    rig.dev.zero_keys = 4;
    assert!(rig.client_frames().is_empty());
    assert!(
        matches!(rig.closed_reason(), Some(ClientError::Negotiation(ref s)) if s.contains("0x00")),
        "{:?}",
        rig.events
    );
    rig.assert_inert();
}

#[test]
fn a_reset_mid_request_answers_or_hands_back_every_request() {
    let mut rig = Rig::connected(cfg(Version::V33));
    let set = rig.submit(Request::set(dps(&[(1, true)])));
    assert_eq!(rig.one_frame().cmd, Command::Control);
    let st = rig.submit(Request::status());
    let raw = rig.submit(Request::new(Op::Raw(Command::HeartBeat, vec![])));
    rig.conn.handle_disconnect(Disconnect::Reset, rig.now);
    let ev = rig.take_events();
    assert_eq!(
        ev,
        vec![
            Event::Reply {
                id: set,
                result: Err(ClientError::MaybeApplied(Disconnect::Reset))
            },
            Event::Closed {
                reason: ClientError::ConnectionLost(Disconnect::Reset)
            },
        ]
    );
    rig.assert_unfinished(&[st, raw]);
    rig.assert_inert();

    // A status in flight comes back too; so does one submitted after the close.
    let mut rig = Rig::connected(cfg(Version::V33));
    let st = rig.submit(Request::status());
    assert_eq!(rig.one_frame().cmd, Command::DpQuery);
    rig.conn.handle_disconnect(Disconnect::Closed, rig.now);
    let late = rig.submit(Request::status());
    rig.assert_unfinished(&[st, late]);
    assert!(rig
        .take_events()
        .iter()
        .all(|e| !matches!(e, Event::Reply { .. })));
    rig.assert_inert();
}

#[test]
fn frames_not_yet_written_are_dropped_on_close() {
    let mut rig = Rig::connected(cfg(Version::V33));
    // The driver has not written the control frame yet when the device resets.
    let set = rig.submit(Request::set(dps(&[(1, true)])));
    rig.conn.handle_disconnect(Disconnect::Reset, rig.now);
    assert!(matches!(
        rig.reply(set),
        Some(Err(ClientError::MaybeApplied(_)))
    ));
    rig.assert_inert();

    let mut rig = Rig::connected(cfg(Version::V33));
    rig.submit(Request::status());
    rig.conn.close();
    assert_eq!(rig.closed_reason(), Some(ClientError::Closed));
    assert_eq!(rig.conn.take_unfinished().len(), 1);
    rig.assert_inert();
}

#[test]
fn dropped_before_any_frame_is_busy() {
    for v in [Version::V33, Version::V34, Version::V35] {
        for how in [Disconnect::Reset, Disconnect::Closed] {
            let mut rig = Rig::new(cfg(v));
            rig.dev.negotiate = false;
            rig.client_frames();
            rig.conn.handle_disconnect(how, rig.now);
            assert!(
                matches!(rig.closed_reason(), Some(ClientError::Busy { .. })),
                "{v} {how:?}: {:?}",
                rig.events
            );
            rig.assert_inert();
        }
    }
    // After the device spoke, the same is a lost connection.
    let mut rig = Rig::connected(cfg(Version::V34));
    rig.conn.handle_disconnect(Disconnect::Closed, rig.now);
    assert_eq!(
        rig.closed_reason(),
        Some(ClientError::ConnectionLost(Disconnect::Closed))
    );
}

#[test]
fn a_negotiation_reply_under_another_key_is_a_wrong_key() {
    for v in [Version::V34, Version::V35] {
        // The device's HMAC over our nonce is made with another key (the frame verifies).
        let mut rig = Rig::new(cfg(v));
        rig.dev.hs_key = LocalKey::new(OTHER_KEY).unwrap();
        assert!(rig.client_frames().is_empty());
        match rig.closed_reason() {
            Some(ClientError::WrongKey { source, .. }) => {
                assert_eq!(
                    source,
                    Some(tuya_proto::Error::NegotiationBadDeviceHmac),
                    "{v}"
                );
            }
            other => panic!("{v}: {other:?}"),
        }
        assert_eq!(
            cmds(&rig.dev.log),
            [Command::SessKeyNegStart],
            "no FINISH sent"
        );
        rig.assert_inert();

        // The whole frame sealed with another key: it does not even verify.
        let mut rig = Rig::new(cfg(v));
        rig.dev.negotiate = false;
        let start = rig.one_frame();
        let resp = rig.dev.neg_start(&start).unwrap();
        let other = LocalKey::new(OTHER_KEY).unwrap();
        let mut wrong = Codec::with_entropy(v, other, Role::Device, StdRng::seed_from_u64(3));
        let bytes = wrong.encode(&resp).unwrap();
        rig.deliver_bytes(&bytes);
        let ev = rig.take_events();
        assert!(
            matches!(
                &ev[..],
                [
                    Event::FrameDropped(ClientError::WrongKey { .. }),
                    Event::Closed {
                        reason: ClientError::WrongKey { .. }
                    }
                ]
            ),
            "{v}: {ev:?}"
        );
    }
}

#[test]
fn a_3_3_reply_under_another_key_closes_with_wrong_key() {
    let mut rig = Rig::new(cfg(Version::V33));
    let q = rig.one_frame();
    let other = LocalKey::new(OTHER_KEY).unwrap();
    let mut wrong =
        Codec::with_entropy(Version::V33, other, Role::Device, StdRng::seed_from_u64(3));
    let r = rig.dev.status(q.cmd, q.seq, None, &dps(&[(1, true)]));
    rig.deliver_bytes(&wrong.encode(&r).unwrap());
    assert!(matches!(
        rig.take_events()[..],
        [Event::FrameDropped(ClientError::WrongKey { .. })]
    ));
    rig.advance(secs(5));
    assert!(matches!(
        rig.closed_reason(),
        Some(ClientError::WrongKey { .. })
    ));
    assert!(rig.conn.memory().dps.is_empty());
}

/// Flips a byte of the CRC of a 55AA frame.
fn corrupt(mut frame: Vec<u8>) -> Vec<u8> {
    let n = frame.len();
    frame[n - 6] ^= 0x5a;
    frame
}

#[test]
fn frames_with_a_bad_crc_are_dropped_and_two_failures_close_the_connection() {
    let mut rig = Rig::connected(cfg(Version::V33));

    let a = rig.submit(Request::status());
    let q = rig.one_frame();
    let r = rig.dev.status(q.cmd, q.seq, None, &dps(&[(1, true)]));
    let bytes = corrupt(rig.dev.encode(&[r]));
    rig.deliver_bytes(&bytes);
    assert!(matches!(
        rig.take_events()[..],
        [Event::FrameDropped(ClientError::Corrupt { .. })]
    ));
    rig.advance(secs(5));
    assert!(matches!(
        rig.reply(a),
        Some(Err(ClientError::Corrupt { .. }))
    ));
    assert!(
        !rig.conn.is_closed(),
        "one corrupt reply keeps the connection"
    );

    let b = rig.submit(Request::status());
    let q = rig.one_frame();
    let r = rig.dev.status(q.cmd, q.seq, None, &dps(&[(1, true)]));
    let bytes = corrupt(rig.dev.encode(&[r]));
    rig.deliver_bytes(&bytes);
    rig.advance(secs(5));
    assert!(
        matches!(rig.closed_reason(), Some(ClientError::Corrupt { .. })),
        "{:?}",
        rig.events
    );
    let back: Vec<_> = rig
        .conn
        .take_unfinished()
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(back, [b]);
    assert!(rig.conn.memory().dps.is_empty());
    rig.assert_inert();
}

#[test]
fn a_good_frame_between_corrupt_ones_resets_the_count() {
    let mut rig = Rig::connected(cfg(Version::V33));
    for _ in 0..3 {
        let a = rig.submit(Request::status());
        let q = rig.one_frame();
        let r = rig.dev.status(q.cmd, q.seq, None, &dps(&[(1, true)]));
        let bytes = corrupt(rig.dev.encode(&[r]));
        rig.deliver_bytes(&bytes);
        rig.advance(secs(5));
        assert!(matches!(
            rig.reply(a),
            Some(Err(ClientError::Corrupt { .. }))
        ));
        let p = rig.dev.push(None, &dps(&[(2, 2)]));
        rig.deliver(&[p]);
    }
    assert!(!rig.conn.is_closed());
    let _ = Memory::default();
}
