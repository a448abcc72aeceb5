//! One client connection: the device side of the protocol, with quirks, faults and firmware
//! rules applied.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tuya_proto::frame::FrameSplitter;
use tuya_proto::payload::{self, ControlRequest};
use tuya_proto::session::DeviceHandshake;
use tuya_proto::{Codec, Command, Dps, Message, Role, Version};

use crate::device::{Device, Event};
use crate::rules::{self, Screen, Verdict};
use crate::spec::MultiDp;
use crate::traffic::{self, Direction};

/// A write that cannot complete in this long means the client stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes a `garbage` fault sends before each frame (no frame prefix inside).
const GARBAGE: &[u8] = b"\x13\x37garbage\xff\x00";
/// Cap on a client frame: real devices take small requests only.
const MAX_FRAME: usize = 16 * 1024;
/// Changes held for a client that has not finished negotiating.
const HELD_PUSHES: usize = 32;

pub(crate) async fn serve(
    dev: Arc<Device>,
    mut stream: TcpStream,
    peer: SocketAddr,
    conn_id: u64,
    mut rx: mpsc::Receiver<Event>,
) {
    let key = dev.state().key.clone();
    let mut codec = Codec::new(dev.version, key, Role::Device);
    codec.set_max_len(MAX_FRAME);
    let mut rng = StdRng::seed_from_u64(dev.seed ^ conn_id.wrapping_mul(0xA24B_AED4_963E_E407));
    codec.set_entropy(Box::new(
        StdRng::from_rng(&mut rng).unwrap_or_else(|_| StdRng::seed_from_u64(conn_id)),
    ));
    let split_cap = rules::splitter_cap(&dev.state().firmware, MAX_FRAME);
    let mut conn = Conn {
        dev: dev.clone(),
        peer,
        conn_id,
        codec,
        splitter: FrameSplitter::with_max_len(split_cap),
        screen: Screen::default(),
        handshake: None,
        rng,
        frames_in: 0,
        held: Vec::new(),
    };
    let why = conn.run(&mut stream, &mut rx).await;
    dev.release(conn_id);
    dev.log(|| traffic::event(&dev.id, peer, Direction::Drop, None, Some(why)));
}

struct Conn {
    dev: Arc<Device>,
    conn_id: u64,
    peer: SocketAddr,
    codec: Codec,
    splitter: FrameSplitter,
    screen: Screen,
    handshake: Option<DeviceHandshake>,
    rng: StdRng,
    frames_in: u32,
    /// Changes made before a 3.4/3.5 session existed, pushed once it does.
    held: Vec<(Option<String>, Dps)>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An empty reply (acks, heartbeat replies): no header, nothing to encrypt on ≤3.4.
fn empty(version: Version, seq: u32, cmd: Command) -> Message {
    Message {
        plaintext: true,
        header: None,
        ..Message::reply(version, seq, cmd, Vec::new())
    }
}

impl Conn {
    async fn run(&mut self, stream: &mut TcpStream, rx: &mut mpsc::Receiver<Event>) -> String {
        let mut buf = vec![0u8; 4096];
        let hb = self.dev.heartbeat_timeout;
        let mut deadline = Instant::now() + hb;
        loop {
            tokio::select! {
                r = tokio::time::timeout_at(deadline, stream.read(&mut buf)) => {
                    let n = match r {
                        Err(_) => return format!("client silent for {}s: closed", hb.as_secs_f32()),
                        Ok(Ok(0)) => return "client closed the connection".into(),
                        Ok(Err(e)) => return format!("read failed: {e}"),
                        Ok(Ok(n)) => n,
                    };
                    self.splitter.feed(&buf[..n]);
                    while let Some(frame) = self.splitter.next_frame() {
                        let fw = self.dev.state().firmware.clone();
                        let frame = match frame {
                            Ok(f) => f,
                            Err(e) => {
                                if let Some(why) = rules::split_error_closes(&e, &fw) {
                                    return why;
                                }
                                self.drop_note(None, format!("bad frame: {e}"));
                                continue;
                            }
                        };
                        // Idle close counts from the last whole frame, as the SDK's does:
                        // bytes that never form one do not keep a client alive.
                        deadline = Instant::now() + hb;
                        let awaits_key =
                            self.dev.version.uses_session_key() && !self.codec.has_session();
                        let mut out = match self.screen.check(&frame, &fw, awaits_key) {
                            Verdict::Handle => match self.handle_frame(&frame, &fw) {
                                Ok(out) => out,
                                Err(why) => return why,
                            },
                            Verdict::Ignore(note) => {
                                self.drop_note(None, note);
                                Vec::new()
                            }
                            Verdict::Close(why) => return why,
                        };
                        if self.codec.has_session() && !self.held.is_empty() {
                            for (cid, dps) in std::mem::take(&mut self.held) {
                                out.extend(self.pushes(cid.as_deref(), dps));
                            }
                        }
                        if let Err(e) = self.send(stream, out).await {
                            return e;
                        }
                        self.frames_in += 1;
                        let limit = self.dev.state().faults.close_after_frames;
                        if limit.is_some_and(|n| self.frames_in >= n) {
                            return format!("fault: closing after {} frames", self.frames_in);
                        }
                    }
                }
                ev = rx.recv() => match ev {
                    None => return "simulator stopped".into(),
                    Some(Event::Close(why)) => return why.into(),
                    Some(Event::Push { cid, dps }) => {
                        if self.dev.version.uses_session_key() && !self.codec.has_session() {
                            // Nothing can be sent before negotiation ends: hold the change.
                            if self.held.len() < HELD_PUSHES {
                                self.held.push((cid, dps));
                            }
                            continue;
                        }
                        let out = self.pushes(cid.as_deref(), dps);
                        if let Err(e) = self.send(stream, out).await {
                            return e;
                        }
                    }
                }
            }
        }
    }

