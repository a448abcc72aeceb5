//! The app-login API (the one the Smart Life app's QR login opens; Home Assistant's Tuya
//! integration uses it): every request gets a fresh key derived from its request id and the
//! refresh token, its query and body are sealed with AES-128-GCM under that key, and the
//! `X-sign` header is an HMAC-SHA256 over the headers and the sealed data.
//!
//! - `hash_key` = lower-case hex MD5(request id ‖ refresh token);
//! - request key = the first 16 characters of lower-case hex HMAC-SHA256(key = request id,
//!   message = hash_key), used as 16 ASCII bytes;
//! - sealed = base64(nonce) ‖ base64(ciphertext ‖ tag), the nonce 12 characters of a fixed
//!   alphabet, no associated data;
//! - `X-sign` = lower-case hex HMAC-SHA256(key = hash_key, `name=value` of each non-empty
//!   header of X-appKey, X-requestId, X-sid, X-time, X-token joined by `||`, then the sealed
//!   query, then the sealed body).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use rand::Rng;
use sha2::Sha256;

/// The characters nonces are drawn from (as the app does).
const NONCE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTWXYZabcdefhijkmnprstwxyz2345678";
/// The headers covered by `X-sign`, in order.
pub const SIGNED_HEADERS: [&str; 5] = ["X-appKey", "X-requestId", "X-sid", "X-time", "X-token"];

/// Why a reply could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Not base64.
    #[error("the encrypted result is not base64")]
    Base64,
    /// Shorter than a nonce and a tag.
    #[error("the encrypted result is too short")]
    Short,
    /// The tag does not verify: another request's key, or a damaged reply.
    #[error("the encrypted result does not verify (wrong request key or damaged reply)")]
    Tag,
    /// The plaintext is not text.
    #[error("the decrypted result is not UTF-8")]
    NotText,
}

/// The keys of one request.
#[derive(Clone)]
pub struct RequestKey {
    hash_key: String,
    key: [u8; 16],
}

impl std::fmt::Debug for RequestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestKey(****)")
    }
}

fn hmac_hex(key: &[u8], msg: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(msg);
    hex::encode(mac.finalize().into_bytes())
}

impl RequestKey {
    /// The keys of the request `request_id` for a session with `refresh_token`.
    pub fn derive(request_id: &str, refresh_token: &str) -> Self {
        let mut md5 = Md5::new();
        md5.update(request_id.as_bytes());
        md5.update(refresh_token.as_bytes());
        let hash_key = hex::encode(md5.finalize());
        let secret = hmac_hex(request_id.as_bytes(), hash_key.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&secret.as_bytes()[..16]);
        Self { hash_key, key }
    }

    /// The HMAC key of `X-sign`.
    pub fn hash_key(&self) -> &str {
        &self.hash_key
    }

    /// Seals `plain` with `nonce`.
    pub fn seal_with(&self, plain: &str, nonce: &[u8; 12]) -> String {
        let cipher = Aes128Gcm::new((&self.key).into());
        // Encryption of a message of any length under a valid key cannot fail.
        let ct = cipher
            .encrypt(Nonce::from_slice(nonce), plain.as_bytes())
            .unwrap_or_default();
        let b64 = base64::engine::general_purpose::STANDARD;
        format!("{}{}", b64.encode(nonce), b64.encode(ct))
    }

    /// Seals `plain` with a fresh nonce.
    pub fn seal(&self, plain: &str) -> String {
        self.seal_with(plain, &random_nonce(&mut rand::thread_rng()))
    }

    /// Opens a sealed result.
    pub fn open(&self, sealed: &str) -> Result<String, SealError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed.trim())
            .map_err(|_| SealError::Base64)?;
        if raw.len() < 12 + 16 {
            return Err(SealError::Short);
        }
        let cipher = Aes128Gcm::new((&self.key).into());
        let plain = cipher
            .decrypt(Nonce::from_slice(&raw[..12]), &raw[12..])
            .map_err(|_| SealError::Tag)?;
        String::from_utf8(plain).map_err(|_| SealError::NotText)
    }

    /// The `X-sign` of a request: `headers` are looked up by name in [`SIGNED_HEADERS`] order
    /// (missing or empty ones are left out).
    pub fn x_sign(
        &self,
        headers: &[(&str, &str)],
        query_sealed: &str,
        body_sealed: &str,
    ) -> String {
        let parts: Vec<String> = SIGNED_HEADERS
            .iter()
            .filter_map(|name| {
                headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| format!("{k}={v}"))
            })
            .collect();
        let msg = format!("{}{query_sealed}{body_sealed}", parts.join("||"));
        hmac_hex(self.hash_key.as_bytes(), msg.as_bytes())
    }
}

/// A nonce of 12 characters from the app's alphabet.
pub fn random_nonce(rng: &mut impl Rng) -> [u8; 12] {
    let mut n = [0u8; 12];
    for b in &mut n {
        *b = NONCE_ALPHABET[rng.gen_range(0..NONCE_ALPHABET.len())];
    }
    n
}
