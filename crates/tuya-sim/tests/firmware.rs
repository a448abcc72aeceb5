//! Each firmware rule observably does what it says, over loopback TCP/UDP with the proto
//! client; each default keeps the lenient behaviour. Addresses: 127.0.19.x.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::UdpSocket;
use tokio::time::{timeout, Instant};
use tuya_proto::discovery;
use tuya_proto::payload::{self, Target};
use tuya_proto::session::derive_session_key;
use tuya_proto::{Codec, Command, DpId, DpValue, LocalKey, Message, Role, SessionKey, Version};
use tuya_sim::{DeviceHandle, DeviceSpec, Firmware, SimOptions, Simulator, TrafficEvent};

/// What `Client::negotiate` sends as its nonce.
const CLIENT_NONCE: &[u8; 16] = b"client-nonce-016";
/// How long "no answer" is waited for.
const QUIET: Duration = Duration::from_millis(400);

fn with_firmware(id: &str, v: Version, host: u8, fw: Firmware) -> DeviceSpec {
    let mut s = spec(id, v, ip(19, host));
    s.firmware = fw;
    s
}

/// Waits until the device counts `n` clients (its accept loop runs concurrently).
async fn wait_clients(dev: &DeviceHandle, n: usize) {
    for _ in 0..300 {
        if dev.client_count() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "device {} has {} clients, not {n}",
        dev.id(),
        dev.client_count()
    );
}

async fn write_raw(c: &mut Client, bytes: &[u8]) {
    timeout(T, c.stream.write_all(bytes))
        .await
        .expect("write timed out")
        .expect("write");
}

/// A DP query frame for `id` sealed by `codec`, whatever key it holds.
fn query_frame(codec: &mut Codec, v: Version, id: &str, seq: u32) -> Vec<u8> {
    let t = Target {
        version: v,
        dev_id: id,
        cid: None,
        t: 1_700_000_000,
    };
    let (cmd, body) = payload::query(&t);
    codec
        .encode(&Message::request(v, seq, cmd, body))
        .expect("encode")
}

/// A data frame as a client sends it when it believes it has a session key (any key will do:
/// the device has none to check it with).
fn presession_frame(v: Version, id: &str, seq: u32) -> Vec<u8> {
    let mut codec = Codec::with_entropy(
        v,
        LocalKey::new(KEY).unwrap(),
        Role::Client,
        common::test_rng(),
    );
    codec.set_session_key(SessionKey::from_bytes([7; 16]));
    query_frame(&mut codec, v, id, seq)
}

async fn assert_quiet(c: &mut Client, what: &str) {
    match c.recv_within(QUIET).await {
        Err(RecvError::Timeout) => {}
        other => panic!("{what}: expected no answer and an open connection, got {other:?}"),
    }
}

async fn assert_answered(c: &mut Client, what: &str) {
    let seq = c.query(None).await;
    let r = c.recv().await.unwrap_or_else(|e| panic!("{what}: {e:?}"));
    assert_eq!(r.seq, seq, "{what}");
    assert!(status_dps(&r).contains_key(&DpId(1)), "{what}");
}

/// The session key a negotiation produced, computed on the client side from its response.
fn derived_key(v: Version, resp: &Message) -> [u8; 16] {
    let dn: [u8; 16] = resp.payload[..16].try_into().unwrap();
    *derive_session_key(v, &LocalKey::new(KEY).unwrap(), CLIENT_NONCE, &dn)
        .unwrap()
        .as_bytes()
}

#[tokio::test]
async fn max_clients_three_serves_three_pushes_to_all_and_closes_a_fourth() {
    let three = Firmware {
        max_clients: 3,
        ..Default::default()
    };
    let sim = start(vec![
        with_firmware("bffw3cl", Version::V34, 10, three),
        with_firmware("bffw1cl", Version::V34, 11, Firmware::default()),
    ])
    .await;
    let dev = sim.device("bffw3cl").unwrap();
    let mut clients = Vec::new();
    for n in 1..=3 {
        clients.push(Client::connect(dev.addr(), Version::V34, KEY, "bffw3cl").await);
        wait_clients(&dev, n).await;
    }
    let mut fourth = Client::connect_raw(dev.addr(), Version::V34, KEY, "bffw3cl").await;
    assert!(fourth.closed_within(T).await, "a fourth client is closed");
    assert_eq!(dev.client_count(), 3);
    // Each client has its own session: each is answered under its own key.
    for (i, c) in clients.iter_mut().enumerate() {
        assert_answered(c, &format!("client {i}")).await;
    }
    dev.set_dp(DpId(1), DpValue::Bool(true));
    for (i, c) in clients.iter_mut().enumerate() {
        let push = c
            .recv()
            .await
            .unwrap_or_else(|e| panic!("client {i}: {e:?}"));
        assert_eq!(push.cmd, Command::Status, "client {i}");
        assert_eq!(status_dps(&push), dps(&[(1, DpValue::Bool(true))]));
    }
    dev.close_client();
    for c in &mut clients {
        assert!(c.closed_within(T).await, "close_client closes every client");
    }
    wait_clients(&dev, 0).await;
    assert!(!dev.is_connected());

    // Default firmware: a second client is closed at once, the first keeps being served.
    let one = sim.device("bffw1cl").unwrap();
    let mut first = Client::connect(one.addr(), Version::V34, KEY, "bffw1cl").await;
    wait_connected(&one).await;
    let mut second = Client::connect_raw(one.addr(), Version::V34, KEY, "bffw1cl").await;
    assert!(
        second.closed_within(T).await,
        "default: second client closed"
    );
    assert_eq!(one.client_count(), 1);
    assert_answered(&mut first, "default first client").await;
    stop(sim).await;
}

