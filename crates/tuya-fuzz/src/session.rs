//! The device-role session machine of 3.4 and 3.5: a device built from tuya-proto's
//! [`DeviceHandshake`] and a device-role [`Codec`] (as tuya-sim builds one), fed whatever the
//! input makes of the client side: real handshakes from a [`ClientHandshake`], data frames,
//! garbage, forged negotiation messages, corrupted and replayed frames, reconnects.
//!
//! What must hold: a key is agreed only with the genuine client (never from a forgery or a
//! replay); both sides then derive the same key and every frame decodes on the other side to
//! what was sent; a frame of these authenticated versions with any byte corrupted is rejected;
//! the handshake states follow the calls; buffers stay bounded.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tuya_proto::frame::{FrameSplitter, HEADER_6699};
use tuya_proto::session::{ClientHandshake, ClientState, DeviceHandshake, DeviceState};
use tuya_proto::{Codec, Command, LocalKey, Message, Role, Version};

use crate::input::Input;
use crate::stream::{KEYS, MAX_FRAME};

/// What a run reached, for tests that check the seeds get somewhere.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SessionStats {
    /// Session keys the device derived (each agreed with the client).
    pub agreed: usize,
    /// Data frames the device decoded under an agreed key and answered.
    pub answered: usize,
    /// Corrupted frames rejected.
    pub rejected: usize,
}

/// A frame from the device with the session key it was sealed under.
type Sent = (Vec<u8>, Option<[u8; 16]>);

struct Device {
    version: Version,
    key: LocalKey,
    codec: Codec,
    split: FrameSplitter,
    hs: Option<DeviceHandshake>,
    rng: StdRng,
    session: Option<[u8; 16]>,
    nonces: Vec<[u8; 16]>,
    out: Vec<Sent>,
}

struct Client {
    codec: Codec,
    split: FrameSplitter,
    hs: Option<ClientHandshake>,
    finish: Option<Vec<u8>>,
    session: Option<[u8; 16]>,
    keys: Vec<[u8; 16]>,
    seq: u32,
    last: Vec<u8>,
}

pub(crate) fn run(data: &[u8]) -> SessionStats {
    let mut inp = Input(data);
    let sel = inp.u8();
    let version = if sel & 1 == 0 {
        Version::V34
    } else {
        Version::V35
    };
    let key = KEYS[0].local_key();
    let seed = u64::from(sel);
    let mut dev = Device {
        version,
        key: key.clone(),
        codec: Codec::with_entropy(
            version,
            key.clone(),
            Role::Device,
            StdRng::seed_from_u64(seed),
        ),
        split: FrameSplitter::with_max_len(MAX_FRAME),
        hs: None,
        rng: StdRng::seed_from_u64(seed ^ 0xd5),
        session: None,
        nonces: Vec::new(),
        out: Vec::new(),
    };
    let mut cl = Client {
        codec: Codec::with_entropy(
            version,
            key.clone(),
            Role::Client,
            StdRng::seed_from_u64(!seed),
        ),
        split: FrameSplitter::with_max_len(MAX_FRAME),
        hs: None,
        finish: None,
        session: None,
        keys: Vec::new(),
        seq: 1,
        last: Vec::new(),
    };
    let mut st = SessionStats::default();
    for _ in 0..64 {
        if inp.is_empty() {
            break;
        }
        match inp.u8() % 8 {
            0 => dev.feed(inp.bytes(64), &mut st),
            1 => {
                let hs = ClientHandshake::new(version, key.clone(), inp.array(), cl.seq);
                let mut hs = hs.expect("3.4 and 3.5 negotiate");
                let start = hs.start();
                assert_eq!(hs.state(), ClientState::AwaitingResponse);
                cl.hs = Some(hs);
                cl.finish = None;
                cl.send(&start, &mut dev, &mut st);
            }
            2 => {
                if let Some(f) = cl.finish.take() {
                    cl.send_frame(f, &mut dev, &mut st);
                }
            }
            3 => {
                let cmds = [
                    version.query_command(),
                    version.control_command(),
                    Command::HeartBeat,
                    Command::UpdateDps,
                ];
                let cmd = cmds[usize::from(inp.u8()) % cmds.len()];
                let m = Message::request(version, cl.seq, cmd, inp.bytes(48).to_vec());
                if let Ok(f) = cl.codec.encode(&m) {
                    if cl.session.is_some() && cl.session == dev.session {
                        let got = dev.codec.decode(&f).expect("a frame under the agreed key");
                        assert_eq!((got.cmd, got.seq, &got.payload), (m.cmd, m.seq, &m.payload));
                    }
                    cl.send_frame(f, &mut dev, &mut st);
                }
            }
            4 if !cl.last.is_empty() => {
                let mut bad = cl.last.clone();
                let at = usize::from(inp.u16()) % bad.len();
                bad[at] ^= inp.u8() | 1;
                // Every byte of a 3.4 (HMAC) or 3.5 (GCM) frame is authenticated or checked.
                assert!(
                    dev.codec.decode(&bad).is_err(),
                    "{version}: a frame with byte {at} corrupted decodes"
                );
                st.rejected += 1;
                dev.feed(&bad, &mut st);
            }
            5 => {
                let cmds = [
                    Command::SessKeyNegStart,
                    Command::SessKeyNegFinish,
                    Command::SessKeyNegResp,
                ];
                let sel = usize::from(inp.u8());
                let cmd = cmds
                    .get(sel % 4)
                    .copied()
                    .unwrap_or(Command::from(sel as u32));
                let m = Message::request(version, cl.seq, cmd, inp.bytes(64).to_vec());
                if let Ok(f) = cl.codec.encode(&m) {
                    cl.send_frame(f, &mut dev, &mut st);
                }
            }
            6 => {
                // A reconnect: both sides start over without a session.
                dev.split = FrameSplitter::with_max_len(MAX_FRAME);
                dev.hs = None;
                dev.codec.clear_session();
                dev.session = None;
                dev.out.clear();
                cl.split = FrameSplitter::with_max_len(MAX_FRAME);
                cl.hs = None;
                cl.finish = None;
                cl.codec.clear_session();
                cl.session = None;
            }
            _ => {
                let again = cl.last.clone();
                dev.feed(&again, &mut st);
            }
        }
        cl.receive(&mut dev);
    }
    st
}

