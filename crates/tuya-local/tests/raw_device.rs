//! Exact frame sequences the simulator does not produce, from a hand-driven device built on
//! tuya-proto's device role: pushes ahead of replies, replies not echoing seq, status replies as
//! STATUS frames, several frames in one write.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tuya_local::{Device, DeviceConfig, Event};
use tuya_proto::frame::FrameSplitter;
use tuya_proto::payload::status;
use tuya_proto::{Codec, Command, DpId, DpValue, LocalKey, Message, Role, Version};

const V: Version = Version::V33;

struct Fake {
    s: TcpStream,
    codec: Codec,
    split: FrameSplitter,
}

impl Fake {
    async fn next(&mut self) -> Message {
        loop {
            if let Some(f) = self.split.next_frame() {
                return self.codec.decode(&f.unwrap()).unwrap();
            }
            let mut b = [0u8; 2048];
            let n = self.s.read(&mut b).await.unwrap();
            assert!(n > 0, "client closed");
            self.split.feed(&b[..n]);
        }
    }

    /// Encodes every message and sends them in a single write.
    async fn send_all(&mut self, msgs: &[Message]) {
        let mut out = Vec::new();
        for m in msgs {
            out.extend(self.codec.encode(m).unwrap());
        }
        self.s.write_all(&out).await.unwrap();
    }
}

fn st(pairs: &[(u32, DpValue)], t: bool) -> Vec<u8> {
    status(V, "raw1", None, &dps(pairs), t.then_some(1_700_000_000))
}

fn empty(seq: u32, cmd: Command) -> Message {
    Message {
        plaintext: true,
        header: None,
        ..Message::reply(V, seq, cmd, Vec::new())
    }
}

#[tokio::test]
async fn pushes_between_requests_and_replies_are_events_not_replies() {
    bounded(async {
        let listener = TcpListener::bind((ip(40, 1), 0)).await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let device = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let key = LocalKey::new(KEY).unwrap();
            let mut f = Fake {
                s,
                codec: Codec::with_entropy(V, key, Role::Device, test_rng()),
                split: FrameSplitter::new(),
            };
            // 1. the connect-time query: a push first, then the reply with a seq of our own
            let q = f.next().await;
            assert_eq!(q.cmd, Command::DpQuery);
            f.send_all(&[
                Message::reply(
                    V,
                    0,
                    Command::Status,
                    st(&[(5, DpValue::String("x".into()))], true),
                ),
                Message::reply(
                    V,
                    9999,
                    Command::DpQuery,
                    st(
                        &[(1, DpValue::Bool(false)), (2, DpValue::Integer(10))],
                        false,
                    ),
                ),
            ])
            .await;
            // 2. a CONTROL: pong-like noise, the ack, and two pushes, all in one write
            let c = f.next().await;
            assert_eq!(c.cmd, Command::Control);
            f.send_all(&[
                empty(0, Command::HeartBeat),
                empty(c.seq, Command::Control),
                Message::reply(V, 0, Command::Status, st(&[(1, DpValue::Bool(true))], true)),
                Message::reply(
                    V,
                    0,
                    Command::Status,
                    st(&[(2, DpValue::Integer(20))], true),
                ),
            ])
            .await;
            // 3. a query answered as STATUS echoing seq, after an unrelated push
            let q = f.next().await;
            assert_eq!(q.cmd, Command::DpQuery);
            f.send_all(&[
                Message::reply(
                    V,
                    0,
                    Command::Status,
                    st(&[(7, DpValue::Integer(70))], true),
                ),
                Message::reply(
                    V,
                    q.seq,
                    Command::Status,
                    st(
                        &[(1, DpValue::Bool(true)), (2, DpValue::Integer(20))],
                        false,
                    ),
                ),
            ])
            .await;
            // 4. heartbeats answered with seq 0 (the fixed pong)
            let h = f.next().await;
            assert_eq!(h.cmd, Command::HeartBeat);
            f.send_all(&[empty(0, Command::HeartBeat)]).await;
            f
        });
        let mut c = DeviceConfig::new("raw1", LocalKey::new(KEY).unwrap(), addr).version(V);
        c.request_timeout = Duration::from_secs(2);
        c.push_wait = Duration::from_secs(2);
        c.heartbeat_interval = Duration::from_millis(300);
        let d = Device::connect(c).await.unwrap();
        let state = d.state();
        assert_eq!(state[&DpId(5)], DpValue::String("x".into()));
        assert_eq!(state[&DpId(2)], DpValue::Integer(10));
        let mut ev = d.subscribe();
        let after = d
            .set(dps(&[(1, DpValue::Bool(true)), (2, DpValue::Integer(20))]))
            .await
            .unwrap();
        assert_eq!(after[&DpId(1)], DpValue::Bool(true));
        assert_eq!(after[&DpId(2)], DpValue::Integer(20));
        assert!(!d.is_single_dp(), "a split report is not a refusal");
        let now = d.status().await.unwrap();
        assert_eq!(
            now[&DpId(7)],
            DpValue::Integer(70),
            "the push before the reply was merged"
        );
        assert_eq!(
            now[&DpId(5)],
            DpValue::String("x".into()),
            "kept although not in the reply"
        );
        let e = wait_for(
            &mut ev,
            |e| matches!(e, Event::Update { changed, .. } if changed.contains_key(&DpId(7))),
        )
        .await;
        assert!(matches!(e, Event::Update { pushed: true, .. }), "{e:?}");
        // the heartbeat is answered with seq 0 and the connection stays up
        let f = device.await.unwrap();
        assert!(d.is_connected());
        drop(f);
        wait_for(&mut ev, |e| matches!(e, Event::Disconnected { .. })).await;
    })
    .await
}