#[tokio::test]
async fn strict_seq_closes_on_a_repeated_or_lower_sequence_number() {
    let strict = Firmware {
        strict_seq: true,
        ..Default::default()
    };
    let sim = start(vec![
        with_firmware("bffwseq", Version::V33, 20, strict),
        with_firmware("bffwseqoff", Version::V33, 21, Firmware::default()),
    ])
    .await;
    let dev = sim.device("bffwseq").unwrap();
    let mut c = Client::connect(dev.addr(), Version::V33, KEY, "bffwseq").await;
    c.seq = 10;
    assert_answered(&mut c, "seq 11").await;
    c.heartbeat().await; // 12
    assert_eq!(c.recv().await.unwrap().cmd, Command::HeartBeat);
    c.seq = 11;
    c.query(None).await; // 12 again
    assert!(
        matches!(c.recv().await, Err(RecvError::Closed)),
        "a repeated seq is not answered and closes"
    );
    wait_disconnected(&dev).await;

    let mut c = Client::connect(dev.addr(), Version::V33, KEY, "bffwseq").await;
    c.seq = 20;
    assert_answered(&mut c, "a new connection starts afresh").await;
    c.seq = 4;
    c.query(None).await; // 5 < 21
    assert!(
        matches!(c.recv().await, Err(RecvError::Closed)),
        "a lower seq is not answered and closes"
    );

    let off = sim.device("bffwseqoff").unwrap();
    let mut c = Client::connect(off.addr(), Version::V33, KEY, "bffwseqoff").await;
    for _ in 0..2 {
        c.seq = 7;
        assert_answered(&mut c, "default: a repeated seq is answered").await;
    }
    stop(sim).await;
}

#[tokio::test]
async fn zero_key_is_taken_as_no_key_until_a_new_handshake() {
    let rules = Firmware {
        zero_key_is_no_key: true,
        zero_key_handshakes: 1,
        pre_session_limit: Some(3),
        ..Default::default()
    };
    let knob_only = Firmware {
        zero_key_handshakes: 1,
        ..Default::default()
    };
    let sim = start(vec![
        with_firmware("bffwzk34", Version::V34, 30, rules.clone()),
        with_firmware("bffwzk35", Version::V35, 31, rules),
        with_firmware("bffwzkuse", Version::V34, 32, knob_only),
    ])
    .await;

    // Data frames under a 0x00 key are ignored; the 4th closes the connection.
    let dev = sim.device("bffwzk34").unwrap();
    let mut c = Client::connect_raw(dev.addr(), Version::V34, KEY, "bffwzk34").await;
    let resp = c.negotiate().await.unwrap();
    assert_eq!(derived_key(Version::V34, &resp)[0], 0, "forced 0x00 key");
    for _ in 0..3 {
        c.query(None).await;
    }
    assert_quiet(&mut c, "3 frames under a 0x00 key").await;
    c.query(None).await;
    assert!(c.closed_within(T).await, "the 4th frame closes");
    wait_disconnected(&dev).await;
    // Only the first handshake is forced: the next connection works.
    let mut c = Client::connect_raw(dev.addr(), Version::V34, KEY, "bffwzk34").await;
    let resp = c.negotiate().await.unwrap();
    assert_ne!(derived_key(Version::V34, &resp)[0], 0);
    assert_answered(&mut c, "second connection").await;

    // A new handshake on the same connection starts afresh.
    let dev = sim.device("bffwzk35").unwrap();
    let mut c = Client::connect_raw(dev.addr(), Version::V35, KEY, "bffwzk35").await;
    let resp = c.negotiate().await.unwrap();
    assert_eq!(derived_key(Version::V35, &resp)[0], 0, "forced 0x00 key");
    c.query(None).await;
    c.query(None).await;
    assert_quiet(&mut c, "frames under a 0x00 key").await;
    let resp = c.negotiate().await.unwrap();
    assert_ne!(derived_key(Version::V35, &resp)[0], 0);
    assert_answered(&mut c, "after a second handshake").await;

    // Without zero_key_is_no_key, the forced key is used like any other.
    let dev = sim.device("bffwzkuse").unwrap();
    let mut c = Client::connect_raw(dev.addr(), Version::V34, KEY, "bffwzkuse").await;
    let resp = c.negotiate().await.unwrap();
    assert_eq!(derived_key(Version::V34, &resp)[0], 0);
    assert_answered(&mut c, "0x00 key in use").await;
    stop(sim).await;
}

