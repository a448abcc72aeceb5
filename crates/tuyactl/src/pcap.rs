//! `tuyactl decode --pcap FILE [--keys devices.json | --key KEY] [--version V] [--json]
//! [--session-key HEX] [--show-keys]`: every Tuya frame and discovery datagram in a
//! tcpdump/Wireshark capture (connections to port 6668, UDP 6666/6667/7000), one per line, then
//! a summary (stderr in text mode; a final `{"summary": …}` object with `--json`).
//! `--pcap -` reads the capture from standard input and prints each frame as it completes, for
//! live use: `tcpdump -i any -U -w - port 6668 or udp | tuyactl decode --pcap - --keys devices.json`.
//!
//! `--version` is the version of devices whose devices.json entry names none (otherwise it is
//! detected per connection); `--session-key` decodes 3.4/3.5 connections whose negotiation
//! happened before the capture started; `--show-keys` prints session keys derived from the
//! negotiations in the capture (never printed otherwise).
//!
//! Exit status: 1 when the file cannot be read (not a capture, unreadable, or corrupt part-way:
//! what came before the corruption is still printed); 2 when the capture holds Tuya traffic but
//! not one frame of it decoded (wrong keys, or the capture started after the 3.4/3.5 session
//! negotiation); 0 otherwise. Single frames that fail are reported on their own line and in the
//! summary but do not change the status: real captures routinely include devices without
//! keys, retransmissions and connections cut at the capture's start or end.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::process::ExitCode;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tuya_capture::{decode_capture, Direction, Event, KeyStore, Problem, Record, Summary};
use tuya_proto::{LocalKey, SessionKey};

use crate::decode::{error_json, message_json, Args};

