//! `tuyactl decode`: frames, streams and discovery datagrams given as hex, one JSON object per
//! frame on stdout.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tuya_proto::frame::{peek_header, FrameSplitter, Prefix, DEFAULT_MAX_FRAME};
use tuya_proto::{
    discovery, Codec, Command, Error, LocalKey, Message, Role, Sender, SessionKey, Version,
};

/// Who sent the frames being decoded.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum From {
    /// Tell by the return-code field.
    Auto,
    /// Frames sent by the app.
    Client,
    /// Frames sent by the device.
    Device,
}

/// Arguments of `tuyactl decode`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub key: crate::keyarg::KeyArgs,
    /// Protocol version (3.1–3.5); tried in turn when omitted.
    #[arg(long)]
    pub version: Option<Version>,
    /// The negotiated session key (32 hex digits), for 3.4/3.5 data frames.
    #[arg(long = "session-key")]
    pub session_key: Option<String>,
    /// The inputs are discovery datagrams (no key needed).
    #[arg(long)]
    pub udp: bool,
    /// Who sent the frames.
    #[arg(long, value_enum, default_value = "auto")]
    pub from: From,
    /// Decode a pcap/pcapng capture instead of hex.
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// devices.json with the keys of the devices in the capture.
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// JSON lines output (for --pcap; hex decoding always prints JSON).
    #[arg(long)]
    pub json: bool,
    /// Print the session keys derived from 3.4/3.5 negotiations seen in a capture (--pcap).
    #[arg(long = "show-keys")]
    pub show_keys: bool,
    /// Hex frames or streams; read from stdin, one per line, when none are given.
    pub hex: Vec<String>,
}

