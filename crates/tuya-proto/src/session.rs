//! 3.4 / 3.5 session-key negotiation as explicit state machines, for both roles.
//!
//! The machines consume and produce [`Message`]s; a [`crate::Codec`] turns them into frames
//! (negotiation frames are always keyed with the local key). Nonces come in as arguments so runs
//! are deterministic.
//!
//! ```
//! use tuya_proto::session::{ClientHandshake, DeviceHandshake};
//! use tuya_proto::{LocalKey, Version};
//! let key = LocalKey::new("0123456789abcdef").unwrap();
//! let mut client = ClientHandshake::new(Version::V34, key.clone(), *b"0123456789abcdef", 1).unwrap();
//! let mut device = DeviceHandshake::new(Version::V34, key, *b"fedcba9876543210").unwrap();
//! let start = client.start();
//! let resp = device.on_start(&start).unwrap();
//! let (finish, ck) = client.on_response(&resp).unwrap();
//! let dk = device.on_finish(&finish).unwrap();
//! assert_eq!(ck, dk);
//! ```

use crate::cipher::KeyedCipher;
use crate::{Command, Error, LocalKey, Message, SessionKey, Version};

/// Derives the session key from both nonces, per version.
///
/// 3.4: AES-128-ECB(localKey, clientNonce ⊕ deviceNonce).
/// 3.5: the ciphertext of AES-128-GCM(localKey, iv = clientNonce[..12], clientNonce ⊕ deviceNonce).
pub fn derive_session_key(
    version: Version,
    key: &LocalKey,
    client_nonce: &[u8; 16],
    device_nonce: &[u8; 16],
) -> Result<SessionKey, Error> {
    derive_with(
        version,
        &KeyedCipher::new(key.as_bytes()),
        client_nonce,
        device_nonce,
    )
}

fn derive_with(
    version: Version,
    c: &KeyedCipher,
    cn: &[u8; 16],
    dn: &[u8; 16],
) -> Result<SessionKey, Error> {
    let mut x = [0u8; 16];
    for i in 0..16 {
        x[i] = cn[i] ^ dn[i];
    }
    match version {
        Version::V34 => Ok(SessionKey(c.encrypt_block(&x))),
        Version::V35 => {
            let mut iv = [0u8; 12];
            iv.copy_from_slice(&cn[..12]);
            c.gcm_seal(&iv, &[], &mut x);
            Ok(SessionKey(x))
        }
        v => Err(Error::Negotiation(match v {
            Version::V31 | Version::V32 | Version::V33 => "versions before 3.4 have no session key",
            _ => "unsupported version",
        })),
    }
}

fn check_version(v: Version) -> Result<(), Error> {
    if v.uses_session_key() {
        Ok(())
    } else {
        Err(Error::Negotiation(
            "versions before 3.4 have no session key",
        ))
    }
}

/// Where a client handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// `start()` not yet sent.
    Idle,
    /// Waiting for SESS_KEY_NEG_RESP.
    AwaitingResponse,
    /// Key derived.
    Done,
    /// Failed; start a new handshake.
    Failed,
}

/// The client (app) side of the negotiation.
pub struct ClientHandshake {
    version: Version,
    key: KeyedCipher,
    nonce: [u8; 16],
    seq: u32,
    state: ClientState,
}

impl std::fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("version", &self.version)
            .field("state", &self.state)
            .finish()
    }
}

impl ClientHandshake {
    /// A handshake with our random `nonce`, whose first frame uses sequence number `seq`.
    pub fn new(version: Version, key: LocalKey, nonce: [u8; 16], seq: u32) -> Result<Self, Error> {
        check_version(version)?;
        Ok(Self {
            version,
            key: KeyedCipher::new(key.as_bytes()),
            nonce,
            seq,
            state: ClientState::Idle,
        })
    }

    /// Current state.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// The SESS_KEY_NEG_START message carrying our nonce.
    pub fn start(&mut self) -> Message {
        self.state = ClientState::AwaitingResponse;
        Message::request(
            self.version,
            self.seq,
            Command::SessKeyNegStart,
            self.nonce.to_vec(),
        )
    }

    /// Handles SESS_KEY_NEG_RESP: verifies the device's HMAC over our nonce (constant time), and
    /// returns the SESS_KEY_NEG_FINISH message plus the session key.
    pub fn on_response(&mut self, msg: &Message) -> Result<(Message, SessionKey), Error> {
        let r = self.on_response_inner(msg);
        self.state = if r.is_ok() {
            ClientState::Done
        } else {
            ClientState::Failed
        };
        r
    }

