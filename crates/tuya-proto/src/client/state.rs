//! The device's DP state as reported to us: replies and pushes merged, bounded.
//!
//! A device (or anything answering on its address) chooses what it reports: the state kept for
//! it is capped so a hostile or broken one cannot grow the client's memory without bound. Each
//! cap is far above what real firmware reports; what goes over is ignored, and said once per
//! kind per connection ([`super::Event::Ignored`]).

use std::fmt;

use crate::payload::StatusUpdate;
use crate::{DpId, DpValue, Dps};

use super::Memory;

/// Most DPs kept for the device itself, and for each gateway child. Tuya's model numbers DPs
/// with one byte; reports of new ids past this are ignored.
pub const MAX_DPS: usize = 255;
/// Most gateway children kept. Real gateways pair a few dozen (Tuya's Zigbee gateways at most
/// 128); reports about new children past this are ignored.
pub const MAX_CHILDREN: usize = 1024;
/// Longest value kept, in bytes (a string, raw bytes, or the JSON text of anything else): twice
/// the largest frame real firmware sends. A longer value is ignored, the DP keeps its last one.
pub const MAX_VALUE_LEN: usize = 8 * 1024;
/// The budget of one connection's whole state (the device and every child), in bytes of values
/// plus a fixed cost per DP and per child: new or longer values past it are ignored.
pub const MAX_STATE_BYTES: usize = 1024 * 1024;

/// What one DP entry costs besides its value's bytes (the map node, the enum).
const DP_COST: usize = 48;
/// What one child costs besides its cid (its map and node).
const CHILD_COST: usize = 64;

/// Part of a device's report that was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ignored {
    /// A new DP id past [`MAX_DPS`] for the device or one child.
    TooManyDps {
        /// The child concerned (`None`: the device itself).
        cid: Option<String>,
        /// The first DP ignored.
        dp: DpId,
    },
    /// A new child past [`MAX_CHILDREN`].
    TooManyChildren {
        /// The first child ignored.
        cid: String,
    },
    /// A value longer than [`MAX_VALUE_LEN`].
    ValueTooLong {
        /// The child concerned (`None`: the device itself).
        cid: Option<String>,
        /// The DP.
        dp: DpId,
        /// The value's length in bytes.
        len: usize,
    },
    /// A value that would take the state past [`MAX_STATE_BYTES`].
    StateFull {
        /// The child concerned (`None`: the device itself).
        cid: Option<String>,
        /// The first DP ignored.
        dp: DpId,
    },
    /// `dps` keys that are not DP ids (not numbers, or beyond `u32`: never truncated into the
    /// id of another DP).
    NotDpIds {
        /// The keys, as sent (the first few).
        keys: Vec<String>,
    },
}

impl Ignored {
    /// One bit per kind, for "said once per connection".
    pub(crate) fn kind_bit(&self) -> u8 {
        match self {
            Ignored::TooManyDps { .. } => 1,
            Ignored::TooManyChildren { .. } => 2,
            Ignored::ValueTooLong { .. } => 4,
            Ignored::StateFull { .. } => 8,
            Ignored::NotDpIds { .. } => 16,
        }
    }
}

fn of(cid: &Option<String>) -> String {
    cid.as_ref()
        .map(|c| format!(" of child {c:?}"))
        .unwrap_or_default()
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ignored::TooManyDps { cid, dp } => write!(
                f,
                "DP {dp}{}: the device reports more than {MAX_DPS} DPs; new ones are ignored",
                of(cid)
            ),
            Ignored::TooManyChildren { cid } => write!(
                f,
                "child {cid:?}: the gateway reports more than {MAX_CHILDREN} children; new ones are ignored"
            ),
            Ignored::ValueTooLong { cid, dp, len } => write!(
                f,
                "DP {dp}{}: a value of {len} bytes, over the limit of {MAX_VALUE_LEN}; the DP keeps its last value",
                of(cid)
            ),
            Ignored::StateFull { cid, dp } => write!(
                f,
                "DP {dp}{}: the device's DPs together exceed {MAX_STATE_BYTES} bytes; new and longer values are ignored",
                of(cid)
            ),
            Ignored::NotDpIds { keys } => write!(
                f,
                "DP keys {keys:?}: not DP ids (whole numbers from 0 to 4294967295); ignored"
            ),
        }
    }
}

