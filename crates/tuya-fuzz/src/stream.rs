//! The frame stream decoder of either role: a [`FrameSplitter`] fed the input in chunks of
//! the size its first byte picks, and every frame it finds decoded by every version's codec
//! under every key of the seeds.

use std::cell::RefCell;

use tuya_proto::frame::{self, FrameHeader, FrameSplitter, HEADER_6699};
use tuya_proto::{Codec, Command, LocalKey, Message, Role, Sender, SessionKey, Version};

use crate::input::{json_text, Input};

/// A local key and the session keys the 3.4 and 3.5 frames of the seeds are sealed with.
#[derive(Debug, Clone, Copy)]
pub struct KeySet {
    /// The local key.
    pub local: &'static str,
    /// The 3.4 session key, hex.
    pub session34: &'static str,
    /// The 3.5 session key, hex.
    pub session35: &'static str,
}

/// The keys of the seeds: the generated frames' and tinytuya-1.20-frames.txt's key (with its
/// handshakes' session keys), tinytuya-1.20.json's and tuyapi-7.7.1.json's. Knowing them, the
/// decoders get past authentication on real frames and reach what lies behind it.
pub const KEYS: [KeySet; 3] = [
    KeySet {
        local: "0123456789abcdef",
        session34: "6575cf6b37479d9215337ff9767fe786",
        session35: "34165bab783422860c0c23b2d48cf7a5",
    },
    KeySet {
        local: "0f1e2d3c4b5a6978",
        session34: "ffeeddccbbaa99887766554433221100",
        session35: "ffeeddccbbaa99887766554433221100",
    },
    KeySet {
        local: "4226aa407d5c1e2b",
        session34: "2c4ad6ee17dddf792ac797ba375a32d9",
        session35: "8b9356823103c347b941611dd96ff878",
    },
];

impl KeySet {
    /// The local key.
    pub fn local_key(&self) -> LocalKey {
        LocalKey::new(self.local).expect("a 16-character key")
    }

    /// The session key of `v`'s frames (none before 3.4).
    pub fn session(&self, v: Version) -> Option<SessionKey> {
        let hex = match v {
            Version::V34 => self.session34,
            Version::V35 => self.session35,
            _ => return None,
        };
        Some(SessionKey::from_hex(hex).expect("a 32-digit session key"))
    }

    /// A codec of `v` playing `role`, session key installed.
    pub fn codec(&self, v: Version, role: Role) -> Codec {
        let mut c = Codec::new(v, self.local_key(), role);
        if let Some(s) = self.session(v) {
            c.set_session_key(s);
        }
        c.set_max_len(MAX_FRAME);
        c
    }
}

/// The splitter's and codecs' cap on a frame's declared length: small, so that inputs of a
/// few KiB reach the too-long paths.
pub const MAX_FRAME: usize = 4096;

thread_local! {
    // 15 codecs per role, each with its key schedules: built once per thread, not per input.
    static CODECS: RefCell<[Vec<Codec>; 2]> = RefCell::new([Role::Client, Role::Device].map(|role| {
        KEYS.iter()
            .flat_map(|k| Version::ALL.map(|v| k.codec(v, role)))
            .collect()
    }));
}

/// The first byte picks the chunk size (bits 0-5) and the form of the rest (bit 6): a byte
/// stream, or records of messages that the codecs seal into one (see [`sealed`]).
pub(crate) fn run(role: Role, data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(sel % 64) + 1;
    let mut split = FrameSplitter::with_max_len(MAX_FRAME);
    let mut framed = 0u64;
    CODECS.with_borrow_mut(|all| {
        let codecs = &mut all[usize::from(role == Role::Device)];
        let sealed_stream;
        let stream = if sel & 0x40 == 0 {
            rest
        } else {
            sealed_stream = sealed(codecs, rest);
            &sealed_stream
        };
        for piece in stream.chunks(chunk) {
            split.feed(piece);
            while let Some(r) = split.next_frame() {
                if let Ok(f) = r {
                    framed += f.len() as u64;
                    check_frame(codecs, &f);
                }
            }
            // Once drained, at most one incomplete frame is held, whatever came before.
            let bound = MAX_FRAME + HEADER_6699 + 4;
            assert!(split.pending() < bound, "{} bytes pending", split.pending());
        }
        // Every byte fed is accounted for: in a frame, skipped, or still held.
        assert_eq!(
            framed + split.skipped() + split.pending() as u64,
            stream.len() as u64,
            "bytes lost or invented by the splitter"
        );
    });
}

