//! The app-login API's request keys, sealing and `X-sign`, byte for byte against vectors made
//! with tuya-device-sharing-sdk 0.2.15's own functions (tests/vectors/make_sharing_vectors.py).

use base64::Engine as _;
use serde_json::Value;
use tuya_cloud::sharing::{RequestKey, SealError};

fn vectors() -> Vec<Value> {
    serde_json::from_str(include_str!("vectors/sharing-sdk-0.2.15.json")).unwrap()
}

fn nonce_of(sealed: &str) -> [u8; 12] {
    let n = base64::engine::general_purpose::STANDARD
        .decode(&sealed[..16])
        .unwrap();
    n.try_into().unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

#[test]
fn request_keys_sealing_and_signatures_match_the_sdk() {
    for v in vectors() {
        let k = RequestKey::derive(s(&v["rid"]), s(&v["refresh_token"]));
        assert_eq!(k.hash_key(), s(&v["hash_key"]));
        for (plain, sealed) in [("params", "query_encdata"), ("body", "body_encdata")] {
            let sealed = s(&v[sealed]);
            if sealed.is_empty() {
                continue;
            }
            let json = serde_json::to_string(&v[plain]).unwrap();
            assert_eq!(k.seal_with(&json, &nonce_of(sealed)), sealed);
            assert_eq!(k.open(sealed).unwrap(), json);
        }
        let headers: Vec<(&str, &str)> = v["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(a, b)| (a.as_str(), s(b)))
            .collect();
        assert_eq!(
            k.x_sign(&headers, s(&v["query_encdata"]), s(&v["body_encdata"])),
            s(&v["x_sign"])
        );
        // The device list as the server would send it, keys with symbols included.
        assert_eq!(
            k.open(s(&v["encrypted_reply"])).unwrap(),
            s(&v["plain_reply"])
        );
    }
}

#[test]
fn another_requests_key_or_a_damaged_reply_is_refused() {
    let v = &vectors()[0];
    let other = RequestKey::derive("another-request-id", s(&v["refresh_token"]));
    assert_eq!(other.open(s(&v["encrypted_reply"])), Err(SealError::Tag));
    let k = RequestKey::derive(s(&v["rid"]), s(&v["refresh_token"]));
    let mut damaged = s(&v["encrypted_reply"]).to_string();
    damaged.replace_range(20..21, if &damaged[20..21] == "A" { "B" } else { "A" });
    assert_eq!(k.open(&damaged), Err(SealError::Tag));
    assert_eq!(k.open("!!"), Err(SealError::Base64));
    assert_eq!(k.open("AAAA"), Err(SealError::Short));
    // Fresh nonces each time, from the app's alphabet; both open.
    let (a, b) = (k.seal("{}"), k.seal("{}"));
    assert_ne!(a, b);
    assert_eq!(k.open(&a).unwrap(), "{}");
    assert!(format!("{k:?}").contains("****"));
}
