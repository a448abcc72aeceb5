//! Messages and the per-version codec: framing + integrity + encryption, both directions.
//!
//! A [`Codec`] is built once per device and key, and turns [`Message`]s into wire frames and
//! back. It holds no socket, no clock and no randomness: 3.5 nonces come from an
//! [`Entropy`] source the caller gives it, 96 fresh random bits per frame.

use base64::Engine as _;

use crate::cipher::{crc32, v31_signature, KeyedCipher};
use crate::entropy::{random_bytes, BoxedEntropy, Entropy};
use crate::frame::{self, Prefix, HEADER_55AA, HEADER_6699};
use crate::version::Framing;
use crate::{Command, Error, LocalKey, SessionKey, Version};

/// Who sent a frame. Device→client frames carry a return code; client→device frames do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sender {
    /// The app / client side.
    Client,
    /// The device side.
    Device,
    /// Not known (captures, `tuyactl decode`): the return code is detected heuristically.
    Unknown,
}

/// Which side of the protocol a codec plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We are the app: we send requests and decode device frames.
    Client,
    /// We are the device: we answer and push.
    Device,
}

impl Role {
    /// The sender of frames we receive.
    pub fn peer(self) -> Sender {
        match self {
            Role::Client => Sender::Device,
            Role::Device => Sender::Client,
        }
    }
}

/// One protocol message, before encoding or after decoding.
///
/// ```
/// use tuya_proto::{Codec, Command, LocalKey, Message, Role, Version};
/// let key = LocalKey::new("0123456789abcdef").unwrap();
/// let mut client = Codec::new(Version::V33, key.clone(), Role::Client);
/// let device = Codec::new(Version::V33, key, Role::Device);
/// let msg = Message::request(Version::V33, 7, Command::Control, br#"{"dps":{"1":true}}"#.to_vec());
/// let wire = client.encode(&msg).unwrap();
/// let back = device.decode(&wire).unwrap();
/// assert_eq!(back.payload, msg.payload);
/// assert_eq!(back.seq, 7);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Sequence number.
    pub seq: u32,
    /// Command.
    pub cmd: Command,
    /// Return code (device→client frames; `None` when absent).
    pub retcode: Option<u32>,
    /// The plaintext payload: JSON for most commands, nonces for negotiation, empty for pings.
    pub payload: Vec<u8>,
    /// The 15-byte "3.x" version header, when the frame carries one. Decoding keeps whatever
    /// bytes the device sent (the 12 after "3.x" may be non-zero); encoding writes them as given.
    pub header: Option<[u8; 15]>,
    /// The payload travels unencrypted (3.1 queries, plaintext error strings).
    pub plaintext: bool,
    /// 3.5 only: the GCM nonce. Decoding fills it in; encoding uses it when set (replaying a
    /// captured frame), else a fresh random nonce from the codec's entropy source.
    pub iv: Option<[u8; 12]>,
}

impl Message {
    /// A client→device message with the version's defaults for header and encryption.
    pub fn request(version: Version, seq: u32, cmd: Command, payload: Vec<u8>) -> Self {
        Self {
            seq,
            cmd,
            retcode: None,
            header: version.header_on(cmd).then(|| version.header()),
            plaintext: version == Version::V31 && !v31_encrypts(cmd),
            payload,
            iv: None,
        }
    }

    /// A device→client message (return code 0) with the version's defaults.
    pub fn reply(version: Version, seq: u32, cmd: Command, payload: Vec<u8>) -> Self {
        Self {
            retcode: Some(0),
            ..Self::request(version, seq, cmd, payload)
        }
    }

    /// A device→client plaintext error string with return code 1, as firmware sends
    /// `json obj data unvalid` and `data format error`.
    pub fn device_error(seq: u32, cmd: Command, text: &str) -> Self {
        Self {
            seq,
            cmd,
            retcode: Some(1),
            payload: text.as_bytes().to_vec(),
            header: None,
            plaintext: true,
            iv: None,
        }
    }

    /// The payload parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        if self.payload.is_empty() {
            return None;
        }
        serde_json::from_slice(&self.payload).ok()
    }

    /// The version named by the frame's "3.x" header, if it has one.
    pub fn header_version(&self) -> Option<Version> {
        let h = self.header?;
        std::str::from_utf8(&h[..3]).ok()?.parse().ok()
    }
}