#[tokio::test]
async fn pre_session_limit_ignores_three_frames_and_closes_on_the_fourth() {
    let limit = Firmware {
        pre_session_limit: Some(3),
        ..Default::default()
    };
    let sim = start(vec![
        with_firmware("bffwpre", Version::V34, 40, limit),
        with_firmware("bffwpreoff", Version::V35, 41, Firmware::default()),
    ])
    .await;
    let dev = sim.device("bffwpre").unwrap();
    let mut c = Client::connect_raw(dev.addr(), Version::V34, KEY, "bffwpre").await;
    for seq in 1..=3 {
        write_raw(&mut c, &presession_frame(Version::V34, "bffwpre", seq)).await;
    }
    assert_quiet(&mut c, "3 frames before a session key").await;
    // Handshake frames do not count, and neither do frames once a key exists.
    c.seq = 3;
    c.negotiate()
        .await
        .expect("negotiation after 3 ignored frames");
    for i in 0..2 {
        assert_answered(&mut c, &format!("query {i} with a session")).await;
    }
    drop(c);
    wait_disconnected(&dev).await;

    let mut c = Client::connect_raw(dev.addr(), Version::V34, KEY, "bffwpre").await;
    for seq in 1..=4 {
        write_raw(&mut c, &presession_frame(Version::V34, "bffwpre", seq)).await;
    }
    assert!(c.closed_within(T).await, "the 4th frame closes");

    // Default: every frame before a session key is ignored and the connection stays.
    let off = sim.device("bffwpreoff").unwrap();
    let mut c = Client::connect_raw(off.addr(), Version::V35, KEY, "bffwpreoff").await;
    for seq in 1..=6 {
        write_raw(&mut c, &presession_frame(Version::V35, "bffwpreoff", seq)).await;
    }
    assert_quiet(&mut c, "default: 6 frames before a session key").await;
    c.seq = 6;
    c.negotiate().await.expect("negotiation");
    assert_answered(&mut c, "default: after negotiation").await;
    stop(sim).await;
}

#[tokio::test]
async fn a_handshake_on_a_session_replaces_its_key() {
    let sim = start(vec![
        with_firmware("bffwre34", Version::V34, 50, Firmware::default()),
        with_firmware("bffwre35", Version::V35, 51, Firmware::default()),
    ])
    .await;
    for (id, v) in [("bffwre34", Version::V34), ("bffwre35", Version::V35)] {
        let dev = sim.device(id).unwrap();
        let mut c = Client::connect(dev.addr(), v, KEY, id).await;
        assert_answered(&mut c, &format!("{v} first session")).await;
        let mut old = Codec::with_entropy(
            v,
            LocalKey::new(KEY).unwrap(),
            Role::Client,
            common::test_rng(),
        );
        old.set_session_key(c.session_key.expect("negotiated"));
        c.negotiate().await.expect("second negotiation");
        c.seq += 1;
        let stale = query_frame(&mut old, v, id, c.seq);
        write_raw(&mut c, &stale).await;
        assert_quiet(&mut c, &format!("{v}: the old session key")).await;
        assert_answered(&mut c, &format!("{v}: the new session key")).await;
    }
    stop(sim).await;
}