/// A value's bytes as counted against [`MAX_VALUE_LEN`] and [`MAX_STATE_BYTES`].
fn value_len(v: &DpValue) -> usize {
    match v {
        DpValue::Bool(_) | DpValue::Integer(_) => 0,
        DpValue::String(s) => s.len(),
        DpValue::Raw(r) => r.len(),
        DpValue::Json(j) => j.to_string().len(),
    }
}

/// The bytes `memory` holds, as counted against [`MAX_STATE_BYTES`].
pub(crate) fn state_bytes(m: &Memory) -> usize {
    let dps = |d: &Dps| d.values().map(|v| value_len(v) + DP_COST).sum::<usize>();
    dps(&m.dps)
        + m.children
            .iter()
            .map(|(c, d)| c.len() + CHILD_COST + dps(d))
            .sum::<usize>()
}

impl Memory {
    /// The last known DPs of the device (`None`) or of a child.
    pub fn dps_of(&self, cid: Option<&str>) -> Dps {
        match cid {
            None => self.dps.clone(),
            Some(c) => self.children.get(c).cloned().unwrap_or_default(),
        }
    }

    /// Merges reported DPs within the bounds; returns those whose value changed, and what was
    /// ignored (at most one of each kind). `bytes` is the running [`state_bytes`].
    pub(crate) fn merge(&mut self, u: &StatusUpdate, bytes: &mut usize) -> (Dps, Vec<Ignored>) {
        let mut ignored: Vec<Ignored> = Vec::new();
        let mut note = |i: Ignored| {
            if !ignored.iter().any(|x| x.kind_bit() == i.kind_bit()) {
                ignored.push(i);
            }
        };
        if !u.ignored.is_empty() {
            note(Ignored::NotDpIds {
                keys: u.ignored.iter().take(4).cloned().collect(),
            });
        }
        let map = match &u.cid {
            None => &mut self.dps,
            Some(c) => {
                if !self.children.contains_key(c) {
                    if self.children.len() >= MAX_CHILDREN {
                        note(Ignored::TooManyChildren { cid: c.clone() });
                        return (Dps::new(), ignored);
                    }
                    if *bytes + c.len() + CHILD_COST > MAX_STATE_BYTES {
                        if let Some(dp) = u.dps.keys().next() {
                            note(Ignored::StateFull {
                                cid: u.cid.clone(),
                                dp: *dp,
                            });
                        }
                        return (Dps::new(), ignored);
                    }
                    *bytes += c.len() + CHILD_COST;
                }
                self.children.entry(c.clone()).or_default()
            }
        };
        let mut changed = Dps::new();
        for (id, v) in &u.dps {
            let old = map.get(id);
            if old == Some(v) {
                continue;
            }
            if old.is_none() && map.len() >= MAX_DPS {
                note(Ignored::TooManyDps {
                    cid: u.cid.clone(),
                    dp: *id,
                });
                continue;
            }
            let len = value_len(v);
            if len > MAX_VALUE_LEN {
                note(Ignored::ValueTooLong {
                    cid: u.cid.clone(),
                    dp: *id,
                    len,
                });
                continue;
            }
            let freed = old.map_or(0, |o| value_len(o) + DP_COST);
            if (*bytes + len + DP_COST).saturating_sub(freed) > MAX_STATE_BYTES {
                note(Ignored::StateFull {
                    cid: u.cid.clone(),
                    dp: *id,
                });
                continue;
            }
            *bytes = (*bytes + len + DP_COST).saturating_sub(freed);
            map.insert(*id, v.clone());
            changed.insert(*id, v.clone());
        }
        (changed, ignored)
    }