/// On 3.1 only control and pushes are encrypted and signed; queries travel in plaintext.
fn v31_encrypts(cmd: Command) -> bool {
    matches!(
        cmd,
        Command::Control | Command::Status | Command::ControlNew
    )
}

/// Encodes and decodes frames for one device.
///
/// A 3.5 codec seals frames with AES-GCM, whose security falls apart if a nonce ever repeats
/// under one key (and the local key lives for years): it draws a fresh 96-bit random nonce per
/// frame from the [`Entropy`] source given with [`Codec::with_entropy`]. Without one it can
/// still decode, but refuses to encode a 3.5 frame ([`Error::NoEntropy`]) unless the message
/// carries its own nonce.
pub struct Codec {
    version: Version,
    role: Role,
    local: KeyedCipher,
    // Boxed: only 3.4/3.5 have one, and a keyed cipher is ~1.7 KB that a fleet of 3.3 devices
    // should not carry inline.
    session: Option<Box<KeyedCipher>>,
    max_len: usize,
    entropy: Option<BoxedEntropy>,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("version", &self.version)
            .field("role", &self.role)
            .field("session", &self.session.is_some())
            .finish()
    }
}

impl Codec {
    /// A codec for `version`, keyed with the device's local key, playing `role`.
    pub fn new(version: Version, key: LocalKey, role: Role) -> Self {
        Self {
            version,
            role,
            local: KeyedCipher::new(key.as_bytes()),
            session: None,
            max_len: frame::DEFAULT_MAX_FRAME,
            entropy: None,
        }
    }

