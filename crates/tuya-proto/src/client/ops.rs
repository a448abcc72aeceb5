//! What each request does on a live connection, as steps: reads (with the device22 fallback),
//! sets (multi-DP, read-back, one DP at a time, split when too large), refreshes, raw commands
//! and heartbeats.

use std::time::Duration;

use super::connection::Connection;
use super::exchange::{device_error, is_device22_refusal, status_of, Matcher};
use super::{ClientError, Fallback, Op, Output, RawReply, Request, RequestId};
use crate::payload::{self, StatusUpdate};
use crate::{Command, DpId, Dps, Message, Version};

/// DP ids asked for in a device22 query when none are known yet (kept short: some devices fail
/// on requests longer than ~255 bytes).
const DEFAULT_DEVICE22_DPS: std::ops::RangeInclusive<u32> = 1..=20;
/// Probing a version waits less than a normal request: a wrong version is usually silent.
const PROBE_WAIT: Duration = Duration::from_secs(2);

/// What an operation wants next.
pub(crate) enum Step {
    /// Send a request and wait for the frame `matcher` accepts.
    Send {
        cmd: Command,
        body: Vec<u8>,
        wait: Duration,
        matcher: Matcher,
    },
    /// Wait (bounded by `push_wait`) until pushes report `want`.
    AwaitPushes { cid: Option<String>, want: Dps },
    /// The operation is over.
    Done(Result<Output, ClientError>),
    /// The connection is unusable.
    CloseConn(ClientError),
}

/// Who an operation's result is for.
pub(crate) enum Purpose {
    /// A caller's request (kept whole so a read can be resubmitted after a reconnect).
    Caller(RequestId, Request),
    /// The connect-time read that proves key and version.
    Initial,
    /// A heartbeat on an idle connection.
    Heartbeat,
}

/// An operation in flight.
pub(crate) struct Task {
    pub purpose: Purpose,
    op: TaskOp,
}

enum TaskOp {
    Status(Query),
    Set(SetOp),
    Refresh(Vec<DpId>),
    Raw(Command, Vec<u8>),
    Heartbeat,
}

impl Task {
    pub fn caller(id: RequestId, req: Request) -> Self {
        let cid = req.cid.clone();
        let op = match &req.op {
            Op::Status => TaskOp::Status(Query::new(cid, false)),
            Op::Set(dps) => TaskOp::Set(SetOp {
                cid,
                dps: dps.clone(),
                stage: SetStage::Multi,
            }),
            Op::Refresh(ids) => TaskOp::Refresh(ids.clone()),
            Op::Raw(cmd, body) => TaskOp::Raw(*cmd, body.clone()),
        };
        Task {
            purpose: Purpose::Caller(id, req),
            op,
        }
    }

    pub fn initial(probe: bool) -> Self {
        Task {
            purpose: Purpose::Initial,
            op: TaskOp::Status(Query::new(None, probe)),
        }
    }

    pub fn heartbeat() -> Self {
        Task {
            purpose: Purpose::Heartbeat,
            op: TaskOp::Heartbeat,
        }
    }

    pub fn start(&mut self, c: &mut Connection) -> Step {
        let rt = c.cfg.request_timeout;
        match &mut self.op {
            TaskOp::Status(q) => q.start(c),
            TaskOp::Set(s) => s.start(c),
            TaskOp::Refresh(ids) => {
                let (cmd, body) = payload::refresh(ids);
                send(cmd, body, rt, Matcher::Refresh)
            }
            TaskOp::Raw(cmd, body) => send(*cmd, std::mem::take(body), rt, Matcher::Raw(*cmd)),
            TaskOp::Heartbeat => {
                let (cmd, body) = payload::heartbeat(&c.target(None));
                let wait = rt.min(c.cfg.heartbeat_interval);
                send(cmd, body, wait, Matcher::Heartbeat)
            }
        }
    }

    pub fn on_reply(&mut self, c: &mut Connection, m: Message) -> Step {
        match &mut self.op {
            TaskOp::Status(q) => match q.on_reply(c, &m) {
                Ok(Some(step)) => step,
                Ok(None) => Step::Done(Ok(Output::Dps(c.mem.dps_of(q.cid.as_deref())))),
                Err(e) => Step::Done(Err(e)),
            },
            TaskOp::Set(s) => s.on_reply(c, &m),
            TaskOp::Refresh(_) => {
                if let Some(text) = device_error(&m) {
                    return Step::Done(Err(ClientError::Device(text)));
                }
                c.unsolicited(m);
                Step::Done(Ok(Output::Done))
            }
            TaskOp::Raw(..) => Step::Done(Ok(Output::Raw(RawReply {
                cmd: m.cmd,
                seq: m.seq,
                retcode: m.retcode,
                payload: m.payload,
            }))),
            TaskOp::Heartbeat => Step::Done(Ok(Output::Done)),
        }
    }

