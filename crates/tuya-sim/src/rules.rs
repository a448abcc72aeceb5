//! The rules of real firmware ([`Firmware`]) that a connection applies to each incoming frame
//! before handling it, and the nonce choice behind `zero_key_handshakes`.

use rand::rngs::StdRng;
use rand::Rng;
use tuya_proto::frame::peek_header;
use tuya_proto::session::derive_session_key;
use tuya_proto::{Error, LocalKey, Version};

use crate::spec::Firmware;

/// Tries at most this many device nonces for a 0x00-led key: 1 in 256 succeeds, so failing
/// 100,000 times has odds of about e^-390; the bound only keeps a bug from spinning.
const ZERO_KEY_TRIES: u32 = 100_000;

/// SESS_KEY_NEG_START and SESS_KEY_NEG_FINISH: the frames the SDK takes before a session key.
const NEG_START: u32 = 3;
const NEG_FINISH: u32 = 5;

/// What to do with one complete incoming frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Decode and answer it.
    Handle,
    /// Drop it unanswered, keeping the connection (the note says why).
    Ignore(String),
    /// Close the connection without answering (the reason is logged).
    Close(String),
}

/// Per-connection bookkeeping of the rules.
#[derive(Debug, Default)]
pub(crate) struct Screen {
    /// Sequence number of the previous frame (`strict_seq`).
    last_seq: Option<u32>,
    /// Frames received without a session key, handshake frames aside (`pre_session_limit`).
    pre_session: u32,
}

impl Screen {
    /// Applies `max_frame`, `strict_seq` and the pre-session rule to a complete frame, in that
    /// order (the SDK checks the length before reading the frame, the sequence before the
    /// payload). `awaits_key`: a 3.4/3.5 connection without a usable session key.
    pub fn check(&mut self, frame: &[u8], fw: &Firmware, awaits_key: bool) -> Verdict {
        if let Some(max) = fw.max_frame {
            if frame.len() > max as usize {
                return Verdict::Close(format!(
                    "firmware: {}-byte frame over max_frame {max}: closed",
                    frame.len()
                ));
            }
        }
        // The splitter only yields frames whose header it has read, so this is never None.
        let Ok(Some(h)) = peek_header(frame, usize::MAX) else {
            return Verdict::Handle;
        };
        if fw.strict_seq {
            if let Some(prev) = self.last_seq.filter(|&prev| h.seq <= prev) {
                return Verdict::Close(format!(
                    "firmware: seq {} not above the previous {prev}: closed",
                    h.seq
                ));
            }
            self.last_seq = Some(h.seq);
        }
        if awaits_key && h.cmd != NEG_START && h.cmd != NEG_FINISH {
            self.pre_session = self.pre_session.saturating_add(1);
            if let Some(limit) = fw.pre_session_limit {
                if self.pre_session > u32::from(limit) {
                    return Verdict::Close(format!(
                        "firmware: frame {} before a session key (pre_session_limit {limit}): closed",
                        self.pre_session
                    ));
                }
            }
            return Verdict::Ignore("ignored: no session key yet".into());
        }
        Verdict::Handle
    }
}

/// Whether a frame the splitter rejects closes the connection: one declaring more than
/// `max_frame` (known from its header, before the rest arrives), or any under
/// `close_on_bad_frame`. `None`: skip it and resynchronise, as before.
pub(crate) fn split_error_closes(e: &Error, fw: &Firmware) -> Option<String> {
    match (e, fw.max_frame) {
        (Error::TooLong { declared, .. }, Some(max)) if *declared > max as usize => Some(format!(
            "firmware: frame declaring {declared} bytes over max_frame {max}: closed"
        )),
        _ if fw.close_on_bad_frame => Some(format!("firmware: bad frame ({e}): closed")),
        _ => None,
    }
}

/// The splitter's length cap for a new connection: `max_frame` when set, so an oversized frame
/// is caught from its header; never above the simulator's own buffer bound.
pub(crate) fn splitter_cap(fw: &Firmware, own_cap: usize) -> usize {
    fw.max_frame.map_or(own_cap, |m| (m as usize).min(own_cap))
}