    /// A codec that can encode every version: `entropy` supplies the 3.5 GCM nonces.
    pub fn with_entropy(
        version: Version,
        key: LocalKey,
        role: Role,
        entropy: impl Entropy + 'static,
    ) -> Self {
        let mut c = Self::new(version, key, role);
        c.entropy = Some(Box::new(entropy));
        c
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Changes the protocol version (auto-detection). Drops any session key.
    pub fn set_version(&mut self, v: Version) {
        self.version = v;
        self.session = None;
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Installs a negotiated session key (3.4/3.5).
    pub fn set_session_key(&mut self, key: SessionKey) {
        self.session = Some(Box::new(KeyedCipher::new(key.as_bytes())));
    }

    /// Forgets the session key (reconnect).
    pub fn clear_session(&mut self) {
        self.session = None;
    }

    /// Whether a session key is installed.
    pub fn has_session(&self) -> bool {
        self.session.is_some()
    }

    /// Replaces the local key (a re-paired device). Drops any session key.
    pub fn set_local_key(&mut self, key: LocalKey) {
        self.local = KeyedCipher::new(key.as_bytes());
        self.session = None;
    }

    /// Gives the codec its source of 3.5 nonces (see [`Codec::with_entropy`]).
    pub fn set_entropy(&mut self, entropy: BoxedEntropy) {
        self.entropy = Some(entropy);
    }

    /// The entropy source, for other nonces drawn on the same connection.
    pub(crate) fn entropy(&mut self) -> Option<&mut dyn Entropy> {
        match &mut self.entropy {
            Some(e) => Some(e.as_mut()),
            None => None,
        }
    }

    /// Sets the cap on a frame's declared length.
    pub fn set_max_len(&mut self, max_len: usize) {
        self.max_len = max_len;
    }

    /// A fresh random GCM nonce: 96 random bits, so under one key a repeat is a birthday event
    /// at about 2^48 frames, far beyond a device's lifetime.
    fn next_iv(&mut self) -> Result<[u8; 12], Error> {
        let src = self.entropy.as_deref_mut().ok_or(Error::NoEntropy)?;
        Ok(random_bytes(src))
    }

    fn key_for(&self, cmd: Command) -> Result<&KeyedCipher, Error> {
        if !self.version.uses_session_key() || cmd.is_negotiation() {
            return Ok(&self.local);
        }
        self.session
            .as_deref()
            .ok_or(Error::NoSessionKey(self.version, cmd))
    }

    /// Encodes a message into a complete frame.
    pub fn encode(&mut self, msg: &Message) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(msg.payload.len() + 96);
        self.encode_into(msg, &mut out)?;
        Ok(out)
    }

    /// Encodes a message, appending the frame to `out`.
    pub fn encode_into(&mut self, msg: &Message, out: &mut Vec<u8>) -> Result<(), Error> {
        let iv = match (self.version.framing(), msg.iv) {
            (Framing::Gcm, None) => Some(self.next_iv()?),
            (_, iv) => iv,
        };
        let key = self.key_for(msg.cmd)?;
        encode_with(self.version, key, msg, iv, out);
        Ok(())
    }

    /// Decodes one complete frame sent by our peer.
    pub fn decode(&self, frame: &[u8]) -> Result<Message, Error> {
        self.decode_from(frame, self.role.peer())
    }

    /// Decodes one complete frame from the given sender.
    pub fn decode_from(&self, frame: &[u8], from: Sender) -> Result<Message, Error> {
        let h = frame::check_frame(frame, self.max_len)?;
        let cmd = Command::from(h.cmd);
        let frame = &frame[..h.total];
        match (self.version.framing(), h.prefix) {
            (Framing::Gcm, Prefix::P6699) => {
                decode_6699(self.key_for(cmd)?, frame, h.seq, cmd, from)
            }
            (Framing::Gcm, Prefix::P55aa) => Err(Error::WrongFraming {
                version: self.version,
                expected: "6699",
                found: "55aa",
            }),
            (_, Prefix::P6699) => Err(Error::WrongFraming {
                version: self.version,
                expected: "55aa",
                found: "6699",
            }),
            (framing, Prefix::P55aa) => {
                let key = if framing == Framing::Hmac {
                    Some(self.key_for(cmd)?)
                } else {
                    None
                };
                decode_55aa(self.version, &self.local, key, frame, h.seq, cmd, from)
            }
        }
    }
}

/// Encodes with an explicit key: the codec's and discovery's common path.
pub(crate) fn encode_with(
    version: Version,
    key: &KeyedCipher,
    msg: &Message,
    iv: Option<[u8; 12]>,
    out: &mut Vec<u8>,
) {
    match version.framing() {
        Framing::Gcm => encode_6699(key, msg, iv.unwrap_or([0; 12]), out),
        framing => {
            let start = out.len();
            out.extend_from_slice(&frame::PREFIX_55AA.to_be_bytes());
            out.extend_from_slice(&msg.seq.to_be_bytes());
            out.extend_from_slice(&u32::from(msg.cmd).to_be_bytes());
            let len_at = out.len();
            out.extend_from_slice(&[0; 4]);
            if let Some(rc) = msg.retcode {
                out.extend_from_slice(&rc.to_be_bytes());
            }
            encode_55aa_payload(version, key, msg, out);
            let trailer = if framing == Framing::Hmac { 32 } else { 4 };
            let len = (out.len() - len_at - 4 + trailer + 4) as u32;
            out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
            if framing == Framing::Hmac {
                let mac = key.hmac(&out[start..]);
                out.extend_from_slice(&mac);
            } else {
                let crc = crc32(&out[start..]);
                out.extend_from_slice(&crc.to_be_bytes());
            }
            out.extend_from_slice(&frame::SUFFIX_55AA.to_be_bytes());
        }
    }
}

fn encode_55aa_payload(version: Version, key: &KeyedCipher, msg: &Message, out: &mut Vec<u8>) {
    if msg.plaintext {
        if let Some(h) = &msg.header {
            out.extend_from_slice(h);
        }
        out.extend_from_slice(&msg.payload);
        return;
    }
    match version {
        Version::V31 => {
            let ct = key.ecb_encrypt(&msg.payload);
            let b64 = base64::engine::general_purpose::STANDARD.encode(ct);
            out.extend_from_slice(b"3.1");
            out.extend_from_slice(&v31_signature(b64.as_bytes(), key.key()));
            out.extend_from_slice(b64.as_bytes());
        }
        Version::V32 | Version::V33 => {
            if let Some(h) = &msg.header {
                out.extend_from_slice(h);
            }
            key.ecb_encrypt_into(&msg.payload, out);
        }
        Version::V34 | Version::V35 => {
            let mut plain = Vec::with_capacity(15 + msg.payload.len());
            if let Some(h) = &msg.header {
                plain.extend_from_slice(h);
            }
            plain.extend_from_slice(&msg.payload);
            key.ecb_encrypt_into(&plain, out);
        }
    }
}

fn encode_6699(key: &KeyedCipher, msg: &Message, iv: [u8; 12], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&frame::PREFIX_6699.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&msg.seq.to_be_bytes());
    out.extend_from_slice(&u32::from(msg.cmd).to_be_bytes());
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&iv);
    let ct_at = out.len();
    if let Some(rc) = msg.retcode {
        out.extend_from_slice(&rc.to_be_bytes());
    }
    if let Some(h) = &msg.header {
        out.extend_from_slice(h);
    }
    out.extend_from_slice(&msg.payload);
    let len = (out.len() - ct_at + 12 + 16) as u32;
    out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
    let (head, body) = out.split_at_mut(ct_at);
    let tag = key.gcm_seal(&iv, &head[start + 4..start + HEADER_6699], body);
    out.extend_from_slice(&tag);
    out.extend_from_slice(&frame::SUFFIX_6699.to_be_bytes());
}

