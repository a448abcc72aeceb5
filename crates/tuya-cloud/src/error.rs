//! The errors of the cloud clients: each variant names a cause the user can act on. No variant
//! ever carries a key, a secret, a token or a local key.

use crate::sharing::SealError;

/// Why a cloud call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloudError {
    /// Tuya error 1004.
    #[error("sign invalid: check the secret and the data-centre region")]
    SignInvalid,
    /// Tuya errors 1010/1011, still there after renewing the token once.
    #[error("token expired or invalid (code {code}), still after renewing it once: log in again")]
    TokenInvalid {
        /// `1010` (expired) or `1011` (invalid).
        code: String,
    },
    /// Tuya error 1013.
    #[error("request time is invalid: check this machine's clock")]
    TimeInvalid,
    /// Tuya error 1106.
    #[error(
        "permission deny: the app account is not linked to the cloud project, or the region is \
         wrong"
    )]
    PermissionDenied,
    /// Tuya error 28841105.
    #[error(
        "API service not subscribed: subscribe the cloud project to the IoT Core service \
         (developer platform, Cloud > Development > Service API)"
    )]
    NotSubscribed,
    /// The QR login code `E0020002`: the QR code was not scanned in time.
    #[error("QR code expired: start the login again and scan the new code within a few minutes")]
    QrExpired,
    /// Any other error code from Tuya.
    #[error("Tuya replied with error {code}: {msg}")]
    Api {
        /// Tuya's code, as text (numbers and codes like `E0020002` alike).
        code: String,
        /// Tuya's message (shortened).
        msg: String,
    },
    /// An unknown region name.
    #[error("unknown region {0:?}: use one of us, us-e, eu, eu-w, cn, in, sg")]
    UnknownRegion(String),
    /// A base URL that cannot be used.
    #[error("invalid URL: {0}")]
    BadUrl(String),
    /// Plain `http://` to something other than this machine.
    #[error(
        "refusing plain http:// to {host}: only loopback addresses (127.0.0.0/8, ::1, localhost) \
         may be reached without TLS; use https://"
    )]
    InsecureUrl {
        /// The host that was refused.
        host: String,
    },
    /// No answer: DNS, connection, TLS or timeout.
    #[error("cannot reach {host}: {reason}")]
    Transport {
        /// The host called.
        host: String,
        /// What went wrong (never the URL, which may hold a token).
        reason: String,
    },
    /// An HTTP error status without a Tuya error in the body.
    #[error("{host} answered HTTP {status}")]
    Http {
        /// The host called.
        host: String,
        /// The status code.
        status: u16,
    },
    /// A reply larger than the cap.
    #[error("the reply is larger than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// More pages than the cap.
    #[error("more than {limit} pages of results: giving up")]
    TooManyPages {
        /// The cap.
        limit: usize,
    },
    /// A reply that is not what the API documents.
    #[error("unexpected reply: {0}")]
    Malformed(String),
    /// An encrypted result that does not open.
    #[error("cannot open the encrypted result: {0}")]
    Seal(#[from] SealError),
}

impl CloudError {
    /// The error of a Tuya `code` (as text) and message.
    pub fn from_code(code: &str, msg: &str) -> Self {
        match code {
            "1004" => Self::SignInvalid,
            "1010" | "1011" => Self::TokenInvalid { code: code.into() },
            "1013" => Self::TimeInvalid,
            "1106" => Self::PermissionDenied,
            "28841105" => Self::NotSubscribed,
            "E0020002" => Self::QrExpired,
            _ => Self::Api {
                code: code.into(),
                msg: msg.chars().take(200).collect(),
            },
        }
    }

    /// Whether this is 1010/1011, the codes after which a token is renewed once.
    pub fn is_token_error(&self) -> bool {
        matches!(self, Self::TokenInvalid { .. })
    }

    /// Tuya's code for an [`CloudError::Api`] error.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A Tuya `code` field (a number or a string) as text; empty when missing.
pub(crate) fn code_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}