/// A device nonce that, with `client_nonce`, derives a session key whose first byte is 0x00.
pub(crate) fn zero_key_nonce(
    version: Version,
    key: &LocalKey,
    client_nonce: &[u8; 16],
    rng: &mut StdRng,
) -> Option<[u8; 16]> {
    (0..ZERO_KEY_TRIES).find_map(|_| {
        let nonce: [u8; 16] = rng.gen();
        derive_session_key(version, key, client_nonce, &nonce)
            .is_ok_and(|k| k.as_bytes()[0] == 0)
            .then_some(nonce)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use tuya_proto::{Codec, Command, Message, Role, SessionKey};

    fn frame(seq: u32, cmd: Command, body_len: usize) -> Vec<u8> {
        let mut c = Codec::new(
            Version::V34,
            LocalKey::new("0123456789abcdef").unwrap(),
            Role::Client,
        );
        c.set_session_key(SessionKey::from_bytes([7; 16]));
        c.encode(&Message::request(
            Version::V34,
            seq,
            cmd,
            vec![b'x'; body_len],
        ))
        .unwrap()
    }

    #[test]
    fn default_rules_handle_everything_but_pre_session_frames() {
        let fw = Firmware::default();
        let mut s = Screen::default();
        assert_eq!(
            s.check(&frame(5, Command::DpQuery, 9000), &fw, false),
            Verdict::Handle
        );
        assert_eq!(
            s.check(&frame(5, Command::DpQuery, 10), &fw, false),
            Verdict::Handle
        );
        for _ in 0..10 {
            assert!(matches!(
                s.check(&frame(1, Command::DpQuery, 10), &fw, true),
                Verdict::Ignore(_)
            ));
        }
        assert_eq!(
            s.check(&frame(1, Command::SessKeyNegStart, 16), &fw, true),
            Verdict::Handle
        );
    }

    #[test]
    fn strict_rules_close_on_length_order_and_pre_session_count() {
        let fw = Firmware::strict();
        let mut s = Screen::default();
        assert!(matches!(
            s.check(&frame(1, Command::DpQuery, 4100), &fw, false),
            Verdict::Close(_)
        ));
        assert_eq!(
            s.check(&frame(2, Command::DpQuery, 10), &fw, false),
            Verdict::Handle
        );
        assert!(matches!(
            s.check(&frame(2, Command::DpQuery, 10), &fw, false),
            Verdict::Close(_)
        ));
        let mut s = Screen::default();
        for seq in 1..=3 {
            assert!(matches!(
                s.check(&frame(seq, Command::DpQuery, 10), &fw, true),
                Verdict::Ignore(_)
            ));
        }
        assert_eq!(
            s.check(&frame(4, Command::SessKeyNegFinish, 32), &fw, true),
            Verdict::Handle,
            "handshake frames are not counted"
        );
        assert!(matches!(
            s.check(&frame(5, Command::DpQuery, 10), &fw, true),
            Verdict::Close(_)
        ));
    }

    #[test]
    fn oversized_declared_length_closes_only_under_max_frame() {
        let e = Error::TooLong {
            declared: 5000,
            limit: 4096,
        };
        assert!(split_error_closes(&e, &Firmware::strict()).is_some());
        assert!(split_error_closes(&e, &Firmware::default()).is_none());
        assert_eq!(splitter_cap(&Firmware::strict(), 16384), 4096);
        assert_eq!(splitter_cap(&Firmware::default(), 16384), 16384);
    }

    #[test]
    fn zero_key_nonce_derives_a_key_led_by_zero() {
        let key = LocalKey::new("0123456789abcdef").unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        for v in [Version::V34, Version::V35] {
            let cn = *b"client-nonce-016";
            let dn = zero_key_nonce(v, &key, &cn, &mut rng).expect("found");
            assert_eq!(
                derive_session_key(v, &key, &cn, &dn).unwrap().as_bytes()[0],
                0
            );
        }
    }
}
