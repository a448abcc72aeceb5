//! Identifying one open host over TCP: batches of probe frames, one per candidate key, per
//! protocol version; a batch cut short by firmware that closes at the first frame it cannot
//! read is retried without its first key on a fresh connection, until each key had a probe
//! of its own (bounded per host).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tuya_proto::entropy::random_bytes;
use tuya_proto::frame::FrameSplitter;
use tuya_proto::payload::{self, StatusUpdate, Target};
use tuya_proto::{Codec, Command, LocalKey, Message, Role, Version};

use super::{HostReport, HostState, KnownDevice, ScanConfig, Via};

/// How long a freshly accepted connection is watched for an immediate close (a device serving
/// another client accepts and hangs up before reading anything).
const BUSY_CHECK: Duration = Duration::from_millis(30);

/// Identifies one host.
pub async fn probe_host(ip: IpAddr, known: &[KnownDevice], cfg: &ScanConfig) -> HostReport {
    let start = Instant::now();
    let report = |state| HostReport {
        ip,
        state,
        elapsed: start.elapsed(),
    };
    let addr = SocketAddr::new(ip, cfg.port);
    let Some(first) = connect(addr, cfg).await else {
        return report(HostState::Absent);
    };
    let Some(first) = open_for_business(first).await else {
        return report(HostState::Busy);
    };
    // The keys of devices last seen at this address go first, in a batch of their own.
    let (here, elsewhere): (Vec<&KnownDevice>, Vec<&KnownDevice>) =
        known.iter().partition(|k| k.ip == Some(ip));
    let mut order: Vec<Version> = here.iter().filter_map(|k| k.version).collect();
    for v in [Version::V35, Version::V34, Version::V33, Version::V31] {
        if !order.contains(&v) {
            order.push(v);
        }
    }
    let mut stream = Some(first);
    let mut connections = 1;
    for group in [here, elsewhere] {
        if group.is_empty() {
            continue;
        }
        for &v in &order {
            // Keys last seen with this version go first in its batches.
            let mut keys = group.clone();
            keys.sort_by_key(|k| k.version != Some(v));
            let mut work: VecDeque<Vec<&KnownDevice>> = keys
                .chunks(cfg.batch.max(1))
                .map(<[&KnownDevice]>::to_vec)
                .collect();
            while let Some(batch) = work.pop_front() {
                let s = match stream.take() {
                    Some(s) => s,
                    None if connections >= cfg.max_connections_per_host.max(1) => {
                        tracing::info!(
                            "{ip}: stopped after {connections} connections; some keys were not tried"
                        );
                        return report(HostState::Unidentified);
                    }
                    None => {
                        connections += 1;
                        match connect(addr, cfg).await {
                            Some(s) => s,
                            // It accepted before: it is there, but no longer takes us.
                            None => return report(HostState::Busy),
                        }
                    }
                };
                match probe_batch(s, v, &batch, cfg).await {
                    Probe::Found(k, version) => {
                        return report(HostState::Identified {
                            id: k.id.clone(),
                            name: k.name.clone(),
                            version,
                            via: Via::Tcp,
                        });
                    }
                    Probe::Silent(s) => stream = Some(s),
                    Probe::Device22(s, seq) => {
                        // The device decrypted one of our queries but wants its DPs named:
                        // find which key with one named query per candidate.
                        let (found, s) = probe_device22(s, &batch, seq, cfg).await;
                        if let Some(k) = found {
                            return report(HostState::Identified {
                                id: k.id.clone(),
                                name: k.name.clone(),
                                version: v,
                                via: Via::Tcp,
                            });
                        }
                        stream = s;
                    }
                    // Cut short: the device read up to a frame it could not, and it would have
                    // answered every good frame before it, so the first key is not its own.
                    // The rest go again on a fresh connection: at most one connection per key.
                    Probe::Closed if batch.len() > 1 => work.push_front(batch[1..].to_vec()),
                    // A single key's probe closed the connection: not this device's key.
                    Probe::Closed => {}
                }
            }
        }
    }
    report(HostState::Unidentified)
}