    fn drop_note(&self, msg: Option<&Message>, note: String) {
        let (dev, peer) = (&self.dev, self.peer);
        dev.log(|| traffic::event(&dev.id, peer, Direction::Drop, msg, Some(note)));
    }

    /// The replies to one frame, or why the connection closes (`close_on_bad_frame`).
    fn handle_frame(
        &mut self,
        frame: &[u8],
        fw: &crate::spec::Firmware,
    ) -> Result<Vec<Message>, String> {
        let msg = match self.codec.decode(frame) {
            Ok(m) => m,
            Err(e) if fw.close_on_bad_frame => {
                return Err(format!("firmware: undecodable frame ({e}): closed"))
            }
            Err(e) => {
                self.drop_note(None, format!("ignored: {e}"));
                return Ok(Vec::new());
            }
        };
        if !msg.cmd.is_negotiation()
            && !msg.payload.is_empty()
            && serde_json::from_slice::<serde_json::Value>(&msg.payload).is_err()
        {
            if fw.close_on_bad_frame {
                return Err("firmware: payload is not JSON (wrong local key?): closed".into());
            }
            self.drop_note(
                Some(&msg),
                "ignored: payload is not JSON (wrong local key?)".into(),
            );
            return Ok(Vec::new());
        }
        let (dev, peer) = (&self.dev, self.peer);
        dev.log(|| traffic::event(&dev.id, peer, Direction::Rx, Some(&msg), None));
        Ok(match msg.cmd {
            Command::SessKeyNegStart => self.neg_start(&msg),
            Command::SessKeyNegFinish => {
                self.neg_finish(&msg);
                Vec::new()
            }
            Command::HeartBeat => {
                let mut st = self.dev.state();
                let seq = if st.quirks.seq_zero_pushes {
                    0
                } else if st.quirks.own_seq {
                    st.next_seq()
                } else {
                    msg.seq
                };
                vec![empty(self.dev.version, seq, Command::HeartBeat)]
            }
            Command::DpQuery | Command::DpQueryNew => vec![self.query(&msg)],
            Command::Control | Command::ControlNew => self.control(&msg),
            Command::UpdateDps => self.refresh(&msg),
            Command::LanExtStream => self.lan_ext(&msg),
            _ => {
                self.drop_note(Some(&msg), "ignored: command not supported".into());
                Vec::new()
            }
        })
    }

