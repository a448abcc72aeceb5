//! Protocol version detection: which versions to try, in which order, and what to say when
//! none answers (the one cause every version failed with, when they all failed the same way:
//! no version was wrong then). Each version is tried on a fresh connection in probe mode
//! ([`super::ConnectionConfig::probe`]); the driver closes each failed one (and waits for the
//! device to hang up: devices serve few clients) before the next.

use std::fmt::Display;

use super::ClientError;
use crate::Version;

/// How one version's attempt failed, as far as the verdict after the last one cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The device said it is busy (serving other clients), with its words.
    Busy(String),
    /// It accepted the connection, then neither answered nor hung up.
    Silent,
    /// Anything else.
    Other,
}

/// The order of versions to try, and the failures seen so far.
///
/// ```
/// use tuya_proto::client::{Attempt, VersionProbe};
/// use tuya_proto::Version;
/// let mut p = VersionProbe::new(Some(Version::V33));
/// assert_eq!(p.next_version(), Some(Version::V33));
/// p.failed(Version::V33, &"no answer", Attempt::Other);
/// assert_eq!(p.next_version(), Some(Version::V35));
/// ```
#[derive(Debug, Clone)]
pub struct VersionProbe {
    order: Vec<Version>,
    next: usize,
    tried: Vec<String>,
    failures: Vec<(Version, Attempt)>,
}

impl VersionProbe {
    /// A hint (from a discovery announcement) first, then 3.5, 3.4, 3.3 and 3.1: newer devices
    /// close connections on frames they cannot read, so the versions that negotiate go first.
    /// 3.2 devices answer as 3.3 (and are queried the device22 way).
    pub fn new(hint: Option<Version>) -> Self {
        let mut order: Vec<Version> = hint.into_iter().collect();
        for v in [Version::V35, Version::V34, Version::V33, Version::V31] {
            if !order.contains(&v) {
                order.push(v);
            }
        }
        Self {
            order,
            next: 0,
            tried: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// The next version to try; `None` when every one failed.
    pub fn next_version(&mut self) -> Option<Version> {
        let v = self.order.get(self.next).copied();
        self.next += 1;
        v
    }

    /// Records why `v` failed, and how.
    pub fn failed(&mut self, v: Version, why: &dyn Display, how: Attempt) {
        self.tried.push(format!("{v}: {why}"));
        self.failures.push((v, how));
    }

    /// Versions that failed so far.
    pub fn failures(&self) -> usize {
        self.tried.len()
    }

    /// The error once every version failed: busy when every one was told so, silent when
    /// every one went unanswered, otherwise what each version got.
    pub fn error(&self) -> ClientError {
        let all = |f: fn(&Attempt) -> bool| {
            !self.failures.is_empty() && self.failures.iter().all(|(_, a)| f(a))
        };
        if all(|a| matches!(a, Attempt::Busy(_))) {
            if let Some((_, Attempt::Busy(detail))) = self.failures.last() {
                return ClientError::Busy {
                    detail: detail.clone(),
                };
            }
        }
        if all(|a| *a == Attempt::Silent) {
            let tried: Vec<String> = self.failures.iter().map(|(v, _)| v.to_string()).collect();
            return ClientError::Silent {
                tried: tried.join(", "),
            };
        }
        ClientError::UnknownVersion(self.tried.join("; "))
    }
}
