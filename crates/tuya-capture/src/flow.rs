//! One TCP connection between an app and a device: reassembly of both directions, frame
//! splitting, identification of the device and version, and tracking of 3.4/3.5 session
//! negotiation so frames after it decode with the derived key.

use std::net::SocketAddr;

use tuya_proto::frame::{peek_header, FrameSplitter, Prefix, DEFAULT_MAX_FRAME};
use tuya_proto::session::derive_session_key;
use tuya_proto::{Codec, Command, LocalKey, Message, Role, Sender, Version};

use crate::keys::KeyStore;
use crate::record::{Direction, Event, Problem};
use crate::tcp::{Chunk, HalfStream};

/// The TCP port devices listen on.
pub const DEVICE_PORT: u16 = 6668;

/// Devices tried per frame while a connection's device is not yet identified.
const MAX_KEY_TRIALS: usize = 64;

/// A decoded unit before the decoder adds time and addresses.
#[derive(Debug)]
pub(crate) struct Out {
    pub direction: Direction,
    pub device: Option<usize>,
    pub version: Option<Version>,
    pub bytes: Vec<u8>,
    pub event: Event,
}

struct Half {
    stream: HalfStream,
    split: FrameSplitter,
    last_chunk: Vec<u8>,
    closed: bool,
}

impl Half {
    fn new() -> Self {
        Self {
            stream: HalfStream::new(),
            split: FrameSplitter::new(),
            last_chunk: Vec::new(),
            closed: false,
        }
    }
}

/// One connection. Index 0 of `halves` is app→device, 1 is device→app.
pub(crate) struct Flow {
    pub client: SocketAddr,
    pub device_addr: SocketAddr,
    /// Whether we know which side is the device (port 6668 or a SYN), rather than guessing.
    roles_known: bool,
    halves: [Half; 2],
    device: Option<usize>,
    codec: Option<Codec>,
    client_nonce: Option<[u8; 16]>,
    pub last_active: u64,
}

impl Flow {
    /// A flow first seen with a segment from `src` to `dst`.
    pub fn new(src: SocketAddr, dst: SocketAddr, syn_only: bool, ports: &[u16]) -> Self {
        let (client, device_addr, roles_known) = if ports.contains(&dst.port()) {
            (src, dst, true)
        } else if ports.contains(&src.port()) {
            (dst, src, true)
        } else {
            // A bare SYN comes from the client; otherwise assume the first sender is the app.
            (src, dst, syn_only)
        };
        Self {
            client,
            device_addr,
            roles_known,
            halves: [Half::new(), Half::new()],
            device: None,
            codec: None,
            client_nonce: None,
            last_active: 0,
        }
    }

    fn index(&self, src: SocketAddr) -> usize {
        usize::from(src != self.client)
    }

    /// Retransmitted segments seen so far in both directions.
    pub fn retransmitted(&self) -> u64 {
        self.halves.iter().map(|h| h.stream.retransmitted()).sum()
    }

    /// Whether both directions have ended.
    pub fn closed(&self) -> bool {
        self.halves.iter().all(|h| h.closed)
    }

