//! A real loopback TCP exchange between a tuya-proto client and a tuya-proto device, with every
//! chunk written to the socket recorded, and a capture built from the recording.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tuya_capture::synth::{CaptureWriter, Format, Link, TcpConversation};
use tuya_capture::Timestamp;
use tuya_proto::frame::FrameSplitter;
use tuya_proto::payload::{self, Target};
use tuya_proto::session::{ClientHandshake, DeviceHandshake};
use tuya_proto::{
    Codec, Command, DpId, DpValue, Dps, LocalKey, Message, Role, SessionKey, Version,
};

pub const KEY: &str = "0123456789abcdef";

/// What crossed the wire, as the two sides wrote it.
#[derive(Default, Debug)]
pub struct Log {
    /// (from_client, bytes) in write order.
    pub chunks: Vec<(bool, Vec<u8>)>,
    /// (from_client, message) in encode order.
    pub sent: Vec<(bool, Message)>,
}

pub struct Exchange {
    pub client: SocketAddr,
    pub device: SocketAddr,
    pub log: Log,
    pub session_key: Option<SessionKey>,
}

struct Side {
    stream: TcpStream,
    from_client: bool,
    codec: Codec,
    split: FrameSplitter,
    log: Arc<Mutex<Log>>,
}

impl Side {
    /// The recording hook: every chunk written is logged before it goes out. Frames go out in
    /// two writes so the capture has frames spanning segments.
    fn send(&mut self, msg: Message) {
        let wire = self.codec.encode(&msg).unwrap();
        let cut = wire.len() / 3;
        let mut log = self.log.lock().unwrap();
        log.sent.push((self.from_client, msg));
        for part in [&wire[..cut], &wire[cut..]] {
            log.chunks.push((self.from_client, part.to_vec()));
            self.stream.write_all(part).unwrap();
            self.stream.flush().unwrap();
        }
    }

    fn recv(&mut self) -> Option<Message> {
        loop {
            if let Some(f) = self.split.next_frame() {
                return Some(self.codec.decode(&f.unwrap()).unwrap());
            }
            let mut buf = [0u8; 4096];
            let n = self.stream.read(&mut buf).unwrap();
            if n == 0 {
                return None;
            }
            self.split.feed(&buf[..n]);
        }
    }
}

fn dps(on: bool, level: i64) -> Dps {
    let mut d = Dps::new();
    d.insert(DpId(1), DpValue::Bool(on));
    d.insert(DpId(2), DpValue::Integer(level));
    d
}

fn device_loop(
    mut side: Side,
    version: Version,
    key: LocalKey,
    dev_id: &str,
) -> Option<SessionKey> {
    let mut rng = rand::thread_rng();
    let mut hs = DeviceHandshake::new(version, key, rng.gen()).ok();
    let mut sk = None;
    while let Some(m) = side.recv() {
        match m.cmd {
            Command::SessKeyNegStart => {
                let resp = hs.as_mut().unwrap().on_start(&m).unwrap();
                side.send(resp);
            }
            Command::SessKeyNegFinish => {
                let k = hs.as_mut().unwrap().on_finish(&m).unwrap();
                side.codec.set_session_key(k);
                sk = Some(k);
            }
            Command::HeartBeat => side.send(Message::reply(version, m.seq, m.cmd, vec![])),
            c if c == version.query_command() => {
                let body = payload::status(version, dev_id, None, &dps(true, 10), None);
                side.send(Message::reply(version, m.seq, c, body));
            }
            c if c == version.control_command() => {
                side.send(Message::reply(version, m.seq, c, vec![]));
                let body =
                    payload::status(version, dev_id, None, &dps(false, 42), Some(1_700_000_123));
                side.send(Message::reply(version, 0, Command::Status, body));
            }
            _ => {}
        }
    }
    sk
}