/// Whether `b` starts with a "3.x" version header (any minor digit, as firmware varies).
fn has_version_header(b: &[u8]) -> bool {
    b.len() >= 15 && b[0] == b'3' && b[1] == b'.' && b[2].is_ascii_digit()
}

fn split_header(b: &[u8]) -> (Option<[u8; 15]>, &[u8]) {
    if has_version_header(b) {
        let mut h = [0u8; 15];
        h.copy_from_slice(&b[..15]);
        (Some(h), &b[15..])
    } else {
        (None, b)
    }
}

/// Return-code heuristic for frames whose sender is not known, or devices (and stubs) that omit
/// it: present when the top three bytes are zero.
fn take_retcode(body: &[u8], from: Sender) -> (Option<u32>, &[u8]) {
    if from == Sender::Client || body.len() < 4 || body[..3] != [0, 0, 0] {
        return (None, body);
    }
    let rc = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    (Some(rc), &body[4..])
}

/// Whether `b` is text as peers send it: UTF-8 without control characters other than tab,
/// CR and LF. JSON carries names and DP strings in any script (a 3.1 device's plaintext
/// "Küche" is text too), and pretty-printed JSON has line breaks and tabs.
fn looks_printable(b: &[u8]) -> bool {
    !b.is_empty()
        && std::str::from_utf8(b).is_ok_and(|s| {
            s.chars()
                .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        })
}

fn decode_55aa(
    version: Version,
    local: &KeyedCipher,
    hmac_key: Option<&KeyedCipher>,
    frame: &[u8],
    seq: u32,
    cmd: Command,
    from: Sender,
) -> Result<Message, Error> {
    let end = frame.len() - 4; // suffix
    let body = match hmac_key {
        Some(k) => {
            if end < HEADER_55AA + 32 {
                return Err(Error::Truncated {
                    needed: HEADER_55AA + 36,
                    have: frame.len(),
                });
            }
            let body_end = end - 32;
            if !k.hmac_verify(&frame[..body_end], &frame[body_end..end]) {
                // A CRC32 trailer where an HMAC was expected points at a version mismatch.
                let crc_end = end - 4;
                if crc32(&frame[..crc_end]).to_be_bytes() == frame[crc_end..end] {
                    return Err(Error::WrongFraming {
                        version,
                        expected: "55aa+HMAC",
                        found: "55aa+CRC32 (a 3.1-3.3 device)",
                    });
                }
                return Err(Error::HmacMismatch);
            }
            &frame[HEADER_55AA..body_end]
        }
        None => {
            let body_end = end - 4;
            let crc = u32::from_be_bytes([
                frame[body_end],
                frame[body_end + 1],
                frame[body_end + 2],
                frame[body_end + 3],
            ]);
            if crc32(&frame[..body_end]) != crc {
                return Err(Error::CrcMismatch(version));
            }
            &frame[HEADER_55AA..body_end]
        }
    };
    let (retcode, payload) = take_retcode(body, from);
    let mut msg = Message {
        seq,
        cmd,
        retcode,
        payload: Vec::new(),
        header: None,
        plaintext: false,
        iv: None,
    };
    if payload.is_empty() {
        msg.plaintext = true;
        return Ok(msg);
    }
    // Firmware sends error strings in plaintext with a non-zero return code; check before
    // decrypting.
    // Ciphertext may start with '{' by chance; being printable throughout is what tells.
    let signed_v31 = version == Version::V31 && payload.starts_with(b"3.1");
    let plain_error = retcode.is_some_and(|rc| rc != 0) && looks_printable(payload) && !signed_v31;
    if (payload[0] == b'{' && looks_printable(payload)) || plain_error {
        msg.payload = payload.to_vec();
        msg.plaintext = true;
        return Ok(msg);
    }
    match version {
        Version::V31 => decode_v31(local, payload, &mut msg)?,
        Version::V32 | Version::V33 => {
            let (header, rest) = split_header(payload);
            let rest = if header.is_none() && !rest.len().is_multiple_of(16) {
                // device22 replies may carry the header at an offset: find a "3.x" after which a
                // whole number of blocks remains.
                find_offset_header(rest, &mut msg).unwrap_or(rest)
            } else {
                msg.header = header;
                rest
            };
            if rest.is_empty() {
                msg.plaintext = true;
            } else {
                msg.payload = decrypt_text(local, rest, version).or_else(|e| {
                    if looks_printable(rest) {
                        msg.plaintext = true;
                        Ok(rest.to_vec())
                    } else {
                        Err(e)
                    }
                })?;
            }
        }
        Version::V34 | Version::V35 => {
            let key = hmac_key.unwrap_or(local);
            let plain = key.ecb_decrypt(payload, version).or_else(|e| {
                if looks_printable(payload) {
                    msg.plaintext = true;
                    Ok(payload.to_vec())
                } else {
                    Err(e)
                }
            })?;
            if msg.plaintext {
                msg.payload = plain;
            } else {
                let (header, rest) = split_header(&plain);
                msg.header = header;
                msg.payload = rest.to_vec();
            }
        }
    }
    Ok(msg)
}