    fn reply_seq(&self, req: u32) -> u32 {
        let mut st = self.dev.state();
        if st.quirks.own_seq {
            st.next_seq()
        } else {
            req
        }
    }

    fn neg_start(&mut self, msg: &Message) -> Vec<Message> {
        let v = self.dev.version;
        if !v.uses_session_key() {
            self.drop_note(Some(msg), format!("ignored: {v} has no session key"));
            return Vec::new();
        }
        let nonce = self.device_nonce(msg);
        let key = self.dev.state().key.clone();
        let mut hs = match DeviceHandshake::new(v, key, nonce) {
            Ok(h) => h,
            Err(e) => {
                self.drop_note(Some(msg), format!("ignored: {e}"));
                return Vec::new();
            }
        };
        // A new negotiation replaces any session: data frames wait for its end.
        self.codec.clear_session();
        match hs.on_start(msg) {
            Ok(mut resp) => {
                resp.seq = self.reply_seq(msg.seq);
                self.handshake = Some(hs);
                vec![resp]
            }
            Err(e) => {
                self.drop_note(Some(msg), format!("ignored: {e}"));
                Vec::new()
            }
        }
    }

    fn neg_finish(&mut self, msg: &Message) {
        let Some(mut hs) = self.handshake.take() else {
            self.drop_note(
                Some(msg),
                "ignored: SESS_KEY_NEG_FINISH before START".into(),
            );
            return;
        };
        match hs.on_finish(msg) {
            Ok(k) if k.as_bytes()[0] == 0 && self.dev.state().firmware.zero_key_is_no_key => {
                // The SDK tests the key's first byte for "key set": the session stays keyless.
                self.drop_note(
                    Some(msg),
                    "firmware: session key starts with 0x00: taken as no key".into(),
                );
            }
            Ok(k) => self.codec.set_session_key(k),
            Err(e) => self.drop_note(Some(msg), format!("negotiation failed: {e}")),
        }
    }

    /// Our nonce for a SESS_KEY_NEG_START: random, or chosen so the key starts with 0x00 while
    /// the device's `zero_key_handshakes` last.
    fn device_nonce(&mut self, msg: &Message) -> [u8; 16] {
        let Some(client_nonce) = msg
            .payload
            .get(..16)
            .and_then(|n| <[u8; 16]>::try_from(n).ok())
        else {
            // Not a valid start: the handshake refuses it, and it does not count.
            return self.rng.gen();
        };
        let (key, zero) = {
            let mut st = self.dev.state();
            let zero = st.handshakes < st.firmware.zero_key_handshakes;
            st.handshakes = st.handshakes.saturating_add(1);
            (st.key.clone(), zero)
        };
        if zero {
            if let Some(n) =
                rules::zero_key_nonce(self.dev.version, &key, &client_nonce, &mut self.rng)
            {
                return n;
            }
            tracing::warn!("device {}: no nonce gives a 0x00 key", self.dev.id);
        }
        self.rng.gen()
    }

    /// An error string with retcode 1; `encrypted` is the `encrypted_errors` quirk (passed in:
    /// callers hold the state lock).
    fn error(&self, encrypted: bool, seq: u32, cmd: Command, text: &str) -> Message {
        if encrypted {
            Message {
                retcode: Some(1),
                ..Message::reply(self.dev.version, seq, cmd, text.as_bytes().to_vec())
            }
        } else {
            Message::device_error(seq, cmd, text)
        }
    }

    /// `devid not found`, encrypted with retcode 1, as gateways answer unknown children.
    fn unknown_child(&self, seq: u32, cmd: Command) -> Message {
        Message {
            retcode: Some(1),
            ..Message::reply(self.dev.version, seq, cmd, b"devid not found".to_vec())
        }
    }