    fn on_response_inner(&mut self, msg: &Message) -> Result<(Message, SessionKey), Error> {
        if self.state != ClientState::AwaitingResponse {
            return Err(Error::Negotiation("response received before start"));
        }
        if msg.cmd != Command::SessKeyNegResp {
            return Err(Error::Negotiation(
                "expected SESS_KEY_NEG_RESP: the device may not speak 3.4/3.5",
            ));
        }
        if msg.retcode.is_some_and(|rc| rc != 0) {
            return Err(Error::Negotiation(
                "device refused negotiation (non-zero return code)",
            ));
        }
        let p = &msg.payload;
        if p.len() < 48 {
            return Err(Error::Negotiation("SESS_KEY_NEG_RESP too short"));
        }
        let mut dn = [0u8; 16];
        dn.copy_from_slice(&p[..16]);
        if !self.key.hmac_verify(&self.nonce, &p[16..48]) {
            return Err(Error::NegotiationBadDeviceHmac);
        }
        let finish = Message::request(
            self.version,
            self.seq.wrapping_add(1),
            Command::SessKeyNegFinish,
            self.key.hmac(&dn).to_vec(),
        );
        let sk = derive_with(self.version, &self.key, &self.nonce, &dn)?;
        Ok((finish, sk))
    }
}

/// Where a device handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    /// Waiting for SESS_KEY_NEG_START.
    AwaitingStart,
    /// Response sent, waiting for SESS_KEY_NEG_FINISH.
    AwaitingFinish,
    /// Key derived.
    Done,
    /// Failed; the client must start over.
    Failed,
}

/// The device side of the negotiation.
pub struct DeviceHandshake {
    version: Version,
    key: KeyedCipher,
    nonce: [u8; 16],
    client_nonce: [u8; 16],
    state: DeviceState,
}

impl std::fmt::Debug for DeviceHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceHandshake")
            .field("version", &self.version)
            .field("state", &self.state)
            .finish()
    }
}

impl DeviceHandshake {
    /// A device handshake with our random `nonce`.
    pub fn new(version: Version, key: LocalKey, nonce: [u8; 16]) -> Result<Self, Error> {
        check_version(version)?;
        Ok(Self {
            version,
            key: KeyedCipher::new(key.as_bytes()),
            nonce,
            client_nonce: [0; 16],
            state: DeviceState::AwaitingStart,
        })
    }

    /// Current state.
    pub fn state(&self) -> DeviceState {
        self.state
    }

    /// Handles SESS_KEY_NEG_START and returns SESS_KEY_NEG_RESP (our nonce + HMAC of theirs),
    /// echoing the request's sequence number.
    pub fn on_start(&mut self, msg: &Message) -> Result<Message, Error> {
        if msg.cmd != Command::SessKeyNegStart || msg.payload.len() < 16 {
            self.state = DeviceState::Failed;
            return Err(Error::Negotiation(
                "expected SESS_KEY_NEG_START with a 16-byte nonce",
            ));
        }
        self.client_nonce.copy_from_slice(&msg.payload[..16]);
        let mut p = Vec::with_capacity(48);
        p.extend_from_slice(&self.nonce);
        p.extend_from_slice(&self.key.hmac(&self.client_nonce));
        self.state = DeviceState::AwaitingFinish;
        Ok(Message::reply(
            self.version,
            msg.seq,
            Command::SessKeyNegResp,
            p,
        ))
    }

    /// Handles SESS_KEY_NEG_FINISH: verifies the client's HMAC over our nonce and derives the key.
    pub fn on_finish(&mut self, msg: &Message) -> Result<SessionKey, Error> {
        if self.state != DeviceState::AwaitingFinish {
            self.state = DeviceState::Failed;
            return Err(Error::Negotiation("finish received before start"));
        }
        if msg.cmd != Command::SessKeyNegFinish || msg.payload.len() < 32 {
            self.state = DeviceState::Failed;
            return Err(Error::Negotiation(
                "expected SESS_KEY_NEG_FINISH with a 32-byte HMAC",
            ));
        }
        if !self.key.hmac_verify(&self.nonce, &msg.payload[..32]) {
            self.state = DeviceState::Failed;
            return Err(Error::NegotiationBadClientHmac);
        }
        self.state = DeviceState::Done;
        derive_with(self.version, &self.key, &self.client_nonce, &self.nonce)
    }
}
