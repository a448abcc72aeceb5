//! The one error type of the protocol core.
//!
//! Every variant names what failed and, where there is one, the cause a user can act on
//! (wrong local key, wrong protocol version, truncated frame, …).

use crate::{Command, Version};

/// Everything that can go wrong while encoding or decoding Tuya LAN traffic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A version string or number that is not one of 3.1–3.5.
    #[error("unknown protocol version {0:?}: expected one of 3.1, 3.2, 3.3, 3.4, 3.5")]
    UnknownVersion(String),
    /// A local key that is not 16 bytes long.
    #[error("invalid local key: expected 16 characters, got {0} (copy the key exactly as the wizard printed it)")]
    BadKeyLength(usize),
    /// A session key that is not 32 hex digits.
    #[error("invalid session key: expected 32 hex digits")]
    BadSessionKey,
    /// Fewer bytes than a frame header or its declared length.
    #[error(
        "truncated frame: need {needed} bytes, have {have} (the capture or read was cut short)"
    )]
    Truncated {
        /// Bytes required.
        needed: usize,
        /// Bytes present.
        have: usize,
    },
    /// The bytes do not start with 000055AA or 00006699.
    #[error("not a Tuya frame: bad prefix {0:08x} (expected 000055aa or 00006699)")]
    BadPrefix(u32),
    /// The frame does not end with 0000AA55 / 00009966.
    #[error("bad frame suffix {0:08x}: the length field does not match the frame (corrupt or truncated data)")]
    BadSuffix(u32),
    /// A declared length larger than the decoder accepts.
    #[error(
        "frame length {declared} exceeds the limit of {limit} bytes (garbage or a hostile peer)"
    )]
    TooLong {
        /// The length field of the frame.
        declared: usize,
        /// The configured cap.
        limit: usize,
    },
    /// A declared length too small to hold the fixed fields.
    #[error("frame length {0} is too small for the frame's fixed fields (corrupt data)")]
    TooShort(usize),
    /// CRC32 trailer mismatch (3.1–3.3).
    #[error("CRC mismatch: frame corrupted in transit, or the device speaks 3.4 (HMAC trailer) rather than {0}")]
    CrcMismatch(Version),
    /// HMAC-SHA256 trailer mismatch (3.4).
    #[error("HMAC mismatch: wrong local key or session key, or wrong protocol version (device may not speak 3.4)")]
    HmacMismatch,
    /// AES-GCM tag mismatch (3.5 and 3.5 discovery).
    #[error("GCM tag mismatch: wrong local key or session key, or wrong protocol version")]
    TagMismatch,
    /// AES-ECB decryption produced invalid padding.
    #[error(
        "decryption failed (bad padding): wrong local key, or wrong protocol version (tried {0})"
    )]
    BadPadding(Version),
    /// Ciphertext that is not a whole number of AES blocks.
    #[error(
        "ciphertext length {0} is not a multiple of 16: wrong protocol version or truncated frame"
    )]
    BadBlockLength(usize),
    /// 3.1 md5 signature mismatch.
    #[error("3.1 signature mismatch: wrong local key")]
    SignatureMismatch,
    /// 3.1 base64 body that does not decode.
    #[error("3.1 payload is not valid base64: corrupt frame or not a 3.1 device")]
    BadBase64,
    /// A 55AA frame used where a 6699 frame is required, or the reverse.
    #[error("frame format {found} does not match protocol {version} (expected {expected}): set the right --version")]
    WrongFraming {
        /// The version in use.
        version: Version,
        /// The format expected for it.
        expected: &'static str,
        /// The format found on the wire.
        found: &'static str,
    },
    /// A 3.4/3.5 frame arrived but no session key has been negotiated or given.
    #[error("{0} needs a session key for {1}: negotiate first, or pass --session-key")]
    NoSessionKey(Version, Command),
    /// Session negotiation: the device's proof of the local key did not verify.
    #[error("session negotiation failed: the device's HMAC over our nonce does not match: wrong local key")]
    NegotiationBadDeviceHmac,
    /// Session negotiation: the client's proof of the local key did not verify.
    #[error("session negotiation failed: the client's HMAC over our nonce does not match: the client uses a wrong local key")]
    NegotiationBadClientHmac,
    /// Session negotiation: a message arrived out of order or malformed.
    #[error("session negotiation failed: {0}")]
    Negotiation(&'static str),
    /// A 3.5 frame was to be encoded by a codec that has no entropy source for its nonce.
    #[error("a 3.5 codec needs an entropy source for its GCM nonces (Codec::with_entropy)")]
    NoEntropy,
    /// A payload that should be JSON is not.
    #[error("payload is not valid JSON: {0}")]
    BadJson(String),
    /// Discovery datagram that decodes to nothing usable.
    #[error("discovery datagram not understood: {0}")]
    BadDiscovery(&'static str),
    /// An error string sent in plaintext by the device (retcode != 0), e.g. `json obj data unvalid`.
    #[error("device error: {0}")]
    Device(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