    fn query(&mut self, msg: &Message) -> Message {
        let cid = payload::parse_query_cid(&msg.payload);
        let seq = self.reply_seq(msg.seq);
        let v = self.dev.version;
        let st = self.dev.state();
        let dps = match &cid {
            Some(c) => match st.child(c) {
                Some(ch) => ch.dps.clone(),
                None => return self.unknown_child(seq, msg.cmd),
            },
            // Gateways and device22 devices refuse a plain query.
            None if st.is_gateway() || (self.dev.device22 && msg.cmd == Command::DpQuery) => {
                return self.error(
                    st.quirks.encrypted_errors,
                    seq,
                    msg.cmd,
                    "json obj data unvalid",
                )
            }
            None => st.dps.clone(),
        };
        let dps: Dps = dps
            .into_iter()
            .filter(|(id, _)| !st.quirks.push_only_dps.contains(id))
            .collect();
        let t = (!st.quirks.status_without_t).then(now_secs);
        let body = payload::status(v, &self.dev.id, cid.as_deref(), &dps, t);
        Message::reply(v, seq, msg.cmd, body)
    }

    fn control(&mut self, msg: &Message) -> Vec<Message> {
        let Some(req) = ControlRequest::parse_bytes(&msg.payload) else {
            self.drop_note(Some(msg), "ignored: no dps in control".into());
            return Vec::new();
        };
        let seq = self.reply_seq(msg.seq);
        let v = self.dev.version;
        let mut st = self.dev.state();
        let now = Instant::now();
        if let (Some(gap), Some(last)) = (st.quirks.min_command_gap, st.last_command) {
            if now.duration_since(last) < gap {
                drop(st);
                self.drop_note(
                    Some(msg),
                    "quirk: command too soon after the last one".into(),
                );
                return Vec::new();
            }
        }
        st.last_command = Some(now);
        let multi = st.quirks.multi_dp;
        let encrypted_errors = st.quirks.encrypted_errors;
        let cid = req.cid.clone();
        let target = match &cid {
            Some(c) => match st.child_mut(c) {
                Some(ch) => &mut ch.dps,
                None => return vec![self.unknown_child(seq, msg.cmd)],
            },
            None => &mut st.dps,
        };
        let ack = empty(v, seq, msg.cmd);
        if req.dps.is_empty() {
            // CONTROL_NEW naming DPs with null values: the device22 query.
            let found: Dps = req
                .queried
                .iter()
                .filter_map(|id| target.get(id).map(|val| (*id, val.clone())))
                .collect();
            drop(st);
            let mut out = vec![ack];
            if !found.is_empty() {
                out.extend(self.pushes(cid.as_deref(), found));
            }
            return out;
        }
        let mut set = req.dps;
        if set.len() > 1 {
            match multi {
                MultiDp::Accept => {}
                MultiDp::Reject => {
                    return vec![self.error(encrypted_errors, seq, msg.cmd, "data format error")]
                }
                MultiDp::HalfApply => {
                    let first = set.pop_first();
                    set = first.into_iter().collect();
                }
            }
        }
        for (id, val) in &set {
            target.insert(*id, val.clone());
        }
        // Firmware reports a change to every open LAN connection, not only the one that
        // asked for it.
        crate::device::push_except(&st, self.conn_id, cid.clone(), set.clone());
        drop(st);
        let mut out = vec![ack];
        out.extend(self.pushes(cid.as_deref(), set));
        out
    }

    fn refresh(&mut self, msg: &Message) -> Vec<Message> {
        let seq = self.reply_seq(msg.seq);
        let st = self.dev.state();
        if st.quirks.refresh_fails {
            return vec![self.error(st.quirks.encrypted_errors, seq, msg.cmd, "query dp failed")];
        }
        let ids = payload::parse_refresh(&msg.payload);
        let cid = payload::parse_query_cid(&msg.payload);
        let source = match &cid {
            Some(c) => match st.child(c) {
                Some(ch) => &ch.dps,
                None => return vec![self.unknown_child(seq, msg.cmd)],
            },
            None => &st.dps,
        };
        let found: Dps = ids
            .iter()
            .filter_map(|id| source.get(id).map(|v| (*id, v.clone())))
            .collect();
        drop(st);
        let mut out = vec![empty(self.dev.version, seq, msg.cmd)];
        if !found.is_empty() {
            out.extend(self.pushes(cid.as_deref(), found));
        }
        out
    }