#[tokio::test]
async fn max_frame_closes_on_a_frame_over_4096_bytes() {
    let cap = Firmware {
        max_frame: Some(4096),
        ..Default::default()
    };
    let sim = start(vec![
        with_firmware("bffwbig", Version::V33, 60, cap),
        with_firmware("bffwbigoff", Version::V33, 61, Firmware::default()),
    ])
    .await;
    let big = dps(&[(3, DpValue::String("x".repeat(4800)))]);
    let big_frame = |c: &mut Client, id: &str| {
        c.seq += 1;
        let t = Target {
            version: Version::V33,
            dev_id: id,
            cid: None,
            t: 1_700_000_000,
        };
        let (cmd, body) = payload::control(&t, &big);
        let f = c
            .codec
            .encode(&Message::request(Version::V33, c.seq, cmd, body))
            .unwrap();
        assert!((4097..16_384).contains(&f.len()), "{} bytes", f.len());
        f
    };
    let dev = sim.device("bffwbig").unwrap();
    let mut c = Client::connect(dev.addr(), Version::V33, KEY, "bffwbig").await;
    assert_answered(&mut c, "a small frame").await;
    // The header alone is enough: the device does not wait for the rest.
    let f = big_frame(&mut c, "bffwbig");
    write_raw(&mut c, &f[..64]).await;
    assert!(c.closed_within(T).await, "closed on the declared length");
    wait_disconnected(&dev).await;
    let mut c = Client::connect(dev.addr(), Version::V33, KEY, "bffwbig").await;
    let f = big_frame(&mut c, "bffwbig");
    write_raw(&mut c, &f).await;
    assert!(c.closed_within(T).await, "closed on a whole big frame");
    assert_eq!(dev.dps()[&DpId(3)], DpValue::String("white".into()));

    // Default: the same frame is applied.
    let off = sim.device("bffwbigoff").unwrap();
    let mut c = Client::connect(off.addr(), Version::V33, KEY, "bffwbigoff").await;
    let f = big_frame(&mut c, "bffwbigoff");
    write_raw(&mut c, &f).await;
    assert_eq!(c.recv().await.unwrap().payload.len(), 0, "ack");
    assert_eq!(off.dps()[&DpId(3)], DpValue::String("x".repeat(4800)));
    stop(sim).await;
}

#[tokio::test]
async fn close_on_bad_frame_closes_on_a_wrong_key_instead_of_ignoring_it() {
    let close = Firmware {
        close_on_bad_frame: true,
        ..Default::default()
    };
    let sim = start(vec![
        with_firmware("bffwbad33", Version::V33, 70, close.clone()),
        with_firmware("bffwbad34", Version::V34, 71, close),
        with_firmware("bffwbadoff", Version::V33, 72, Firmware::default()),
    ])
    .await;
    let wrong = LocalKey::new("fedcba9876543210").unwrap();

    let dev = sim.device("bffwbad33").unwrap();
    let mut c = Client::connect(dev.addr(), Version::V33, KEY, "bffwbad33").await;
    assert_answered(&mut c, "right key").await;
    let mut bad = Codec::with_entropy(
        Version::V33,
        wrong.clone(),
        Role::Client,
        common::test_rng(),
    );
    c.seq += 1;
    let f = query_frame(&mut bad, Version::V33, "bffwbad33", c.seq);
    write_raw(&mut c, &f).await;
    assert!(c.closed_within(T).await, "3.3 wrong local key closes");

    let dev = sim.device("bffwbad34").unwrap();
    let mut c = Client::connect(dev.addr(), Version::V34, KEY, "bffwbad34").await;
    let mut bad = Codec::with_entropy(
        Version::V34,
        LocalKey::new(KEY).unwrap(),
        Role::Client,
        common::test_rng(),
    );
    bad.set_session_key(SessionKey::from_bytes([9; 16]));
    c.seq += 1;
    let f = query_frame(&mut bad, Version::V34, "bffwbad34", c.seq);
    write_raw(&mut c, &f).await;
    assert!(
        c.closed_within(T).await,
        "3.4 wrong session key (HMAC) closes"
    );

    // Default: ignored, and the connection stays usable.
    let off = sim.device("bffwbadoff").unwrap();
    let mut c = Client::connect(off.addr(), Version::V33, KEY, "bffwbadoff").await;
    let mut bad = Codec::with_entropy(Version::V33, wrong, Role::Client, common::test_rng());
    c.seq += 1;
    let f = query_frame(&mut bad, Version::V33, "bffwbadoff", c.seq);
    write_raw(&mut c, &f).await;
    assert_quiet(&mut c, "default: wrong key ignored").await;
    assert_answered(&mut c, "default: still usable").await;
    stop(sim).await;
}

