//! The device's DP state as reported to us: replies and pushes merged, bounded.

use crate::payload::StatusUpdate;
use crate::Dps;

use super::Memory;

/// A gateway has far fewer children: do not grow without bound on a hostile device.
const MAX_CHILDREN: usize = 256;
/// DP ids are one byte in Tuya's model.
const MAX_DPS: usize = 255;

impl Memory {
    /// The last known DPs of the device (`None`) or of a child.
    pub fn dps_of(&self, cid: Option<&str>) -> Dps {
        match cid {
            None => self.dps.clone(),
            Some(c) => self.children.get(c).cloned().unwrap_or_default(),
        }
    }

    /// Merges reported DPs; returns those whose value changed.
    pub(crate) fn merge(&mut self, u: &StatusUpdate) -> Dps {
        let map = match &u.cid {
            None => &mut self.dps,
            Some(c) => {
                if !self.children.contains_key(c) && self.children.len() >= MAX_CHILDREN {
                    return Dps::new();
                }
                self.children.entry(c.clone()).or_default()
            }
        };
        let mut changed = Dps::new();
        for (id, v) in &u.dps {
            if map.get(id) == Some(v) {
                continue;
            }
            if map.len() >= MAX_DPS && !map.contains_key(id) {
                continue;
            }
            map.insert(*id, v.clone());
            changed.insert(*id, v.clone());
        }
        changed
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
    use crate::{DpId, DpValue};

    #[test]
    fn merge_reports_changes_only_and_stays_bounded() {
        let mut m = Memory::default();
        let u = |cid: Option<&str>, pairs: &[(u32, i64)]| StatusUpdate {
            dps: pairs
                .iter()
                .map(|(k, v)| (DpId(*k), DpValue::Integer(*v)))
                .collect(),
            cid: cid.map(str::to_string),
            ..Default::default()
        };
        assert_eq!(m.merge(&u(None, &[(1, 1), (2, 2)])).len(), 2);
        assert_eq!(m.merge(&u(None, &[(1, 1), (2, 3)])).len(), 1);
        let many: Vec<(u32, i64)> = (0..1000).map(|i| (i, 0)).collect();
        m.merge(&u(None, &many));
        assert_eq!(m.dps.len(), MAX_DPS);
        for i in 0..1000 {
            m.merge(&u(Some(&format!("c{i}")), &[(1, 1)]));
        }
        assert_eq!(m.children.len(), MAX_CHILDREN);
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
}