    fn lan_ext(&mut self, msg: &Message) -> Vec<Message> {
        let v = self.dev.version;
        let req = msg.json().unwrap_or_default();
        let st = self.dev.state();
        // 3.3 gateways and plain devices stay silent.
        if !v.uses_session_key()
            || !st.is_gateway()
            || req.get("reqType").and_then(|r| r.as_str()) != Some("subdev_online_stat_query")
        {
            drop(st);
            self.drop_note(Some(msg), "ignored: not a 3.4+ gateway online query".into());
            return Vec::new();
        }
        let (on, off): (Vec<_>, Vec<_>) = st.children.iter().partition(|c| c.online);
        let cids = |v: Vec<&crate::device::Child>| -> Vec<String> {
            v.into_iter().map(|c| c.cid.clone()).collect()
        };
        let body = serde_json::json!({
            "reqType": "subdev_online_stat_query",
            "data": {"online": cids(on), "offline": cids(off), "nearby": []}
        });
        drop(st);
        let seq = self.reply_seq(msg.seq);
        let body = serde_json::to_vec(&body).unwrap_or_default();
        vec![Message::reply(v, seq, Command::LanExtStream, body)]
    }

    /// STATUS frames reporting `dps` (two frames under `split_pushes`).
    fn pushes(&mut self, cid: Option<&str>, mut dps: Dps) -> Vec<Message> {
        let v = self.dev.version;
        let mut st = self.dev.state();
        let mut parts = Vec::with_capacity(2);
        if st.quirks.split_pushes && dps.len() >= 2 {
            let half = dps.len() / 2;
            let at = dps
                .keys()
                .nth(half)
                .copied()
                .unwrap_or(tuya_proto::DpId(u32::MAX));
            let second = dps.split_off(&at);
            parts.push(dps);
            parts.push(second);
        } else {
            parts.push(dps);
        }
        parts
            .into_iter()
            .map(|part| {
                let seq = if st.quirks.seq_zero_pushes {
                    0
                } else {
                    st.next_seq()
                };
                let body = payload::status(v, &self.dev.id, cid, &part, Some(now_secs()));
                let mut m = Message::reply(v, seq, Command::Status, body);
                if st.quirks.header_counter {
                    if let Some(h) = &mut m.header {
                        st.header_counter = st.header_counter.wrapping_add(1);
                        h[9] = 0xef;
                        h[10] = 0xb9;
                        h[11..15].copy_from_slice(&st.header_counter.to_be_bytes());
                    }
                }
                m
            })
            .collect()
    }

    async fn send(&mut self, stream: &mut TcpStream, msgs: Vec<Message>) -> Result<(), String> {
        // The frames of one reply (an ack and its STATUS push) go out in one write, as real
        // firmware sends them: two small writes would wait ~40 ms for the client's delayed ACK.
        let mut pending: Vec<u8> = Vec::new();
        for m in msgs {
            let faults = self.dev.state().faults.clone();
            if faults.drop_ratio > 0.0 && self.rng.gen::<f64>() < faults.drop_ratio {
                self.drop_note(Some(&m), "fault: reply dropped".into());
                continue;
            }
            if let Some(d) = faults.delay {
                // A delay applies between frames: what is ready goes first.
                write_bounded(stream, &mut pending).await?;
                tokio::time::sleep(d).await;
            }
            let mut frame = match self.codec.encode(&m) {
                Ok(f) => f,
                Err(e) => {
                    self.drop_note(Some(&m), format!("not sent: {e}"));
                    continue;
                }
            };
            if faults.bad_integrity && frame.len() > 8 {
                let at = frame.len() - 5; // last trailer byte, before the suffix
                frame[at] ^= 0x5a;
            }
            if faults.garbage {
                frame.splice(0..0, GARBAGE.iter().copied());
            }
            let (dev, peer) = (&self.dev, self.peer);
            dev.log(|| traffic::event(&dev.id, peer, Direction::Tx, Some(&m), None));
            pending.extend_from_slice(&frame);
        }
        write_bounded(stream, &mut pending).await
    }
}

/// Writes and empties `buf`, within [`WRITE_TIMEOUT`].
async fn write_bounded(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    if buf.is_empty() {
        return Ok(());
    }
    let r = tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(buf)).await;
    buf.clear();
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("write failed: {e}")),
        Err(_) => Err("client not reading: write timed out".into()),
    }
}
