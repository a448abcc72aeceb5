//! 3.4/3.5 session negotiation on a connection, and the first read that makes it ready.

use super::{Connection, Phase};
use crate::client::ops::Task;
use crate::client::{ClientError, Event};
use crate::entropy::random_bytes;
use crate::session::ClientHandshake;
use crate::Message;

/// Handshakes in a row whose session key started with 0x00 before we give up (1 in 2^32).
const MAX_NEGOTIATIONS: u8 = 4;

impl Connection {
    pub(super) fn negotiate(&mut self) {
        let v = self.cfg.version;
        let Some(nonce) = self.codec_entropy() else {
            self.close_with(ClientError::Negotiation("no entropy source".into()));
            return;
        };
        let seq = self.next_seq();
        self.next_seq(); // SESS_KEY_NEG_FINISH goes out as seq + 1
        let hs = match ClientHandshake::new(v, self.cfg.key.clone(), nonce, seq) {
            Ok(h) => h,
            Err(e) => return self.close_with(ClientError::Negotiation(e.to_string())),
        };
        let mut hs = Box::new(hs);
        let start = hs.start();
        match self.send_msg(&start) {
            Ok(at) => {
                self.decode_error = None;
                self.phase = Phase::Negotiating {
                    hs,
                    deadline: at + self.cfg.request_timeout,
                };
            }
            Err(e) => self.close_with(e),
        }
    }

    fn codec_entropy(&mut self) -> Option<[u8; 16]> {
        self.codec.entropy().map(random_bytes)
    }

    pub(super) fn on_negotiation_reply(&mut self, m: &Message) {
        let Phase::Negotiating { hs, .. } = &mut self.phase else {
            return;
        };
        match hs.on_response(m) {
            Ok((finish, key)) => {
                if let Err(e) = self.send_msg(&finish) {
                    return self.close_with(e);
                }
                let zero = key.as_bytes()[0] == 0;
                self.codec.set_session_key(key);
                if zero {
                    // Firmware takes a key starting with 0x00 for "no key" and would ignore
                    // everything we send under it: negotiate again at once.
                    self.negotiations += 1;
                    if self.negotiations >= MAX_NEGOTIATIONS {
                        return self.close_with(ClientError::Negotiation(format!(
                            "{MAX_NEGOTIATIONS} session keys in a row started with 0x00"
                        )));
                    }
                    self.notice(
                        "the session key starts with 0x00, which firmware takes for no key: negotiating again".into(),
                    );
                    return self.negotiate();
                }
                self.events.push_back(Event::SessionEstablished);
                self.start_initial();
            }
            Err(e) => {
                let e = match e {
                    crate::Error::Negotiation(why) => ClientError::Negotiation(why.into()),
                    e => ClientError::from_decode(self.cfg.version, &e),
                };
                self.close_with(e);
            }
        }
    }

    pub(super) fn start_initial(&mut self) {
        self.phase = Phase::Starting;
        let session = self.cfg.version.uses_session_key();
        if self.cfg.gateway && (session || !self.cfg.probe) {
            // A gateway answers no cid-less query: the negotiation (or nothing) is the proof.
            return self.ready();
        }
        let mut task = Task::initial(self.cfg.probe);
        let step = task.start(self);
        self.run(task, step);
    }

    pub(super) fn ready(&mut self) {
        self.phase = Phase::Ready;
        self.heartbeat_at = self.now + self.cfg.heartbeat_interval;
        self.events.push_back(Event::Connected {
            version: self.cfg.version,
        });
        self.pump();
    }
}