    /// Pushes reported what was waited for (`missing` empty) or the wait ran out.
    pub fn on_pushes(&mut self, c: &mut Connection, missing: Dps) -> Step {
        match &mut self.op {
            TaskOp::Set(s) => s.on_pushes(c, missing),
            _ => Step::Done(Ok(Output::Done)),
        }
    }

    /// A request failed: `fatal` when the connection is unusable too.
    pub fn on_fail(&mut self, c: &mut Connection, e: ClientError, fatal: bool) -> Step {
        if fatal {
            return Step::CloseConn(e);
        }
        if let TaskOp::Set(s) = &mut self.op {
            if let Some(step) = s.on_fail(c, &e) {
                return step;
            }
        }
        Step::Done(Err(e))
    }
}

fn send(cmd: Command, body: Vec<u8>, wait: Duration, matcher: Matcher) -> Step {
    Step::Send {
        cmd,
        body,
        wait,
        matcher,
    }
}

/// A status read, switching to the device22 form when the device asks for it.
struct Query {
    cid: Option<String>,
    device22: bool,
    /// Version detection: the reply must prove the version.
    probing: bool,
}

impl Query {
    fn new(cid: Option<String>, probing: bool) -> Self {
        Query {
            cid,
            device22: false,
            probing,
        }
    }

    fn start(&mut self, c: &mut Connection) -> Step {
        if self.cid.is_none() && c.mem.device22 {
            self.device22 = true;
            return query22(c);
        }
        let (cmd, body) = payload::query(&c.target(self.cid.as_deref()));
        let wait = if self.probing {
            c.cfg.request_timeout.min(PROBE_WAIT)
        } else {
            c.cfg.request_timeout
        };
        send(cmd, body, wait, Matcher::Query(cmd))
    }

    /// `Ok(None)`: the state is merged and the read is over; `Ok(Some)`: it goes on.
    fn on_reply(&mut self, c: &mut Connection, m: &Message) -> Result<Option<Step>, ClientError> {
        if let Some(text) = device_error(m) {
            if !self.device22 && self.cid.is_none() && !c.cfg.gateway && is_device22_refusal(&text)
            {
                c.learn(
                    Fallback::Device22,
                    format!("device refused a status query ({text}); querying it the device22 way"),
                );
                self.device22 = true;
                return Ok(Some(query22(c)));
            }
            if self.probing && c.cfg.gateway {
                // A gateway refusing a cid-less query still answered a frame of this version.
                return Ok(None);
            }
            return Err(ClientError::Device(text));
        }
        let status = status_of(m);
        if self.probing && !self.device22 {
            let v = c.cfg.version;
            if status.is_some() && m.plaintext && v != Version::V31 {
                // 3.2+ devices encrypt every status reply; a plaintext one comes from 3.1.
                return Err(ClientError::WrongVersion {
                    tried: v,
                    detail: "the status reply is plaintext, as 3.1 devices send it".into(),
                });
            }
            if status.is_none() {
                return Err(ClientError::WrongVersion {
                    tried: v,
                    detail: "the status reply is not JSON".into(),
                });
            }
        }
        if let Some(mut u) = status {
            if u.cid.is_none() {
                u.cid = self.cid.clone();
            }
            c.merge(u, false);
        }
        Ok(None)
    }
}

/// device22: CONTROL_NEW naming known DPs with null values; the answer may come after an empty
/// CONTROL_NEW ack, as CONTROL_NEW or STATUS.
fn query22(c: &Connection) -> Step {
    let mut ids: Vec<DpId> = c.cfg.known_dps.clone();
    ids.extend(c.mem.dps.keys().copied());
    if ids.is_empty() {
        ids.extend(DEFAULT_DEVICE22_DPS.map(DpId));
    }
    ids.sort();
    ids.dedup();
    let (cmd, body) = payload::query_device22(&c.target(None), &ids);
    send(cmd, body, c.cfg.request_timeout, Matcher::Device22)
}

struct SetOp {
    cid: Option<String>,
    dps: Dps,
    stage: SetStage,
}

enum SetStage {
    /// One CONTROL with every DP, waiting for its ack.
    Multi,
    /// Acked: waiting for the pushes.
    MultiPushes,
    /// Acked but not all pushed: reading back before trusting the ack.
    ReadBack { missing: Dps, query: Query },
    /// One DP per CONTROL: `cur` is in flight, `todo` waits.
    Each { todo: Dps, cur: Dps },
}