impl Device {
    fn feed(&mut self, bytes: &[u8], st: &mut SessionStats) {
        self.split.feed(bytes);
        while let Some(r) = self.split.next_frame() {
            let Ok(m) = r.and_then(|f| self.codec.decode(&f)) else {
                continue;
            };
            match m.cmd {
                Command::SessKeyNegStart => self.start(&m),
                Command::SessKeyNegFinish => self.finish(&m, st),
                // A RESP sent to the device (a forgery) means nothing to it.
                c if c.is_negotiation() => {}
                _ => {
                    // Data decodes only under a session (3.4/3.5 have no keyless data).
                    let key = self.session.expect("data decoded without a session key");
                    let reply = Message::reply(self.version, m.seq, m.cmd, m.payload);
                    let f = self.codec.encode(&reply).expect("the device encodes");
                    self.out.push((f, Some(key)));
                    st.answered += 1;
                }
            }
        }
        // Once drained, at most one incomplete frame is held.
        assert!(self.split.pending() < MAX_FRAME + HEADER_6699 + 4);
        assert!(self.out.len() <= 64, "{} frames queued", self.out.len());
    }

    fn start(&mut self, m: &Message) {
        let nonce: [u8; 16] = self.rng.gen();
        let mut hs = DeviceHandshake::new(self.version, self.key.clone(), nonce)
            .expect("3.4 and 3.5 negotiate");
        // A new negotiation replaces the session, as tuya-sim's device does.
        self.codec.clear_session();
        self.session = None;
        match hs.on_start(m) {
            Ok(resp) => {
                assert_eq!(hs.state(), DeviceState::AwaitingFinish);
                assert_eq!((resp.cmd, resp.seq), (Command::SessKeyNegResp, m.seq));
                let f = self.codec.encode(&resp).expect("the device encodes");
                self.out.push((f, None));
                self.nonces.push(nonce);
                self.hs = Some(hs);
            }
            Err(_) => {
                assert_eq!(hs.state(), DeviceState::Failed);
                assert!(m.payload.len() < 16, "a START with a nonce refused");
                self.hs = None;
            }
        }
    }

    fn finish(&mut self, m: &Message, st: &mut SessionStats) {
        let Some(mut hs) = self.hs.take() else {
            return;
        };
        match hs.on_finish(m) {
            Ok(k) => {
                assert_eq!(hs.state(), DeviceState::Done);
                self.session = Some(*k.as_bytes());
                self.codec.set_session_key(k);
                st.agreed += 1;
            }
            Err(_) => assert_eq!(hs.state(), DeviceState::Failed),
        }
    }
}

impl Client {
    fn send(&mut self, m: &Message, dev: &mut Device, st: &mut SessionStats) {
        let f = self
            .codec
            .encode(m)
            .expect("negotiation encodes with the local key");
        self.send_frame(f, dev, st);
    }

    fn send_frame(&mut self, f: Vec<u8>, dev: &mut Device, st: &mut SessionStats) {
        self.seq = self.seq.wrapping_add(1);
        dev.feed(&f, st);
        self.last = f;
        // Only the genuine client can finish a handshake, so any key the device holds is one
        // this client derived.
        if let Some(k) = dev.session {
            assert!(
                self.keys.contains(&k),
                "the device agreed a key with a forger"
            );
        }
    }

    /// Takes what the device sent: answers a RESP with a FINISH (sent by op 2), and checks
    /// that every frame sealed under the key this side holds decodes.
    fn receive(&mut self, dev: &mut Device) {
        for (f, sealed) in std::mem::take(&mut dev.out) {
            self.split.feed(&f);
            let Some(Ok(frame)) = self.split.next_frame() else {
                panic!("a device frame the client cannot split");
            };
            let m = self.codec.decode(&frame);
            if m.as_ref().is_ok_and(|m| m.cmd == Command::SessKeyNegResp) {
                self.response(m.as_ref().expect("checked"), dev);
            } else if sealed.is_some() && sealed == self.session {
                assert!(m.is_ok(), "a device frame under the agreed key: {m:?}");
            }
        }
    }

    fn response(&mut self, m: &Message, dev: &Device) {
        let Some(hs) = self
            .hs
            .as_mut()
            .filter(|h| h.state() == ClientState::AwaitingResponse)
        else {
            return;
        };
        // A RESP to a replayed or forged START does not verify; one that does is the genuine
        // device's, carrying one of its nonces.
        let Ok((finish, k)) = hs.on_response(m) else {
            return;
        };
        assert!(dev.nonces.iter().any(|n| m.payload.starts_with(n)));
        self.keys.push(*k.as_bytes());
        self.session = Some(*k.as_bytes());
        self.finish = Some(self.codec.encode(&finish).expect("FINISH encodes"));
        self.codec.set_session_key(k);
    }
}