#[tokio::test]
async fn idle_close_counts_from_the_last_frame_not_the_last_byte() {
    let mut s = spec("bffwidle", Version::V33, ip(19, 80));
    s.heartbeat_timeout = Duration::from_millis(800);
    let sim = start(vec![s]).await;
    let dev = sim.device("bffwidle").unwrap();

    // Bytes that never form a frame do not keep the client alive.
    let mut c = Client::connect(dev.addr(), Version::V33, KEY, "bffwidle").await;
    let began = Instant::now();
    loop {
        write_raw(&mut c, b"\x01").await;
        if c.closed_within(Duration::from_millis(150)).await {
            break;
        }
        assert!(began.elapsed() < Duration::from_secs(5), "never closed");
    }
    assert!(
        began.elapsed() >= Duration::from_millis(700),
        "closed too early"
    );
    wait_disconnected(&dev).await;

    // Frames do, for longer than the timeout.
    let mut c = Client::connect(dev.addr(), Version::V33, KEY, "bffwidle").await;
    let began = Instant::now();
    while began.elapsed() < Duration::from_millis(1800) {
        c.heartbeat().await;
        assert_eq!(c.recv().await.unwrap().cmd, Command::HeartBeat);
        // Pacing the client, not waiting for the device.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_answered(&mut c, "kept alive by frames").await;
    stop(sim).await;
}

async fn recv_announcement(sock: &UdpSocket, d: Duration) -> Option<(String, SocketAddr)> {
    let mut buf = vec![0u8; 4096];
    let (n, from) = timeout(d, sock.recv_from(&mut buf)).await.ok()?.ok()?;
    let a = discovery::decode(&buf[..n]).ok()?.announcement()?;
    Some((a.gw_id, from))
}

#[tokio::test]
async fn req_devinfo_is_answered_on_the_devices_own_address() {
    let mut yes33 = spec("bffwdi33y", Version::V33, ip(19, 92));
    yes33.firmware.answers_devinfo = Some(true);
    let specs = vec![
        spec("bffwdi35", Version::V35, ip(19, 90)),
        spec("bffwdi33", Version::V33, ip(19, 91)),
        yes33,
    ];
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel::<TrafficEvent>();
    let opts = SimOptions {
        devinfo_unicast_port: Some(7000),
        seed: 5,
        traffic: Some(Arc::new(move |ev: &TrafficEvent| {
            let _ = tx.send(ev.clone());
        })),
        ..Default::default()
    };
    let sim = timeout(T, Simulator::start(specs, opts))
        .await
        .expect("start timed out")
        .expect("simulator starts");
    let sock = timeout(T, UdpSocket::bind("127.0.0.1:0"))
        .await
        .unwrap()
        .unwrap();
    let me = sock.local_addr().unwrap();
    let ask = |named: &str| discovery::encode_devinfo_request(named, [9; 12]);
    let to = |host: u8| SocketAddr::new(ip(19, host).into(), 7000);
    let send = |bytes: Vec<u8>, dst: SocketAddr| {
        let sock = &sock;
        async move {
            timeout(T, sock.send_to(&bytes, dst))
                .await
                .unwrap()
                .unwrap();
        }
    };

    send(ask(&me.ip().to_string()), to(90)).await;
    let (id, from) = recv_announcement(&sock, T)
        .await
        .expect("a 3.5 device answers");
    assert_eq!(
        (id.as_str(), from),
        ("bffwdi35", to(90)),
        "from its own address"
    );

    send(ask(&me.ip().to_string()), to(91)).await;
    assert!(
        recv_announcement(&sock, QUIET).await.is_none(),
        "a 3.3 device does not answer"
    );
    send(ask(&me.ip().to_string()), to(92)).await;
    let (id, _) = recv_announcement(&sock, T)
        .await
        .expect("answers_devinfo: true");
    assert_eq!(id, "bffwdi33y");

    // A request naming a third party is refused (the device logs why), not reflected.
    send(ask("192.0.2.1"), to(90)).await;
    let deadline = Instant::now() + T;
    loop {
        let ev = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("no refusal logged")
            .expect("sink alive");
        let note = ev.note.clone().unwrap_or_default();
        assert!(!note.contains("answered to 192.0.2.1"), "{ev}");
        if ev.device == "bffwdi35" && note.contains("192.0.2.1") {
            break;
        }
    }
    assert!(recv_announcement(&sock, QUIET).await.is_none());

    // A connected device keeps quiet, like its announcements.
    let dev = sim.device("bffwdi35").unwrap();
    let c = Client::connect(dev.addr(), Version::V35, KEY, "bffwdi35").await;
    wait_connected(&dev).await;
    send(ask(&me.ip().to_string()), to(90)).await;
    assert!(recv_announcement(&sock, QUIET).await.is_none(), "connected");
    drop(c);
    wait_disconnected(&dev).await;
    send(ask(&me.ip().to_string()), to(90)).await;
    assert!(recv_announcement(&sock, T).await.is_some(), "answers again");
    stop(sim).await;
}
