//! Protocol version auto-detection: a discovery hint first, then 3.5, 3.4, 3.3 and 3.1, each
//! on a fresh connection, closed (and the device's hang-up awaited) before the next.

use crate::config::DeviceConfig;
use crate::conn::{Fail, Session};
use crate::device::Shared;
use crate::error::{Error, Result};
use crate::event::Event;
use tuya_proto::Version;

impl<'a> Session<'a> {
    /// Connects with the configured or detected version.
    pub(crate) async fn open(cfg: &'a DeviceConfig, shared: &'a Shared) -> Result<Session<'a>> {
        let known = shared.lock().version;
        if let Some(v) = known {
            return Self::connect_and_query(cfg, shared, v).await;
        }
        let mut order: Vec<Version> = cfg.version_hint.into_iter().collect();
        for v in [Version::V35, Version::V34, Version::V33, Version::V31] {
            if !order.contains(&v) {
                order.push(v);
            }
        }
        let mut tried = Vec::new();
        for v in order {
            match Self::probe(cfg, shared, v).await {
                Ok(s) => {
                    shared
                        .emit(Event::Notice(format!("detected protocol version {v}")))
                        .await;
                    return Ok(s);
                }
                // Nothing to learn from other versions when the device is unreachable.
                Err(e) if tried.is_empty() && unreachable(&e) => return Err(e),
                Err(e) => tried.push(format!("{v}: {e}")),
            }
        }
        Err(Error::UnknownVersion(format!(
            "no version answered ({})",
            tried.join("; ")
        )))
    }

    /// Tries one version: a completed negotiation (3.4/3.5) or a decodable status (≤3.3).
    async fn probe(cfg: &'a DeviceConfig, shared: &'a Shared, v: Version) -> Result<Session<'a>> {
        let mut s = Self::connect(cfg, shared, v).await?;
        let r = if v.uses_session_key() {
            match s.initial_query().await {
                Err(Fail::Conn(e)) => Err(e),
                _ => Ok(()),
            }
        } else {
            s.probe_query()
                .await
                .map_err(|(Fail::Req(e) | Fail::Conn(e))| e)
        };
        match r {
            Ok(()) => Ok(s),
            Err(e) => {
                let e = s.busy_if_silent(e);
                s.close().await;
                Err(e)
            }
        }
    }
}

/// The TCP connection itself failed: no other version will do better.
fn unreachable(e: &Error) -> bool {
    match e {
        Error::Offline(_) => true,
        Error::Busy(d) => d.contains(REFUSED),
        _ => false,
    }
}

pub(crate) const REFUSED: &str = "refused the connection";
