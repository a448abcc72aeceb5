//! What each command does on a live session: reads, sets (with the multi-DP and device22
//! fallbacks), refreshes and raw commands, and how frames update the merged state.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::{timeout_at, Instant};
use tuya_proto::payload::{self, StatusUpdate, Target};
use tuya_proto::{Command, DpId, Dps, Message, Version};

use crate::config::DeviceConfig;
use crate::conn::{Fail, Session, R};
use crate::device::{Op, Output, RawReply};
use crate::error::Error;
use crate::event::Event;

/// DP ids asked for in a device22 query when none are known yet (kept short: some devices fail
/// on requests longer than ~255 bytes).
const DEFAULT_DEVICE22_DPS: std::ops::RangeInclusive<u32> = 1..=20;

pub(crate) fn target<'c>(
    cfg: &'c DeviceConfig,
    version: Version,
    cid: Option<&'c str>,
) -> Target<'c> {
    Target {
        version,
        dev_id: &cfg.id,
        cid,
        t: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
    }
}

/// A frame with a non-zero return code: the device's error text.
fn device_error(m: &Message) -> Option<String> {
    if m.retcode.unwrap_or(0) == 0 {
        return None;
    }
    let text = String::from_utf8_lossy(&m.payload).trim().to_string();
    Some(if text.is_empty() {
        format!("return code {}", m.retcode.unwrap_or(0))
    } else {
        text
    })
}

fn is_device22_refusal(text: &str) -> bool {
    text.contains("data unvalid") || text.contains("data format error")
}