    /// The DPs of `want` whose value is not (yet) the requested one.
    pub(crate) fn missing(&self, cid: Option<&str>, want: &Dps) -> Dps {
        let cur = match cid {
            None => Some(&self.dps),
            Some(c) => self.children.get(c),
        };
        want.iter()
            .filter(|(k, v)| cur.and_then(|m| m.get(k)) != Some(v))
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(cid: Option<&str>, pairs: &[(u32, DpValue)]) -> StatusUpdate {
        StatusUpdate {
            dps: pairs.iter().map(|(k, v)| (DpId(*k), v.clone())).collect(),
            cid: cid.map(str::to_string),
            ..Default::default()
        }
    }

    fn int(pairs: &[(u32, i64)]) -> Vec<(u32, DpValue)> {
        pairs
            .iter()
            .map(|(k, v)| (*k, DpValue::Integer(*v)))
            .collect()
    }

    #[test]
    fn merge_reports_changes_only_and_stays_bounded() {
        let mut m = Memory::default();
        let mut b = 0;
        assert_eq!(
            m.merge(&u(None, &int(&[(1, 1), (2, 2)])), &mut b).0.len(),
            2
        );
        assert_eq!(
            m.merge(&u(None, &int(&[(1, 1), (2, 3)])), &mut b).0.len(),
            1
        );
        let many: Vec<(u32, i64)> = (0..1000).map(|i| (i, 0)).collect();
        let (_, ign) = m.merge(&u(None, &int(&many)), &mut b);
        assert_eq!(m.dps.len(), MAX_DPS);
        assert!(
            matches!(&ign[..], [Ignored::TooManyDps { cid: None, .. }]),
            "one notice for the whole report: {ign:?}"
        );
        let mut said = 0;
        for i in 0..2000 {
            let (_, ign) = m.merge(&u(Some(&format!("c{i}")), &int(&[(1, 1)])), &mut b);
            said += ign.len();
        }
        assert_eq!(m.children.len(), MAX_CHILDREN);
        assert_eq!(said, 2000 - MAX_CHILDREN);
        assert_eq!(b, state_bytes(&m), "the running count is exact");
        // DP 1 is 0 since the merge of `many`.
        let want: Dps = [
            (DpId(1), DpValue::Integer(0)),
            (DpId(2), DpValue::Integer(9)),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            m.missing(None, &want).keys().collect::<Vec<_>>(),
            [&DpId(2)]
        );
    }

    #[test]
    fn long_values_and_a_full_state_are_refused() {
        let mut m = Memory::default();
        let mut b = 0;
        let long = DpValue::String("x".repeat(MAX_VALUE_LEN + 1));
        let (ch, ign) = m.merge(&u(None, &[(1, long)]), &mut b);
        assert!(ch.is_empty());
        assert!(
            matches!(&ign[..], [Ignored::ValueTooLong { len, .. }] if *len == MAX_VALUE_LEN + 1)
        );
        // Just under the value cap, DP after DP: the budget ends it.
        let big = DpValue::String("y".repeat(MAX_VALUE_LEN));
        let mut full = false;
        for child in 0..MAX_CHILDREN {
            let pairs: Vec<(u32, DpValue)> =
                (0..MAX_DPS as u32).map(|i| (i, big.clone())).collect();
            let (_, ign) = m.merge(&u(Some(&format!("c{child}")), &pairs), &mut b);
            if ign.iter().any(|i| matches!(i, Ignored::StateFull { .. })) {
                full = true;
                break;
            }
        }
        assert!(full);
        assert!(b <= MAX_STATE_BYTES && b == state_bytes(&m));
        // A shorter value in place of a longer one always fits.
        let (ch, _) = m.merge(&u(Some("c0"), &[(0, DpValue::Bool(true))]), &mut b);
        assert_eq!(ch.len(), 1);
        let mut bad = u(None, &[]);
        bad.ignored = vec!["4294967296".into()];
        let (_, ign) = m.merge(&bad, &mut b);
        assert!(ign[0].to_string().contains("4294967296"), "{}", ign[0]);
    }
}