async fn connect(addr: SocketAddr, cfg: &ScanConfig) -> Option<TcpStream> {
    match timeout(cfg.connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Some(s)
        }
        _ => None,
    }
}

/// `None` when the host hangs up at once, before we send anything.
async fn open_for_business(s: TcpStream) -> Option<TcpStream> {
    let mut b = [0u8; 1];
    match timeout(BUSY_CHECK, s.peek(&mut b)).await {
        Ok(Ok(0)) | Ok(Err(_)) => None,
        _ => Some(s),
    }
}

enum Probe<'a> {
    Found(&'a KnownDevice, Version),
    /// A device22 refusal; the seq to continue with on this connection.
    Device22(TcpStream, u32),
    Silent(TcpStream),
    Closed,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The frame that makes a device of version `v` answer, sealed with `k`'s key.
fn probe_frame(v: Version, k: &KnownDevice, seq: u32) -> Option<Vec<u8>> {
    let mut rng = rand::rngs::OsRng;
    let msg = if v.uses_session_key() {
        let nonce: [u8; 16] = random_bytes(&mut rng);
        Message::request(v, seq, Command::SessKeyNegStart, nonce.to_vec())
    } else {
        let t = Target {
            version: v,
            dev_id: &k.id,
            cid: None,
            t: unix_now(),
        };
        let (cmd, body) = payload::query(&t);
        Message::request(v, seq, cmd, body)
    };
    // Every 3.5 probe gets a fresh random GCM nonce: they are sealed with long-term keys.
    Codec::with_entropy(v, k.key.clone(), Role::Client, rng)
        .encode(&msg)
        .ok()
}

/// Which candidate, if any, sealed or is named by this reply, and the version it shows.
fn match_reply<'a>(
    v: Version,
    frame: &[u8],
    group: &[&'a KnownDevice],
) -> Option<(&'a KnownDevice, Version)> {
    for k in group {
        let codec = Codec::new(v, k.key.clone(), Role::Client);
        let Ok(m) = codec.decode(frame) else { continue };
        let found = match v {
            // The negotiation reply verifies under the device's own key (HMAC or GCM tag).
            Version::V34 | Version::V35 => (m.cmd == Command::SessKeyNegResp).then_some(v),
            // A plaintext status naming the device: only 3.1 firmware answers in plaintext,
            // whatever version the query was.
            _ if m.plaintext => StatusUpdate::parse_bytes(&m.payload)
                .and_then(|s| s.dev_id)
                .is_some_and(|id| id == k.id)
                .then_some(Version::V31),
            // Encrypted replies decrypt only under the device's key.
            _ => m.json().is_some().then_some(v),
        };
        if let Some(version) = found {
            return Some((k, version));
        }
    }
    None
}

async fn probe_batch<'a>(
    mut s: TcpStream,
    v: Version,
    group: &[&'a KnownDevice],
    cfg: &ScanConfig,
) -> Probe<'a> {
    let mut out = Vec::new();
    // Sequence numbers increase along the connection, as strict firmware requires.
    for (i, k) in group.iter().enumerate() {
        if let Some(f) = probe_frame(v, k, i as u32 + 1) {
            out.extend(f);
        }
    }
    let next_seq = group.len() as u32 + 1;
    if !matches!(
        timeout(cfg.write_timeout, s.write_all(&out)).await,
        Ok(Ok(()))
    ) {
        return Probe::Closed;
    }
    let mut split = FrameSplitter::new();
    let mut buf = [0u8; 2048];
    let deadline = tokio::time::Instant::now() + cfg.probe_timeout;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return Probe::Silent(s),
            Ok(Ok(0)) | Ok(Err(_)) => return Probe::Closed,
            Ok(Ok(n)) => {
                split.feed(&buf[..n]);
                while let Some(f) = split.next_frame() {
                    let Ok(f) = f else { continue };
                    if let Some((k, version)) = match_reply(v, &f, group) {
                        return Probe::Found(k, version);
                    }
                    if v == Version::V33 && is_device22_error(&f) {
                        return Probe::Device22(s, next_seq);
                    }
                }
            }
        }
    }
}

