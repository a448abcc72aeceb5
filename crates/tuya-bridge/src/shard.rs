//! Which instance owns which device: a stable hash of the device id, so adding a device does
//! not move the others and every instance agrees without talking to the others.

use std::fmt;
use std::str::FromStr;

/// Shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This instance's shard, 1..=count.
    pub index: u32,
    /// How many shards share the devices.
    pub count: u32,
}

impl Shard {
    /// The single shard that owns everything.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Whether the device with this id (a gateway child: its gateway's id) is ours.
    pub fn owns(&self, id: &str) -> bool {
        (fnv1a(id.as_bytes()) % u64::from(self.count.max(1))) as u32 + 1 == self.index
    }
}

/// FNV-1a, 64 bits: fixed forever (changing it would move devices between shards).
fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("bad shard {s:?}: expected K/N with 1 <= K <= N, e.g. 1/2");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_device_has_exactly_one_owner_and_keeps_it() {
        let ids: Vec<String> = (0..1000).map(|i| format!("bfsim{i:015}")).collect();
        let shards: Vec<Shard> = (1..=3).map(|k| Shard { index: k, count: 3 }).collect();
        let mut per = [0usize; 3];
        for id in &ids {
            let owners: Vec<usize> = (0..3).filter(|&k| shards[k].owns(id)).collect();
            assert_eq!(owners.len(), 1, "{id}");
            per[owners[0]] += 1;
        }
        // Spread roughly evenly.
        assert!(per.iter().all(|&n| n > 250), "{per:?}");
        // Stable: the same id has the same owner (the hash is fixed, not per process).
        assert!(
            Shard { index: 1, count: 2 }.owns("bfsim000000000000001")
                != Shard { index: 2, count: 2 }.owns("bfsim000000000000001")
        );
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn shard_syntax() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        assert!("0/3".parse::<Shard>().is_err());
        assert!("4/3".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        assert!(Shard::ALL.owns("anything"));
    }
}
