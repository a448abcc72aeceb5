//! Frames and time moving the request in flight: matching replies, missed replies, a task's
//! steps, its end, the queue, and the end of the connection.

use std::collections::VecDeque;
use std::time::Duration;

use super::{Connection, Phase};
use crate::client::exchange::{Matcher, Wait};
use crate::client::ops::{Purpose, Step, Task};
use crate::client::{ClientError, Event, MAX_MISSES};
use crate::{Message, Version};

impl Connection {
    pub(super) fn on_undecodable(&mut self, e: &crate::Error) {
        let e = ClientError::from_decode(self.cfg.version, e);
        self.events.push_back(Event::FrameDropped(e.clone()));
        if let Phase::Negotiating { .. } = self.phase {
            // A negotiation reply that does not verify with the local key.
            return self.close_with(e);
        }
        self.decode_error = Some(e);
    }

    /// A frame the splitter refused (declared too long, or its length and suffix disagree):
    /// nothing in it can be trusted, not even its command.
    pub(super) fn on_bad_frame(&mut self, e: crate::Error) {
        let e = ClientError::Undecodable { source: e };
        self.events.push_back(Event::FrameDropped(e.clone()));
        // A wrong key or version says more than the framing of one frame.
        self.decode_error.get_or_insert(e);
    }

    pub(super) fn on_message(&mut self, m: Message) {
        if let Phase::Negotiating { .. } = self.phase {
            if m.cmd == crate::Command::SessKeyNegResp {
                self.on_negotiation_reply(&m);
            }
            return;
        }
        if let Some(Wait::Reply { seq, matcher, .. }) = &self.wait {
            let (seq, matcher): (u32, Matcher) = (*seq, *matcher);
            if !self.stale.is_late(&m, seq) && matcher.accepts(&m, seq) {
                self.wait = None;
                if let Some(mut task) = self.task.take() {
                    let step = task.on_reply(self, m);
                    self.run(task, step);
                }
                return;
            }
        }
        self.unsolicited(m);
        if let Some(Wait::Pushes { cid, want, .. }) = &self.wait {
            let missing = self.mem.missing(cid.as_deref(), want);
            if missing.is_empty() {
                self.wait = None;
                if let Some(mut task) = self.task.take() {
                    let step = task.on_pushes(self, missing);
                    self.run(task, step);
                }
            }
        }
    }

    /// A reply did not come: a timeout for the request, or the end of the connection.
    pub(super) fn missed(&mut self, cmd: &'static str, wait: Duration) -> (ClientError, bool) {
        self.misses += 1;
        if let Some(e) = self.decode_error.take() {
            // A wrong key never heals; corrupt frames end the session once they cost two replies.
            let fatal = e.is_permanent() || self.misses >= MAX_MISSES;
            return (e, fatal);
        }
        let hint = if self.split.pending() >= 4 {
            // The splitter only keeps 4 bytes or more from a frame prefix on.
            " (the device sent the start of a frame and never the rest: a truncated frame)"
        } else if self.frames_in == 0 {
            " (the device never answered on this connection: wrong local key or protocol version?)"
        } else if self.cfg.version == Version::V31 && cmd == "CONTROL" {
            // 3.1 reads are plaintext: a wrong key only shows when a command is ignored.
            " (3.1 devices silently ignore commands encrypted with a wrong local key)"
        } else {
            ""
        };
        let e = ClientError::Timeout {
            cmd,
            millis: wait.as_millis() as u64,
            hint,
        };
        if self.misses >= MAX_MISSES {
            let e = ClientError::Unresponsive {
                misses: self.misses,
                last: Box::new(e),
            };
            (e, true)
        } else {
            (e, false)
        }
    }