/// Decodes a capture file; called by `decode` when `--pcap` is given.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let Some(path) = &args.pcap else {
        bail!("--pcap FILE is required")
    };
    let mut keys = load_keys(args)?;
    if let Some(s) = &args.session_key {
        // For captures that start after the 3.4/3.5 negotiation.
        keys = keys.with_session_key(SessionKey::from_hex(s).context("--session-key")?);
    }
    let live = path.as_os_str() == "-";
    let input: Box<dyn Read + Send> = if live {
        Box::new(std::io::stdin())
    } else {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Box::new(BufReader::new(file))
    };
    let name = if live {
        "standard input".to_string()
    } else {
        path.display().to_string()
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut write_err = None;
    let summary = decode_capture(input, keys, |r| {
        let line = if args.json {
            record_json(&r, args.show_keys).to_string()
        } else {
            record_text(&r, args.show_keys)
        };
        // A live capture (`tcpdump -U -w - | tuyactl decode --pcap -`) shows each frame at once.
        let res = writeln!(out, "{line}").and_then(|_| if live { out.flush() } else { Ok(()) });
        if let Err(e) = res {
            write_err.get_or_insert(e);
        }
    })
    .with_context(|| format!("cannot read {name}"))?;
    if args.json {
        writeln!(out, "{}", json!({ "summary": summary }))?;
    }
    out.flush()?;
    drop(out);
    if let Some(e) = write_err {
        return Err(e).context("writing output");
    }
    if !args.json {
        eprint!("{}", summary_text(&summary));
    }
    if let Some(e) = &summary.read_error {
        eprintln!(
            "error: {} is corrupt after the records shown: {e}",
            path.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    if summary.decoded == 0 && summary.failed > 0 {
        eprintln!(
            "error: no frame in the capture decoded; check the keys (--keys/--key) and versions"
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

fn load_keys(args: &Args) -> anyhow::Result<KeyStore> {
    match (&args.key.value()?, &args.keys) {
        (Some(_), Some(_)) => {
            bail!("give either --key (one device) or --keys devices.json, not both")
        }
        (Some(k), None) => Ok(KeyStore::single(
            LocalKey::new(k).context("--key")?,
            args.version,
        )),
        (None, Some(p)) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            let (keys, skipped) = KeyStore::from_devices_json(&text)
                .with_context(|| format!("in {}", p.display()))?;
            for s in skipped {
                eprintln!("warning: {}: skipping {s}", p.display());
            }
            Ok(match args.version {
                Some(v) => keys.with_default_version(v),
                None => keys,
            })
        }
        (None, None) => {
            eprintln!("note: no --keys or --key given: only discovery datagrams and plaintext 3.1 frames will decode");
            Ok(KeyStore::empty())
        }
    }
}

fn device_label(r: &Record) -> String {
    match &r.device {
        Some(d) if d.label() != "?" => d.label().to_string(),
        _ => match r.direction {
            Direction::ClientToDevice => r.dst.ip().to_string(),
            _ => r.src.ip().to_string(),
        },
    }
}

fn payload_text(payload: &[u8], plaintext: bool) -> String {
    if payload.is_empty() {
        return String::new();
    }
    match serde_json::from_slice::<Value>(payload) {
        Ok(v) => v.to_string(),
        Err(_) if plaintext && payload.is_ascii() => {
            format!("{:?}", String::from_utf8_lossy(payload))
        }
        Err(_) => format!("hex:{}", hex::encode(payload)),
    }
}

/// One readable line: time, direction, device, version, command, seq, retcode, payload.
fn record_text(r: &Record, show_keys: bool) -> String {
    let head = format!(
        "{} {:<8} {} {}",
        r.time.time_of_day(),
        r.direction.arrow(),
        device_label(r),
        r.version.map(|v| v.as_str()).unwrap_or("?")
    );
    match &r.event {
        Event::Frame(m) => {
            let rc = m.retcode.map(|c| format!(" rc={c}")).unwrap_or_default();
            format!(
                "{head} {} seq={}{rc} {}",
                m.cmd.name(),
                m.seq,
                payload_text(&m.payload, m.plaintext)
            )
        }
        Event::Discovery(d) => format!(
            "{head} {} {} -> {} {}",
            d.cmd.name(),
            r.src,
            r.dst,
            d.payload
        ),
        Event::SessionKey(k) if show_keys => {
            format!("{head} session key negotiated: {}", k.to_hex())
        }
        Event::SessionKey(_) => {
            format!("{head} session key negotiated (--show-keys prints it)")
        }
        Event::Failed(p) => format!("{head} ERROR {}: {p}", p.kind()),
    }
}

/// The JSON form: `tuyactl decode`'s object for the frame plus where and when it was seen.
fn record_json(r: &Record, show_keys: bool) -> Value {
    let mut o = match &r.event {
        Event::Frame(m) => message_json(m, r.version.unwrap_or(tuya_proto::Version::V33), &r.bytes),
        Event::Discovery(d) => crate::decode::datagram_json(d),
        Event::SessionKey(k) => {
            let mut o = json!({"event": "session_key_negotiated"});
            if show_keys {
                o["session_key"] = k.to_hex().into();
            }
            o
        }
        Event::Failed(p) => {
            let mut o = match p {
                Problem::Proto(e) => error_json(&r.bytes, e),
                other => json!({"error": {"message": other.to_string()}}),
            };
            o["error"]["kind"] = p.kind().into();
            o
        }
    };
    o["time"] = json!(r.time.as_f64());
    o["src"] = r.src.to_string().into();
    o["dst"] = r.dst.to_string().into();
    o["direction"] = json!(r.direction);
    o["device"] = match &r.device {
        Some(d) => json!({"name": d.name, "id": d.id}),
        None => Value::Null,
    };
    if r.version.is_some() && o.get("version").is_none() {
        o["version"] = r.version.map(|v| v.as_str()).into();
    }
    o
}

fn summary_text(s: &Summary) -> String {
    let mut t = format!(
        "summary: {} packets, {} TCP connections, {} decoded, {} failed, {} sessions negotiated, {} retransmitted segments\n",
        s.packets, s.tcp_flows, s.decoded, s.failed, s.sessions_negotiated, s.retransmitted_segments
    );
    for (label, d) in &s.devices {
        let addrs: Vec<_> = d.addresses.iter().map(String::as_str).collect();
        let versions: Vec<_> = d.versions.iter().map(String::as_str).collect();
        let id = if d.id.is_empty() || d.id == *label {
            String::new()
        } else {
            format!(" ({})", d.id)
        };
        t += &format!(
            "  device {label}{id} at {}: version {}, {} decoded, {} failed\n",
            addrs.join(", "),
            if versions.is_empty() {
                "?".to_string()
            } else {
                versions.join("/")
            },
            d.frames,
            d.failed
        );
    }
    if !s.commands.is_empty() {
        let c: Vec<_> = s.commands.iter().map(|(k, v)| format!("{k} {v}")).collect();
        t += &format!("  commands: {}\n", c.join(", "));
    }
    for (kind, f) in &s.failures {
        t += &format!("  failed {kind} x{}: {}\n", f.count, f.example);
    }
    if s.file_truncated {
        t += "  the file ends in the middle of a packet (capture cut short)\n";
    }
    if s.evicted_flows > 0 {
        t += &format!(
            "  {} connections were closed early: more than {} open at once\n",
            s.evicted_flows,
            tuya_capture::MAX_FLOWS
        );
    }
    t
}