/// AES-ECB decryption of a 3.1–3.3 payload, which has no MAC: under a wrong key the padding
/// still checks out about once in 256 tries, so the plaintext must also be text (these versions
/// carry JSON or error strings only) before it is believed.
fn decrypt_text(key: &KeyedCipher, ct: &[u8], version: Version) -> Result<Vec<u8>, Error> {
    let plain = key.ecb_decrypt(ct, version)?;
    if std::str::from_utf8(&plain).is_err() {
        return Err(Error::BadPadding(version));
    }
    Ok(plain)
}

fn find_offset_header<'a>(b: &'a [u8], msg: &mut Message) -> Option<&'a [u8]> {
    (1..b.len().saturating_sub(15)).find_map(|i| {
        let rest = &b[i..];
        if has_version_header(rest) && (rest.len() - 15).is_multiple_of(16) && rest.len() > 15 {
            let mut h = [0u8; 15];
            h.copy_from_slice(&rest[..15]);
            msg.header = Some(h);
            Some(&rest[15..])
        } else {
            None
        }
    })
}

fn decode_v31(local: &KeyedCipher, payload: &[u8], msg: &mut Message) -> Result<(), Error> {
    // Signed form: "3.1" + 16 signature chars + base64(ECB(json)).
    let (b64, sig) = if payload.starts_with(b"3.1") && payload.len() > 19 {
        (&payload[19..], Some(&payload[3..19]))
    } else {
        (payload, None)
    };
    if let Some(sig) = sig {
        if v31_signature(b64, local.key()) != sig {
            return Err(Error::SignatureMismatch);
        }
    }
    let decrypted = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| Error::BadBase64)
        .and_then(|ct| decrypt_text(local, &ct, Version::V31));
    match decrypted {
        Ok(p) => msg.payload = p,
        // Unsigned text that is not our ciphertext: a plaintext message.
        Err(_) if sig.is_none() && looks_printable(payload) => {
            msg.payload = payload.to_vec();
            msg.plaintext = true;
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

fn decode_6699(
    key: &KeyedCipher,
    frame: &[u8],
    seq: u32,
    cmd: Command,
    from: Sender,
) -> Result<Message, Error> {
    let body = &frame[HEADER_6699..frame.len() - 4];
    let mut iv = [0u8; 12];
    iv.copy_from_slice(&body[..12]);
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&body[body.len() - 16..]);
    let mut plain = body[12..body.len() - 16].to_vec();
    key.gcm_open(&iv, &frame[4..HEADER_6699], &mut plain, &tag)?;
    let (retcode, rest) = take_retcode(&plain, from);
    let (header, rest) = split_header(rest);
    Ok(Message {
        seq,
        cmd,
        retcode,
        payload: rest.to_vec(),
        header,
        plaintext: false,
        iv: Some(iv),
    })
}