    /// Carries a task through its steps until it waits or ends.
    pub(super) fn run(&mut self, mut task: Task, mut step: Step) {
        loop {
            step = match step {
                Step::Send {
                    cmd,
                    body,
                    wait,
                    matcher,
                } => {
                    let seq = self.next_seq();
                    let msg = Message::request(self.cfg.version, seq, cmd, body);
                    match self.send_msg(&msg) {
                        Ok(at) => {
                            self.decode_error = None;
                            self.wait = Some(Wait::Reply {
                                seq,
                                cmd,
                                matcher,
                                deadline: at + wait,
                                wait,
                            });
                            self.task = Some(task);
                            return;
                        }
                        Err(e) => task.on_fail(self, e, false),
                    }
                }
                Step::AwaitPushes { cid, want } => {
                    let missing = self.mem.missing(cid.as_deref(), &want);
                    if missing.is_empty() {
                        task.on_pushes(self, missing)
                    } else {
                        self.wait = Some(Wait::Pushes {
                            cid,
                            want,
                            deadline: self.now + self.cfg.push_wait,
                        });
                        self.task = Some(task);
                        return;
                    }
                }
                Step::Done(result) => return self.finish(task, result),
                Step::CloseConn(e) => {
                    self.task = Some(task);
                    return self.close_with(e);
                }
            }
        }
    }

    fn finish(&mut self, task: Task, result: Result<crate::client::Output, ClientError>) {
        self.heartbeat_at = self.now + self.cfg.heartbeat_interval;
        match task.purpose {
            Purpose::Caller(id, _) => self.events.push_back(Event::Reply { id, result }),
            Purpose::Heartbeat => {
                if result.is_err() {
                    self.events.push_back(Event::HeartbeatMissed {
                        misses: self.misses,
                    });
                }
            }
            Purpose::Initial => match result {
                Ok(_) => return self.ready(),
                Err(e) => match self.initial_failure(e) {
                    Some(e) => return self.close_with(e),
                    None => return self.ready(),
                },
            },
        }
        self.pump();
    }

    /// Whether a failed first read ends the connection (`Some`) or it is usable anyway.
    fn initial_failure(&self, e: ClientError) -> Option<ClientError> {
        if self.cfg.probe {
            // Probing 3.4/3.5, the negotiation proved key and version; ≤3.3 needs the read.
            return (!self.cfg.version.uses_session_key()).then_some(e);
        }
        // Replies that do not verify mean nothing this session says can be trusted; not a
        // single frame back means a wrong key (≤3.3 devices ignore what they cannot decrypt),
        // a wrong version, or not a Tuya device. A gateway refusing a cid-less query or a slow
        // device leave the session usable.
        let fatal =
            e.is_permanent() || matches!(e, ClientError::Corrupt { .. }) || self.frames_in == 0;
        fatal.then_some(e)
    }

    /// Starts the next queued request if nothing is in flight.
    pub(super) fn pump(&mut self) {
        while matches!(self.phase, Phase::Ready) && self.task.is_none() {
            self.expire_queue();
            let Some((id, req)) = self.queue.pop_front() else {
                self.queue = VecDeque::new();
                return;
            };
            let mut task = Task::caller(id, req);
            let step = task.start(self);
            self.run(task, step);
        }
    }

    pub(super) fn expire_queue(&mut self) {
        let now = self.now;
        let mut kept = VecDeque::with_capacity(self.queue.len());
        for (id, req) in self.queue.drain(..) {
            if req.deadline.is_some_and(|d| d <= now) {
                self.events.push_back(Event::Reply {
                    id,
                    result: Err(ClientError::Expired),
                });
            } else {
                kept.push_back((id, req));
            }
        }
        self.queue = kept;
    }

    pub(in crate::client) fn close_with(&mut self, e: ClientError) {
        if self.is_closed() {
            return;
        }
        let e = match e {
            // Dropped before the device said anything: another client holds it.
            ClientError::ConnectionLost(d) if self.frames_in == 0 => ClientError::Busy {
                detail: format!("{} right after connecting", ClientError::ConnectionLost(d)),
            },
            e => e,
        };
        self.phase = Phase::Closed;
        self.wait = None;
        // Nothing more goes out on a connection that is over.
        self.gated.clear();
        self.out.clear();
        if let Some(task) = self.task.take() {
            if let Purpose::Caller(id, req) = task.purpose {
                if req.op.idempotent() {
                    self.unfinished.push((id, req));
                } else {
                    let err = match &e {
                        ClientError::ConnectionLost(d) => ClientError::MaybeApplied(*d),
                        other => other.clone(),
                    };
                    self.events.push_back(Event::Reply {
                        id,
                        result: Err(err),
                    });
                }
            }
        }
        self.unfinished.extend(self.queue.drain(..));
        self.events.push_back(Event::Closed { reason: e });
    }
}