#[tokio::test]
async fn silent_device_is_dropped_after_two_missed_heartbeats() {
    bounded(async {
        let listener = TcpListener::bind((ip(40, 2), 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let device = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let key = LocalKey::new(KEY).unwrap();
            let mut f = Fake {
                s,
                codec: Codec::with_entropy(V, key, Role::Device, test_rng()),
                split: FrameSplitter::new(),
            };
            let q = f.next().await;
            f.send_all(&[Message::reply(
                V,
                q.seq,
                Command::DpQuery,
                st(&[(1, DpValue::Bool(true))], false),
            )])
            .await;
            // then read and never answer, keeping the socket open
            let mut beats = 0;
            while beats < 2 {
                if f.next().await.cmd == Command::HeartBeat {
                    beats += 1;
                }
            }
            f
        });
        let mut c = DeviceConfig::new("raw2", LocalKey::new(KEY).unwrap(), addr).version(V);
        c.heartbeat_interval = Duration::from_millis(200);
        c.reconnect_min = Duration::from_secs(30); // no reconnect within the test
        let d = Device::connect(c).await.unwrap();
        let mut ev = d.subscribe();
        let e = wait_for(&mut ev, |e| matches!(e, Event::Disconnected { .. })).await;
        assert!(format!("{e:?}").contains("unanswered"), "{e:?}");
        assert!(!d.is_connected());
        let _f = device.await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_late_reply_to_a_timed_out_request_is_not_taken_for_the_next_reply() {
    bounded(async {
        let listener = TcpListener::bind((ip(40, 3), 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let device = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let key = LocalKey::new(KEY).unwrap();
            let mut f = Fake {
                s,
                codec: Codec::with_entropy(V, key, Role::Device, test_rng()),
                split: FrameSplitter::new(),
            };
            let q = f.next().await;
            f.send_all(&[Message::reply(
                V,
                q.seq,
                Command::DpQuery,
                st(&[(1, DpValue::Bool(false))], false),
            )])
            .await;
            // the first CONTROL is not answered in time...
            let first = f.next().await;
            assert_eq!(first.cmd, Command::Control);
            // ...its ack arrives during the second one, which the device then refuses
            let second = f.next().await;
            assert_eq!(second.cmd, Command::Control);
            f.send_all(&[empty(first.seq, Command::Control)]).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            f.send_all(&[Message::device_error(
                second.seq,
                Command::Control,
                "data format error",
            )])
            .await;
            f
        });
        let mut c = DeviceConfig::new("raw3", LocalKey::new(KEY).unwrap(), addr).version(V);
        // The second answer comes 100 ms after the first ack: 2 s leaves a loaded machine room.
        c.request_timeout = Duration::from_secs(2);
        let d = Device::connect(c).await.unwrap();
        let e = d.set_dp(DpId(1), true).await.unwrap_err();
        assert!(matches!(e, tuya_local::Error::Timeout(_)), "{e}");
        let e = d.set_dp(DpId(2), 5).await.unwrap_err();
        assert!(
            matches!(&e, tuya_local::Error::Device(t) if t.contains("data format error")),
            "{e}"
        );
        let _f = device.await.unwrap();
    })
    .await
}

/// A deterministic, per-codec-distinct entropy source for tests.
fn test_rng() -> rand::rngs::StdRng {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    rand::SeedableRng::seed_from_u64(N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}