    /// Takes one segment from `src`; decoded units go to `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn segment(
        &mut self,
        keys: &KeyStore,
        src: SocketAddr,
        seq: u32,
        syn: bool,
        fin: bool,
        payload: &[u8],
        truncated: bool,
        out: &mut Vec<Out>,
    ) {
        let i = self.index(src);
        let mut chunks = Vec::new();
        self.halves[i]
            .stream
            .push(seq, syn, payload, truncated, &mut chunks);
        self.consume(keys, i, chunks, out);
        if fin {
            self.close_half(keys, i, out);
        }
    }

    /// Ends one direction: held segments are flushed and a partial frame is reported.
    pub fn close_half(&mut self, keys: &KeyStore, i: usize, out: &mut Vec<Out>) {
        if self.halves[i].closed {
            return;
        }
        let mut chunks = Vec::new();
        self.halves[i].stream.finish(&mut chunks);
        self.consume(keys, i, chunks, out);
        let h = &mut self.halves[i];
        h.closed = true;
        let pending = h.split.pending();
        if pending > 0 {
            let bytes = if pending <= h.last_chunk.len() {
                h.last_chunk[h.last_chunk.len() - pending..].to_vec()
            } else {
                Vec::new()
            };
            h.split = FrameSplitter::new();
            let version = self.codec.as_ref().map(Codec::version);
            out.push(Out {
                direction: direction(i),
                device: self.device,
                version,
                bytes,
                event: Event::Failed(Problem::Incomplete { have: pending }),
            });
        }
    }

    /// Ends both directions.
    pub fn close(&mut self, keys: &KeyStore, out: &mut Vec<Out>) {
        self.close_half(keys, 0, out);
        self.close_half(keys, 1, out);
    }

    fn consume(&mut self, keys: &KeyStore, i: usize, chunks: Vec<Chunk>, out: &mut Vec<Out>) {
        for c in chunks {
            match c {
                Chunk::Data(d) => {
                    self.halves[i].split.feed(&d);
                    self.halves[i].last_chunk = d;
                    while let Some(r) = self.halves[i].split.next_frame() {
                        match r {
                            Ok(frame) => self.frame(keys, i, frame, out),
                            Err(e) => out.push(Out {
                                direction: direction(i),
                                device: self.device,
                                version: self.codec.as_ref().map(Codec::version),
                                bytes: Vec::new(),
                                event: Event::Failed(Problem::Proto(e)),
                            }),
                        }
                    }
                }
                Chunk::Gap { missing } => {
                    // A frame in progress cannot be completed across the hole.
                    self.halves[i].split = FrameSplitter::new();
                    out.push(Out {
                        direction: direction(i),
                        device: self.device,
                        version: self.codec.as_ref().map(Codec::version),
                        bytes: Vec::new(),
                        event: Event::Failed(Problem::Gap { missing }),
                    });
                }
            }
        }
    }

    fn sender(&self, i: usize) -> Sender {
        match (self.roles_known, i) {
            (false, _) => Sender::Unknown,
            (true, 0) => Sender::Client,
            (true, _) => Sender::Device,
        }
    }

    fn frame(&mut self, keys: &KeyStore, i: usize, frame: Vec<u8>, out: &mut Vec<Out>) {
        let from = self.sender(i);
        let (version, result) = self.decode(keys, &frame, from);
        let event = match result {
            Ok(m) => {
                let sk = self.track_negotiation(keys, &m);
                out.push(Out {
                    direction: direction(i),
                    device: self.device,
                    version,
                    bytes: frame,
                    event: Event::Frame(m),
                });
                match sk {
                    Some(k) => Event::SessionKey(k),
                    None => return,
                }
            }
            Err(p) => {
                out.push(Out {
                    direction: direction(i),
                    device: self.device,
                    version,
                    bytes: frame,
                    event: Event::Failed(p),
                });
                return;
            }
        };
        out.push(Out {
            direction: direction(i),
            device: self.device,
            version,
            bytes: Vec::new(),
            event,
        });
    }

    fn decode(
        &mut self,
        keys: &KeyStore,
        frame: &[u8],
        from: Sender,
    ) -> (Option<Version>, Result<Message, Problem>) {
        if let Some(c) = &self.codec {
            return (
                Some(c.version()),
                c.decode_from(frame, from).map_err(problem),
            );
        }
        let ip = self.device_addr.ip();
        let at_ip = keys.by_ip(ip);
        if self.device.is_none() {
            // Until a key proves otherwise, the device is the one recorded at the address.
            self.device = at_ip;
        }
        let candidates = keys.candidates(ip);
        if candidates.is_empty() {
            // Without a key only plaintext 3.1 frames can be read.
            let c = Codec::new(Version::V31, zero_key(), Role::Client);
            return match c.decode_from(frame, from) {
                Ok(m) if m.plaintext => (Some(Version::V31), Ok(m)),
                _ => (None, Err(Problem::NoKey(ip))),
            };
        }
        let mut first: Option<(Version, tuya_proto::Error)> = None;
        for &d in candidates.iter().take(MAX_KEY_TRIALS) {
            let dev = &keys.devices()[d];
            for v in versions_to_try(dev.version, frame) {
                let mut c = Codec::new(v, dev.key.clone(), Role::Client);
                if let Some(sk) = keys.session_key() {
                    c.set_session_key(sk);
                }
                match c.decode_from(frame, from) {
                    Ok(m) => {
                        // Any key "decodes" a plaintext 3.1 frame: that proves neither the
                        // device nor the version.
                        let proves = !m.plaintext || dev.version.is_some() && at_ip == Some(d);
                        if proves {
                            self.device = Some(d);
                            self.codec = Some(c);
                        }
                        return (Some(v), Ok(m));
                    }
                    Err(e) => {
                        first.get_or_insert((v, e));
                    }
                }
            }
        }
        let (v, e) = first.expect("at least one candidate and version");
        if at_ip.is_some() || candidates.len() == 1 {
            (Some(v), Err(problem(e)))
        } else {
            let tried = candidates.len().min(MAX_KEY_TRIALS);
            (
                None,
                Err(Problem::UnknownDevice {
                    ip,
                    tried,
                    first: e,
                }),
            )
        }
    }

    /// Follows SESS_KEY_NEG_START / _RESP and installs the derived key.
    fn track_negotiation(
        &mut self,
        keys: &KeyStore,
        m: &Message,
    ) -> Option<tuya_proto::SessionKey> {
        let codec = self.codec.as_mut()?;
        let v = codec.version();
        if !v.uses_session_key() || m.payload.len() < 16 {
            return None;
        }
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&m.payload[..16]);
        match m.cmd {
            Command::SessKeyNegStart => {
                self.client_nonce = Some(nonce);
                None
            }
            Command::SessKeyNegResp => {
                let cn = self.client_nonce.take()?;
                let key = &keys.devices()[self.device?].key;
                let sk = derive_session_key(v, key, &cn, &nonce).ok()?;
                codec.set_session_key(sk);
                Some(sk)
            }
            _ => None,
        }
    }
}

fn direction(i: usize) -> Direction {
    if i == 0 {
        Direction::ClientToDevice
    } else {
        Direction::DeviceToClient
    }
}

fn problem(e: tuya_proto::Error) -> Problem {
    match e {
        tuya_proto::Error::NoSessionKey(v, _) => Problem::MissedNegotiation(v),
        e => Problem::Proto(e),
    }
}

fn zero_key() -> LocalKey {
    LocalKey::from_bytes(&[0; 16]).expect("16 bytes")
}

/// The versions to try on a frame: the known one, else by envelope. 3.1 goes before 3.3 because
/// a plaintext frame decodes under both; 3.4 is recognised by its HMAC trailer verifying.
fn versions_to_try(known: Option<Version>, frame: &[u8]) -> Vec<Version> {
    if let Some(v) = known {
        return vec![v];
    }
    match peek_header(frame, DEFAULT_MAX_FRAME) {
        Ok(Some(h)) if h.prefix == Prefix::P6699 => vec![Version::V35],
        _ => vec![Version::V31, Version::V33, Version::V34],
    }
}
