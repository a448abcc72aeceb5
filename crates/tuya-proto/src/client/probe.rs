//! Protocol version detection: which versions to try, in which order, and what to say when
//! none answers. Each version is tried on a fresh connection in probe mode
//! ([`super::ConnectionConfig::probe`]); the driver closes each failed one (and waits for the
//! device to hang up: devices serve few clients) before the next.

use std::fmt::Display;

use super::ClientError;
use crate::Version;

/// The order of versions to try, and the failures seen so far.
///
/// ```
/// use tuya_proto::client::VersionProbe;
/// use tuya_proto::Version;
/// let mut p = VersionProbe::new(Some(Version::V33));
/// assert_eq!(p.next_version(), Some(Version::V33));
/// p.failed(Version::V33, &"no answer");
/// assert_eq!(p.next_version(), Some(Version::V35));
/// ```
#[derive(Debug, Clone)]
pub struct VersionProbe {
    order: Vec<Version>,
    next: usize,
    tried: Vec<String>,
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
        }
    }

    /// The next version to try; `None` when every one failed.
    pub fn next_version(&mut self) -> Option<Version> {
        let v = self.order.get(self.next).copied();
        self.next += 1;
        v
    }

    /// Records why `v` failed.
    pub fn failed(&mut self, v: Version, why: &dyn Display) {
        self.tried.push(format!("{v}: {why}"));
    }

    /// Versions that failed so far.
    pub fn failures(&self) -> usize {
        self.tried.len()
    }

    /// The error once every version failed.
    pub fn error(&self) -> ClientError {
        ClientError::UnknownVersion(self.tried.join("; "))
    }
}
