//! The client engine under arbitrary input, by proptest (the `connection` fuzz target of
//! `crates/tuya-fuzz` shares its driver): every version, garbage and valid device frames in
//! arbitrary chunks, time steps, requests, disconnects and closes. The driver checks after every
//! action that nothing panics, events and output stay bounded, memory stays capped, timers are
//! never in the past, a closed connection stays closed and silent, and every request gets
//! exactly one outcome.

mod engine;

use engine::drive::{run, run_bytes, Action, DevMsg, Req, Val};
use proptest::prelude::*;
use tuya_proto::Version;

fn dev_msg() -> impl Strategy<Value = DevMsg> {
    let small = prop::collection::vec((any::<u8>(), 0i64..4), 0..4);
    prop_oneof![
        4 => (any::<u8>(), any::<u8>(), prop::option::of(0u8..4), small)
            .prop_map(|(cmd, seq, cid, dps)| DevMsg::Status { cmd, seq, cid, dps }),
        2 => (any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(cmd, seq, text)| DevMsg::Error { cmd, seq, text }),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(cmd, seq)| DevMsg::Ack { cmd, seq }),
        1 => (any::<u8>(), any::<u8>(), prop::collection::vec(any::<u8>(), 0..48))
            .prop_map(|(cmd, seq, payload)| DevMsg::Raw { cmd, seq, payload }),
        1 => (0u16..300).prop_map(|n| DevMsg::Flood { n }),
    ]
}

fn val() -> impl Strategy<Value = Val> {
    prop_oneof![
        any::<bool>().prop_map(Val::Bool),
        any::<i64>().prop_map(Val::Int),
        (prop::sample::select(vec!['a', 'é', '"']), 0u16..5000).prop_map(|(c, n)| Val::Str(c, n)),
    ]
}

fn req() -> impl Strategy<Value = Req> {
    (
        0u8..4,
        prop::option::of(0u8..4),
        prop::collection::vec((1u8..=255, val()), 0..12),
        any::<u8>(),
        prop::option::of(0u16..10_000),
    )
        .prop_map(|(kind, cid, dps, raw_cmd, deadline)| Req {
            kind,
            cid,
            dps,
            raw_cmd,
            deadline,
        })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Action::Garbage),
        4 => (prop::collection::vec(dev_msg(), 1..4), prop::collection::vec(any::<u8>(), 0..16), any::<u8>())
            .prop_map(|(msgs, garbage, chunk)| Action::Frames { msgs, garbage, chunk }),
        3 => Just(Action::Serve),
        3 => (0u32..=40_000, any::<bool>()).prop_map(|(ms, serve)| Action::Advance { ms, serve }),
        4 => req().prop_map(Action::Submit),
        1 => any::<u8>().prop_map(Action::Disconnect),
        1 => Just(Action::Close),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn connection_survives_arbitrary_sequences(
        v in prop::sample::select(Version::ALL.to_vec()),
        cfg_sel in any::<u8>(),
        seed in any::<u64>(),
        actions in prop::collection::vec(action(), 0..40),
    ) {
        run(v, cfg_sel, seed, &actions);
    }

    /// The fuzz target's decoding of raw bytes into actions.
    #[test]
    fn connection_survives_arbitrary_fuzz_inputs(data in prop::collection::vec(any::<u8>(), 0..512)) {
        run_bytes(&data);
    }
}

/// A long run of every version against a well-behaved device: the driver's checks hold far past
/// the first few steps (heartbeats, command gaps, short timeouts, a renegotiation), and every
/// request succeeds.
#[test]
fn long_served_runs_of_every_version() {
    for v in Version::ALL {
        for cfg_sel in [0u8, 4 | 64, 16 | 32] {
            let mut actions = Vec::new();
            for i in 0..200u32 {
                actions.push(Action::Submit(Req {
                    kind: (i % 4) as u8,
                    cid: None,
                    dps: vec![((i % 7 + 1) as u8, Val::Int(i64::from(i)))],
                    raw_cmd: 4,
                    deadline: None,
                }));
                actions.push(Action::Advance {
                    ms: (i * 7919) % 30_000,
                    serve: true,
                });
            }
            let st = run(v, cfg_sel, u64::from(cfg_sel), &actions);
            assert_eq!((st.ok, st.failed), (200, 0), "{v} {cfg_sel}: {st:?}");
            assert!(st.ready);
            assert_eq!(
                st.closed.as_deref(),
                Some("Closed"),
                "closed only at the end"
            );
            assert!(st.frames_out > 300, "{v}: heartbeats between requests");
        }
    }
}