/// The plaintext error a device22 device answers a plain DP_QUERY with.
fn is_device22_error(frame: &[u8]) -> bool {
    let c = Codec::new(
        Version::V33,
        LocalKey::from_bytes(&[0; 16]).expect("16 bytes"),
        Role::Client,
    );
    c.decode(frame).is_ok_and(|m| {
        m.plaintext && m.retcode.is_some_and(|r| r != 0) && m.payload.ends_with(b"data unvalid")
    })
}

/// One device22 query (DP 1 named) per candidate, each waited for in turn.
async fn probe_device22<'a>(
    mut s: TcpStream,
    group: &[&'a KnownDevice],
    first_seq: u32,
    cfg: &ScanConfig,
) -> (Option<&'a KnownDevice>, Option<TcpStream>) {
    for (i, k) in group.iter().enumerate() {
        let seq = first_seq + i as u32;
        let t = Target {
            version: Version::V33,
            dev_id: &k.id,
            cid: None,
            t: 0,
        };
        let (cmd, body) = payload::query_device22(&t, &[tuya_proto::DpId(1)]);
        let codec = Codec::new(Version::V33, k.key.clone(), Role::Client);
        let mut enc = Codec::new(Version::V33, k.key.clone(), Role::Client);
        let Ok(f) = enc.encode(&Message::request(Version::V33, seq, cmd, body)) else {
            continue;
        };
        if !matches!(
            timeout(cfg.write_timeout, s.write_all(&f)).await,
            Ok(Ok(()))
        ) {
            return (None, None);
        }
        let mut split = FrameSplitter::new();
        let mut buf = [0u8; 2048];
        let deadline = tokio::time::Instant::now() + cfg.probe_timeout;
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            if n == 0 {
                return (None, None);
            }
            split.feed(&buf[..n]);
            while let Some(Ok(f)) = split.next_frame() {
                // Devices ignore frames sealed with another key, so any answer to this one
                // (its acknowledgement, or the push of the named DP) identifies the key.
                if codec.decode(&f).is_ok_and(|m| {
                    (m.cmd == cmd && m.seq == seq && m.retcode == Some(0))
                        || (!m.plaintext && m.json().is_some())
                }) {
                    return (Some(k), None);
                }
            }
        }
    }
    (None, Some(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(id: &str) -> KnownDevice {
        KnownDevice {
            id: id.into(),
            key: LocalKey::new("0123456789abcdef").unwrap(),
            name: None,
            ip: None,
            version: None,
        }
    }

    #[test]
    fn a_plaintext_status_to_a_33_probe_is_a_31_device() {
        let k = known("dev31");
        let mut dev = Codec::new(Version::V31, k.key.clone(), Role::Device);
        let body = payload::status(Version::V31, "dev31", None, &Default::default(), Some(1));
        let frame = dev
            .encode(&Message {
                plaintext: true,
                header: None,
                ..Message::reply(Version::V31, 1, Command::DpQuery, body)
            })
            .unwrap();
        let (found, version) = match_reply(Version::V33, &frame, &[&k]).unwrap();
        assert_eq!((found.id.as_str(), version), ("dev31", Version::V31));
        // Another device's plaintext status does not identify this key.
        assert!(match_reply(Version::V33, &frame, &[&known("other")]).is_none());
    }

    #[test]
    fn probes_never_repeat_a_nonce() {
        let k = known("dev35");
        let mut seen = std::collections::HashSet::new();
        for seq in 0..20_000 {
            let f = probe_frame(Version::V35, &k, seq).unwrap();
            assert!(
                seen.insert(f[18..30].to_vec()),
                "nonce repeated at probe {seq}"
            );
        }
    }
}