impl SetOp {
    fn current(&self, c: &Connection) -> Step {
        Step::Done(Ok(Output::Dps(c.mem.dps_of(self.cid.as_deref()))))
    }

    fn control(&self, c: &Connection, dps: &Dps) -> Step {
        let (cmd, body) = payload::control(&c.target(self.cid.as_deref()), dps);
        send(cmd, body, c.cfg.request_timeout, Matcher::Control)
    }

    fn start(&mut self, c: &mut Connection) -> Step {
        if self.dps.len() > 1 && c.mem.single_dp {
            return self.one_at_a_time(c, self.dps.clone());
        }
        self.stage = SetStage::Multi;
        self.control(c, &self.dps)
    }

    fn one_at_a_time(&mut self, c: &mut Connection, todo: Dps) -> Step {
        self.stage = SetStage::Each {
            todo,
            cur: Dps::new(),
        };
        self.next_each(c)
    }

    fn next_each(&mut self, c: &mut Connection) -> Step {
        let SetStage::Each { todo, cur } = &mut self.stage else {
            return self.current(c);
        };
        match todo.pop_first() {
            None => self.current(c),
            Some((k, v)) => {
                *cur = [(k, v)].into_iter().collect();
                let one = cur.clone();
                self.control(c, &one)
            }
        }
    }

    /// An ack carrying the DPs (some firmware) counts as a report.
    fn ack_report(&self, c: &mut Connection, m: &Message) {
        if let Some(mut u) = status_of(m) {
            if u.cid.is_none() {
                u.cid = self.cid.clone();
            }
            c.merge(u, true);
        }
    }

    /// DPs acknowledged without a push (e.g. the value did not change): taken as set.
    fn trust_ack(&self, c: &mut Connection, dps: Dps) {
        if !dps.is_empty() {
            let u = StatusUpdate {
                dps,
                cid: self.cid.clone(),
                ..Default::default()
            };
            c.merge(u, false);
        }
    }

    fn on_reply(&mut self, c: &mut Connection, m: &Message) -> Step {
        match &mut self.stage {
            SetStage::Multi => {
                if let Some(text) = device_error(m) {
                    if self.dps.len() > 1 {
                        c.learn(
                            Fallback::SingleDp,
                            format!("it refused a multi-DP set ({text}); sending DPs one at a time from now on"),
                        );
                        return self.one_at_a_time(c, self.dps.clone());
                    }
                    return Step::Done(Err(ClientError::Device(text)));
                }
                self.ack_report(c, m);
                self.stage = SetStage::MultiPushes;
                Step::AwaitPushes {
                    cid: self.cid.clone(),
                    want: self.dps.clone(),
                }
            }
            SetStage::ReadBack { missing, query } => match query.on_reply(c, m) {
                Ok(Some(step)) => step,
                Err(e) => Step::Done(Err(e)),
                Ok(None) => {
                    let unapplied = c.mem.missing(self.cid.as_deref(), missing);
                    if unapplied.is_empty() {
                        return self.current(c);
                    }
                    c.learn(
                        Fallback::SingleDp,
                        "it acknowledged a multi-DP set but did not apply all of it; sending DPs one at a time from now on".into(),
                    );
                    self.one_at_a_time(c, unapplied)
                }
            },
            SetStage::Each { cur, .. } => {
                if let Some(text) = device_error(m) {
                    return Step::Done(Err(ClientError::Device(text)));
                }
                let want = cur.clone();
                self.ack_report(c, m);
                Step::AwaitPushes {
                    cid: self.cid.clone(),
                    want,
                }
            }
            SetStage::MultiPushes => self.current(c),
        }
    }

    fn on_pushes(&mut self, c: &mut Connection, missing: Dps) -> Step {
        match &self.stage {
            SetStage::MultiPushes if missing.is_empty() => self.current(c),
            SetStage::MultiPushes if self.dps.len() > 1 => {
                let mut query = Query::new(self.cid.clone(), false);
                let step = query.start(c);
                self.stage = SetStage::ReadBack { missing, query };
                step
            }
            SetStage::MultiPushes => {
                self.trust_ack(c, missing);
                self.current(c)
            }
            SetStage::Each { .. } => {
                self.trust_ack(c, missing);
                self.next_each(c)
            }
            _ => self.current(c),
        }
    }

    fn on_fail(&mut self, c: &mut Connection, e: &ClientError) -> Option<Step> {
        // A set too large for one frame is split, without marking the device single-DP.
        if matches!(
            (e, &self.stage),
            (ClientError::TooLarge { .. }, SetStage::Multi)
        ) && self.dps.len() > 1
        {
            c.notice(format!("{e}: sending its DPs one at a time"));
            return Some(self.one_at_a_time(c, self.dps.clone()));
        }
        None
    }
}