/// Commands of the messages peers exchange every day.
const COMMON: [Command; 6] = [
    Command::DpQuery,
    Command::Control,
    Command::Status,
    Command::HeartBeat,
    Command::DpQueryNew,
    Command::ControlNew,
];

/// The sealed form: records `[kind, cmd, seq (2 bytes), length, payload]`, each sealed by the
/// codec of the version (`kind` bits 1-3) and key (bits 4-5) it names, so that mutations of
/// the payload reach what lies behind the CRC, HMAC or tag instead of failing it.
///
/// An odd `kind` is any message (bit 6: plaintext, bit 7: a version header; a return code
/// when the seq's top bits say). An even one is what peers really send: a request (bit 6
/// clear) or reply of a common command with the version's defaults and a JSON-like text; that
/// one must decode on the other side to what was sent.
fn sealed(codecs: &mut [Codec], data: &[u8]) -> Vec<u8> {
    let mut inp = Input(data);
    let mut out = Vec::new();
    while !inp.is_empty() {
        let kind = inp.u8();
        let (cmd, seq) = (inp.u8(), u32::from(inp.u16()));
        let payload = inp.bytes(255);
        let at = usize::from(kind >> 4 & 3) % KEYS.len() * Version::ALL.len()
            + usize::from(kind >> 1 & 7) % Version::ALL.len();
        let c = &mut codecs[at];
        let v = c.version();
        if kind & 1 == 1 {
            let m = Message {
                seq,
                cmd: Command::from(u32::from(cmd)),
                retcode: (seq >= 0x8000).then_some(seq >> 13),
                payload: payload.to_vec(),
                header: (kind & 0x80 != 0).then(|| v.header()),
                plaintext: kind & 0x40 != 0,
                iv: Some([kind; 12]),
            };
            let _ = c.encode_into(&m, &mut out);
            continue;
        }
        let cmd = COMMON[usize::from(cmd) % COMMON.len()];
        let (m, from) = if kind & 0x40 == 0 {
            (
                Message::request(v, seq, cmd, json_text(payload)),
                Sender::Client,
            )
        } else {
            (
                Message::reply(v, seq, cmd, json_text(payload)),
                Sender::Device,
            )
        };
        let m = Message {
            iv: Some([kind; 12]),
            ..m
        };
        let f = c
            .encode(&m)
            .expect("a message of the version's defaults encodes");
        let got = c.decode_from(&f, from);
        let got = got.unwrap_or_else(|e| panic!("{v}: {m:?} does not decode: {e}"));
        assert_eq!(
            (got.cmd, got.seq, got.retcode, &got.payload),
            (m.cmd, m.seq, m.retcode, &m.payload),
            "{v}: sent and received differ"
        );
        out.extend(f);
    }
    out
}

fn check_frame(codecs: &mut [Codec], f: &[u8]) {
    let h = frame::check_frame(f, MAX_FRAME).expect("the splitter hands out whole frames");
    assert_eq!(h.total, f.len(), "a frame with trailing bytes");
    for c in codecs {
        for from in [c.role().peer(), Sender::Unknown] {
            if let Ok(m) = c.decode_from(f, from) {
                check_message(c, &h, f, &m, from);
            }
        }
    }
}

/// A decoded message matches its header, and encodes to a frame that decodes to it again.
fn check_message(c: &mut Codec, h: &FrameHeader, f: &[u8], m: &Message, from: Sender) {
    assert_eq!((m.seq, u32::from(m.cmd)), (h.seq, h.cmd));
    // 3.1's base64 shrinks, padding and MACs are dropped: nothing decodes to more than it was.
    assert!(m.payload.len() <= f.len(), "payload larger than its frame");
    let v = c.version();
    let again = c
        .encode(m)
        .unwrap_or_else(|e| panic!("{v}: a decoded {m:?} does not encode: {e}"));
    assert_eq!(
        c.decode_from(&again, from).as_ref(),
        Ok(m),
        "{v}: decode(encode(decode(frame))) differs; frame {f:02x?}"
    );
}