/// Runs `tuyactl decode`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.pcap.is_some() {
        return crate::pcap::run(&args);
    }
    let inputs: Vec<String> = if args.hex.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .collect::<Result<Vec<_>, _>>()
            .context("reading hex from stdin")?
    } else {
        args.hex.clone()
    };
    let decoder = if args.udp {
        None
    } else {
        Some(Decoder::new(&args)?)
    };
    let mut failed = false;
    for line in inputs {
        let cleaned: String = line
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ':')
            .collect();
        if cleaned.is_empty() || cleaned.starts_with('#') {
            continue;
        }
        let bytes = match hex::decode(cleaned.trim_start_matches("0x")) {
            Ok(b) => b,
            Err(e) => {
                failed = true;
                println!(
                    "{}",
                    json!({"error": {"message": format!("input is not hex: {e}")}})
                );
                continue;
            }
        };
        let outputs = match &decoder {
            None => vec![decode_udp(&bytes)],
            Some(d) => d.decode_stream(&bytes),
        };
        for o in outputs {
            failed |= o.get("error").is_some();
            println!("{o}");
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The JSON form of a decoded discovery datagram.
pub fn datagram_json(d: &discovery::Datagram) -> Value {
    json!({
        "kind": d.kind,
        "seq": d.seq,
        "cmd": u32::from(d.cmd),
        "cmd_name": d.cmd.name(),
        "retcode": d.retcode,
        "integrity_ok": true,
        "payload": d.payload,
    })
}

fn decode_udp(bytes: &[u8]) -> Value {
    match discovery::decode(bytes) {
        Ok(d) => datagram_json(&d),
        Err(e) => error_json(bytes, &e),
    }
}

/// Decodes frames for `tuyactl decode` and for the capture decoder.
pub struct Decoder {
    key: Option<LocalKey>,
    version: Option<Version>,
    session: Option<SessionKey>,
    from: Sender,
}

impl Decoder {
    fn new(args: &Args) -> anyhow::Result<Self> {
        let key = match args.key.value()? {
            Some(k) => Some(LocalKey::new(&k).context("--key")?),
            None => None,
        };
        let session = match &args.session_key {
            Some(s) => Some(SessionKey::from_hex(s).context("--session-key")?),
            None => None,
        };
        if key.is_none() && args.version != Some(Version::V31) {
            bail!("--key is needed to decode frames (only 3.1 queries are plaintext); use --udp for discovery datagrams");
        }
        Ok(Self {
            key,
            version: args.version,
            session,
            from: match args.from {
                From::Auto => Sender::Unknown,
                From::Client => Sender::Client,
                From::Device => Sender::Device,
            },
        })
    }

    /// Splits `bytes` into frames and decodes each.
    fn decode_stream(&self, bytes: &[u8]) -> Vec<Value> {
        let mut split = FrameSplitter::new();
        split.feed(bytes);
        let mut out = Vec::new();
        while let Some(r) = split.next_frame() {
            out.push(match r {
                Ok(frame) => self.decode_frame(&frame),
                Err(e) => error_json(bytes, &e),
            });
        }
        if out.is_empty() || split.pending() > 0 {
            let e = match peek_header(&bytes[bytes.len() - split.pending()..], DEFAULT_MAX_FRAME) {
                Ok(Some(h)) => Error::Truncated {
                    needed: h.total,
                    have: split.pending(),
                },
                Err(e) => e,
                Ok(None) => Error::Truncated {
                    needed: 16,
                    have: split.pending(),
                },
            };
            out.push(error_json(&bytes[bytes.len() - split.pending()..], &e));
        }
        out
    }

    fn candidates(&self, frame: &[u8]) -> Vec<Version> {
        if let Some(v) = self.version {
            return vec![v];
        }
        match peek_header(frame, DEFAULT_MAX_FRAME) {
            Ok(Some(h)) if h.prefix == Prefix::P6699 => vec![Version::V35],
            // Plaintext JSON is what 3.1 sends; 3.3 encrypts, so 3.1 goes first.
            _ => vec![Version::V31, Version::V33, Version::V34],
        }
    }

    /// Decodes one frame into the JSON object `tuyactl decode` prints.
    pub fn decode_frame(&self, frame: &[u8]) -> Value {
        let key = self
            .key
            .clone()
            .unwrap_or_else(|| LocalKey::from_bytes(&[0; 16]).expect("16 bytes"));
        let mut first_err = None;
        for v in self.candidates(frame) {
            let mut c = Codec::new(v, key.clone(), Role::Client);
            if let Some(s) = self.session {
                c.set_session_key(s);
            }
            match c.decode_from(frame, self.from) {
                Ok(m) => return message_json(&m, v, frame),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        error_json(frame, &first_err.expect("at least one candidate"))
    }
}

/// The JSON form of a decoded message.
pub fn message_json(m: &Message, v: Version, frame: &[u8]) -> Value {
    let mut o = json!({
        "prefix": if v == Version::V35 { "6699" } else { "55aa" },
        "seq": m.seq,
        "cmd": u32::from(m.cmd),
        "cmd_name": m.cmd.name(),
        "retcode": m.retcode,
        "version": m.header_version().unwrap_or(v).as_str(),
        "integrity_ok": true,
        "length": frame.len(),
    });
    match m.json() {
        Some(j) => o["payload"] = j,
        None if m.plaintext && !m.payload.is_empty() && m.payload.is_ascii() => {
            o["payload"] = Value::String(String::from_utf8_lossy(&m.payload).into_owned())
        }
        None => o["payload_hex"] = Value::String(hex::encode(&m.payload)),
    }
    o
}

/// The JSON error object for a frame that failed.
pub fn error_json(frame: &[u8], e: &Error) -> Value {
    let mut o = json!({"error": {"message": e.to_string(), "kind": kind(e)}});
    if let Ok(Some(h)) = peek_header(frame, usize::MAX) {
        o["prefix"] = h.prefix.as_str().into();
        o["seq"] = h.seq.into();
        o["cmd"] = h.cmd.into();
        o["cmd_name"] = Command::from(h.cmd).name().into();
    }
    if matches!(
        e,
        Error::CrcMismatch(_) | Error::HmacMismatch | Error::TagMismatch
    ) {
        o["integrity_ok"] = false.into();
    }
    o
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::CrcMismatch(_) => "crc_mismatch",
        Error::HmacMismatch => "hmac_mismatch",
        Error::TagMismatch => "tag_mismatch",
        Error::BadPadding(_) | Error::SignatureMismatch => "wrong_key",
        Error::Truncated { .. } => "truncated",
        Error::NoSessionKey(..) => "no_session_key",
        Error::WrongFraming { .. } => "wrong_version",
        _ => "decode_error",
    }
}