/// Runs a full session between a client and a device listening on `ip:6668`.
pub fn run_exchange(version: Version, ip: &str, dev_id: &str) -> Exchange {
    let key = LocalKey::new(KEY).unwrap();
    let device_addr: SocketAddr = format!("{ip}:6668").parse().unwrap();
    let listener = TcpListener::bind(device_addr).unwrap();
    let log = Arc::new(Mutex::new(Log::default()));
    let mut rng = rand::thread_rng();

    let dlog = log.clone();
    let dkey = key.clone();
    let did = dev_id.to_string();
    let device = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let codec = Codec::with_entropy(version, dkey.clone(), Role::Device, test_rng());
        let side = Side {
            stream,
            from_client: false,
            codec,
            split: FrameSplitter::new(),
            log: dlog,
        };
        device_loop(side, version, dkey, &did)
    });

    let stream = TcpStream::connect_timeout(&device_addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let client_addr = stream.local_addr().unwrap();
    let codec = Codec::with_entropy(version, key.clone(), Role::Client, test_rng());
    let mut c = Side {
        stream,
        from_client: true,
        codec,
        split: FrameSplitter::new(),
        log: log.clone(),
    };
    let mut seq = 1;
    let mut client_sk = None;
    if version.uses_session_key() {
        let mut hs = ClientHandshake::new(version, key, rng.gen(), seq).unwrap();
        c.send(hs.start());
        let resp = c.recv().unwrap();
        let (finish, sk) = hs.on_response(&resp).unwrap();
        c.send(finish);
        c.codec.set_session_key(sk);
        client_sk = Some(sk);
        seq += 2;
    }
    let t = Target {
        version,
        dev_id,
        cid: None,
        t: 1_700_000_000,
    };
    let (cmd, body) = payload::query(&t);
    c.send(Message::request(version, seq, cmd, body));
    assert!(c.recv().is_some());
    let (cmd, body) = payload::control(&t, &dps(false, 42));
    c.send(Message::request(version, seq + 1, cmd, body));
    assert!(c.recv().is_some());
    assert!(c.recv().is_some()); // status push
    let (cmd, body) = payload::heartbeat(&t);
    c.send(Message::request(version, seq + 2, cmd, body));
    assert!(c.recv().is_some());
    c.stream.shutdown(std::net::Shutdown::Both).unwrap();
    let device_sk = device.join().unwrap();
    assert_eq!(client_sk, device_sk);
    let log = std::mem::take(&mut *log.lock().unwrap());
    Exchange {
        client: client_addr,
        device: device_addr,
        log,
        session_key: client_sk,
    }
}

pub fn ts(i: usize) -> Timestamp {
    Timestamp {
        secs: 1_700_000_000 + i as i64,
        nanos: 250_000_000,
    }
}

/// The IP packets of an exchange, in order: handshake, every recorded chunk, FINs.
pub fn packets(ex: &Exchange, client: SocketAddr, device: SocketAddr) -> Vec<Vec<u8>> {
    let mut conv = TcpConversation::new(client, device);
    let mut out = conv.open();
    for (from_client, bytes) in &ex.log.chunks {
        out.push(conv.send(*from_client, bytes));
    }
    out.push(conv.fin(true));
    out.push(conv.fin(false));
    out
}

/// A capture of the exchange with the given format and link type.
pub fn capture(ex: &Exchange, format: Format, link: Link) -> Vec<u8> {
    let mut w = CaptureWriter::new(format, link);
    for (i, p) in packets(ex, ex.client, ex.device).iter().enumerate() {
        w.packet(ts(i), p);
    }
    w.into_bytes()
}

pub fn devices_json(entries: &[(&str, &str, &str, Option<&str>)]) -> String {
    let list: Vec<serde_json::Value> = entries
        .iter()
        .map(|(name, id, ip, v)| {
            let mut o = serde_json::json!({"name": name, "id": id, "key": KEY, "ip": ip, "mac": "", "product_id": "x"});
            if let Some(v) = v {
                o["version"] = (*v).into();
            }
            o
        })
        .collect();
    serde_json::to_string_pretty(&list).unwrap()
}

/// A deterministic, per-codec-distinct entropy source for tests.
fn test_rng() -> rand::rngs::StdRng {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    rand::SeedableRng::seed_from_u64(N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}