impl Session<'_> {
    pub(crate) async fn execute(&mut self, op: &Op, cid: Option<&str>) -> R<Output> {
        match op {
            Op::Status => self.status(cid).await.map(Output::Dps),
            Op::Set(dps) => self.set(cid, dps).await.map(Output::Dps),
            Op::Refresh(ids) => self.refresh(ids).await.map(|_| Output::Done),
            Op::Raw(cmd, body) => self.raw(*cmd, body.clone()).await.map(Output::Raw),
        }
    }

    fn current(&self, cid: Option<&str>) -> Dps {
        let st = self.shared.lock();
        match cid {
            None => st.dps.clone(),
            Some(c) => st.children.get(c).cloned().unwrap_or_default(),
        }
    }

    /// Merges reported DPs into the state and emits the changes.
    pub(crate) async fn merge(&mut self, u: StatusUpdate, pushed: bool) {
        let changed: Dps = {
            let mut st = self.shared.lock();
            let cid = u.cid.clone();
            let map = match &cid {
                None => &mut st.dps,
                Some(c) => {
                    if !st.children.contains_key(c) && st.children.len() >= 256 {
                        return; // a gateway has far fewer children: do not grow without bound
                    }
                    st.children.entry(c.clone()).or_default()
                }
            };
            let mut changed = Dps::new();
            for (id, v) in u.dps {
                if map.get(&id) != Some(&v) {
                    if map.len() >= 255 && !map.contains_key(&id) {
                        continue; // DP ids are one byte in Tuya's model
                    }
                    map.insert(id, v.clone());
                    changed.insert(id, v);
                }
            }
            changed
        };
        if !changed.is_empty() {
            self.shared
                .emit(Event::Update {
                    cid: u.cid,
                    changed,
                    pushed,
                })
                .await;
        }
    }

    /// Handles a frame that is not the reply being waited for.
    pub(crate) async fn on_frame(&mut self, m: Message, pushed: bool) {
        if let Some(text) = device_error(&m) {
            self.shared
                .emit(Event::Error(format!(
                    "device said {text:?} ({})",
                    m.cmd.name()
                )))
                .await;
            return;
        }
        if let Some(u) = m.json().as_ref().and_then(StatusUpdate::parse) {
            self.merge(u, pushed).await;
        }
    }

    /// The connect-time read: fills the state so subscribers see the full state at once.
    pub(crate) async fn initial_query(&mut self) -> R<()> {
        if self.cfg.gateway {
            return Ok(());
        }
        self.status(None).await.map(|_| ())
    }

    /// Version detection for ≤3.3: the reply must decode and make sense.
    pub(crate) async fn probe_query(&mut self) -> R<()> {
        let wait = self
            .cfg
            .request_timeout
            .min(std::time::Duration::from_millis(2000));
        let t = target(self.cfg, self.version, None);
        let (cmd, body) = payload::query(&t);
        let m = self
            .request(cmd, body, wait, |m, seq| {
                m.cmd == cmd || (m.cmd == Command::Status && m.seq == seq)
            })
            .await?;
        if let Some(text) = device_error(&m) {
            if is_device22_refusal(&text) && !self.cfg.gateway {
                self.set_device22(&text).await;
                return self.query22().await.map(|_| ());
            }
            return Err(Fail::Req(Error::Device(text)));
        }
        let status = m.json().as_ref().and_then(StatusUpdate::parse);
        if status.is_some() && m.plaintext && self.version != Version::V31 {
            // 3.2+ devices encrypt every status reply; a plaintext one comes from a 3.1 device.
            return Err(Fail::Req(Error::WrongVersion {
                tried: self.version,
                detail: "the status reply is plaintext, as 3.1 devices send it".into(),
            }));
        }
        match status {
            Some(u) => {
                self.merge(u, false).await;
                Ok(())
            }
            None => Err(Fail::Req(Error::WrongVersion {
                tried: self.version,
                detail: "the status reply is not JSON".into(),
            })),
        }
    }

    async fn set_device22(&mut self, why: &str) {
        self.shared.lock().device22 = true;
        self.shared
            .emit(Event::Notice(format!(
                "device refused a status query ({why}); querying it the device22 way"
            )))
            .await;
    }

    async fn status(&mut self, cid: Option<&str>) -> R<Dps> {
        if cid.is_none() && self.shared.lock().device22 {
            return self.query22().await;
        }
        let t = target(self.cfg, self.version, cid);
        let (cmd, body) = payload::query(&t);
        let m = self
            .request(cmd, body, self.cfg.request_timeout, |m, seq| {
                // Some firmware answers a query with a STATUS frame: only ours if it echoes seq.
                m.cmd == cmd || (m.cmd == Command::Status && m.seq == seq)
            })
            .await?;
        if let Some(text) = device_error(&m) {
            if cid.is_none() && !self.cfg.gateway && is_device22_refusal(&text) {
                self.set_device22(&text).await;
                return self.query22().await;
            }
            return Err(Fail::Req(Error::Device(text)));
        }
        if let Some(mut u) = m.json().as_ref().and_then(StatusUpdate::parse) {
            if u.cid.is_none() {
                u.cid = cid.map(str::to_string);
            }
            self.merge(u, false).await;
        }
        Ok(self.current(cid))
    }

    /// device22: CONTROL_NEW naming known DPs with null values; the answer may come after an
    /// empty CONTROL_NEW ack, as CONTROL_NEW or STATUS.
    async fn query22(&mut self) -> R<Dps> {
        let mut ids: Vec<DpId> = self.cfg.known_dps.clone();
        ids.extend(self.shared.lock().dps.keys().copied());
        if ids.is_empty() {
            ids.extend(DEFAULT_DEVICE22_DPS.map(DpId));
        }
        ids.sort();
        ids.dedup();
        let t = target(self.cfg, self.version, None);
        let (cmd, body) = payload::query_device22(&t, &ids);
        let m = self
            .request(cmd, body, self.cfg.request_timeout, |m, _| {
                (m.cmd == Command::ControlNew || m.cmd == Command::Status)
                    && (device_error(m).is_some()
                        || m.json().as_ref().and_then(StatusUpdate::parse).is_some())
            })
            .await?;
        if let Some(text) = device_error(&m) {
            return Err(Fail::Req(Error::Device(text)));
        }
        if let Some(u) = m.json().as_ref().and_then(StatusUpdate::parse) {
            self.merge(u, false).await;
        }
        Ok(self.current(None))
    }

    /// One CONTROL and its acknowledgement.
    async fn control(&mut self, cid: Option<&str>, dps: &Dps) -> R<()> {
        let t = target(self.cfg, self.version, cid);
        let (cmd, body) = payload::control(&t, dps);
        let m = self
            .request(cmd, body, self.cfg.request_timeout, |m, _| {
                matches!(m.cmd, Command::Control | Command::ControlNew)
            })
            .await?;
        match device_error(&m) {
            Some(text) => Err(Fail::Req(Error::Device(text))),
            None => {
                // An ack carrying the DPs (some firmware) counts as a report.
                if let Some(u) = m.json().as_ref().and_then(StatusUpdate::parse) {
                    self.merge(u, true).await;
                }
                Ok(())
            }
        }
    }

    /// Waits (bounded by `push_wait`) until pushes report every DP of `want`; returns the DPs
    /// not (yet) reported with the requested value.
    async fn await_pushes(&mut self, cid: Option<&str>, want: &Dps) -> R<Dps> {
        let deadline = Instant::now() + self.cfg.push_wait;
        loop {
            let cur = self.current(cid);
            let missing: Dps = want
                .iter()
                .filter(|(k, v)| cur.get(k) != Some(v))
                .map(|(k, v)| (*k, v.clone()))
                .collect();
            if missing.is_empty() {
                return Ok(missing);
            }
            match timeout_at(deadline, self.recv()).await {
                Err(_) => return Ok(missing),
                Ok(Err(e)) => return Err(Fail::Conn(e)),
                Ok(Ok(None)) => {}
                Ok(Ok(Some(m))) => self.on_frame(m, true).await,
            }
        }
    }

    async fn set(&mut self, cid: Option<&str>, dps: &Dps) -> R<Dps> {
        if dps.len() > 1 && self.shared.lock().single_dp {
            return self.set_each(cid, dps).await;
        }
        match self.control(cid, dps).await {
            Ok(()) => {}
            Err(Fail::Req(Error::Device(text))) if dps.len() > 1 => {
                self.go_single(&format!("it refused a multi-DP set ({text})"))
                    .await;
                return self.set_each(cid, dps).await;
            }
            Err(e) => return Err(e),
        }
        let missing = self.await_pushes(cid, dps).await?;
        if missing.is_empty() {
            return Ok(self.current(cid));
        }
        if dps.len() > 1 {
            // Acknowledged but maybe half applied: read back before trusting the ack.
            self.status(cid).await?;
            let cur = self.current(cid);
            let unapplied: Dps = missing
                .into_iter()
                .filter(|(k, v)| cur.get(k) != Some(v))
                .collect();
            if !unapplied.is_empty() {
                self.go_single("it acknowledged a multi-DP set but did not apply all of it")
                    .await;
                return self.set_each(cid, &unapplied).await;
            }
            return Ok(cur);
        }
        self.trust_ack(cid, missing).await;
        Ok(self.current(cid))
    }

    /// DPs acknowledged without a push (e.g. the value did not change): take them as set.
    async fn trust_ack(&mut self, cid: Option<&str>, dps: Dps) {
        if dps.is_empty() {
            return;
        }
        self.merge(
            StatusUpdate {
                dps,
                cid: cid.map(str::to_string),
                ..Default::default()
            },
            false,
        )
        .await;
    }

    async fn go_single(&mut self, why: &str) {
        tracing::warn!(device = %self.cfg.id, "{why}; sending DPs one at a time");
        self.shared.lock().single_dp = true;
        self.shared
            .emit(Event::Notice(format!(
                "{why}; sending DPs one at a time from now on"
            )))
            .await;
    }

    async fn set_each(&mut self, cid: Option<&str>, dps: &Dps) -> R<Dps> {
        for (k, v) in dps {
            let one: Dps = [(*k, v.clone())].into_iter().collect();
            self.control(cid, &one).await?;
            let missing = self.await_pushes(cid, &one).await?;
            self.trust_ack(cid, missing).await;
        }
        Ok(self.current(cid))
    }

    async fn refresh(&mut self, ids: &[DpId]) -> R<()> {
        let (cmd, body) = payload::refresh(ids);
        let m = self
            .request(cmd, body, self.cfg.request_timeout, |m, _| {
                m.cmd == Command::UpdateDps || m.cmd == Command::Status
            })
            .await?;
        if let Some(text) = device_error(&m) {
            return Err(Fail::Req(Error::Device(text)));
        }
        self.on_frame(m, true).await;
        Ok(())
    }

    async fn raw(&mut self, cmd: Command, body: Vec<u8>) -> R<RawReply> {
        let m = self
            .request(cmd, body, self.cfg.request_timeout, |m, _| m.cmd == cmd)
            .await?;
        Ok(RawReply {
            cmd: m.cmd,
            seq: m.seq,
            retcode: m.retcode,
            payload: m.payload,
        })
    }
}
