//! The devices heard, de-duplicated by id: bounded, and entries not heard for a while expire.
//!
//! Anyone on the LAN can send announcements, for ids of their choosing. So the table holds at
//! most `max` entries and forgets a device not heard for `ttl`; when it is full, a new id
//! evicts the stalest entry heard only once before any heard twice or more. Real devices
//! announce every few seconds, so they are soon heard twice and then only lose their place to a
//! flood that sends every one of its ids twice, `max` of them faster than the devices announce.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tuya_proto::discovery::Datagram;

use super::{Discovered, DiscoveryEvent};

/// Where an entry stands in the eviction order: once-heard entries first, then by staleness
/// (the stamp grows with every announcement heard, so it orders by last-heard time).
type Rank = (bool, u64);

struct Entry {
    d: Discovered,
    rank: Rank,
}

/// The de-duplicated devices heard, bounded and expiring (see the module documentation).
pub(crate) struct Table {
    map: HashMap<String, Entry>,
    order: BTreeMap<Rank, String>,
    stamp: u64,
    ttl: Duration,
    max: usize,
}

impl Table {
    /// At most `max` devices (at least 1), each forgotten `ttl` after it was last heard.
    pub fn new(max: usize, ttl: Duration) -> Self {
        Self {
            map: HashMap::new(),
            order: BTreeMap::new(),
            stamp: 0,
            ttl,
            max: max.max(1),
        }
    }

    /// How many devices are held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    fn next_rank(&mut self, seen: u64) -> Rank {
        self.stamp += 1;
        (seen >= 2, self.stamp)
    }

    fn remove(&mut self, id: &str) {
        if let Some(e) = self.map.remove(id) {
            self.order.remove(&e.rank);
        }
    }

    /// Forgets devices not heard for `ttl`. The stalest entry of each group is first in its
    /// part of the order, so this costs nothing while nothing expires.
    pub fn expire(&mut self, now: Instant) {
        for established in [false, true] {
            while let Some((_, id)) = self.order.range((established, 0)..).next() {
                let e = &self.map[id];
                if e.rank.0 != established
                    || now.saturating_duration_since(e.d.last_seen) < self.ttl
                {
                    break;
                }
                let id = id.clone();
                self.remove(&id);
            }
        }
    }

    /// Records an announcement heard at `now`: a new device (`New`), one whose address or
    /// version changed (`Changed`), or nothing new (`None`).
    pub fn heard(
        &mut self,
        d: &Datagram,
        from: SocketAddr,
        now: Instant,
    ) -> Option<DiscoveryEvent> {
        let a = d.announcement()?;
        if a.gw_id.is_empty() || a.gw_id.len() > 64 {
            return None;
        }
        self.expire(now);
        let ip: IpAddr = a.ip.parse().unwrap_or(from.ip());
        let version = a.protocol_version();
        if let Some(e) = self.map.get(&a.gw_id) {
            let seen = e.d.seen + 1;
            let old = e.rank;
            let rank = self.next_rank(seen);
            self.order.remove(&old);
            self.order.insert(rank, a.gw_id.clone());
            let e = self.map.get_mut(&a.gw_id)?;
            e.rank = rank;
            let prev = &mut e.d;
            prev.last_seen = now;
            prev.seen = seen;
            let changed = prev.ip != ip || prev.version != version;
            prev.ip = ip;
            prev.version = version;
            prev.source = from;
            prev.kind = d.kind;
            prev.product_key = a.product_key.clone();
            prev.announcement = a;
            return changed.then(|| DiscoveryEvent::Changed(prev.clone()));
        }
        if self.map.len() >= self.max {
            if let Some((_, id)) = self.order.first_key_value() {
                let id = id.clone();
                tracing::debug!("discovery table full ({}): forgetting {id}", self.max);
                self.remove(&id);
            }
        }
        let dev = Discovered {
            id: a.gw_id.clone(),
            ip,
            source: from,
            version,
            product_key: a.product_key.clone(),
            kind: d.kind,
            announcement: a,
            first_seen: now,
            last_seen: now,
            seen: 1,
        };
        let rank = self.next_rank(1);
        self.order.insert(rank, dev.id.clone());
        self.map.insert(
            dev.id.clone(),
            Entry {
                d: dev.clone(),
                rank,
            },
        );
        Some(DiscoveryEvent::New(dev))
    }

    /// Every device held that was heard within `ttl` of `now`, by address then id.
    pub fn devices(&mut self, now: Instant) -> Vec<Discovered> {
        self.expire(now);
        let mut v: Vec<_> = self.map.values().map(|e| e.d.clone()).collect();
        v.sort_by(|a, b| a.ip.cmp(&b.ip).then(a.id.cmp(&b.id)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuya_proto::discovery::{decode, encode_announcement, Announcement};
    use tuya_proto::Version;

    fn dgram(id: &str, ip: &str) -> Datagram {
        let a = Announcement {
            ip: ip.into(),
            gw_id: id.into(),
            version: Some("3.3".into()),
            ..Default::default()
        };
        decode(&encode_announcement(&a, Version::V33, [0; 12])).unwrap()
    }

    fn from() -> SocketAddr {
        "127.61.0.1:6667".parse().unwrap()
    }

    fn ids(t: &mut Table, now: Instant) -> Vec<String> {
        t.devices(now).into_iter().map(|d| d.id).collect()
    }

    #[test]
    fn entries_not_heard_for_the_ttl_expire_and_come_back_as_new() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut t = Table::new(10, s(300));
        assert!(matches!(
            t.heard(&dgram("a", "127.61.0.2"), from(), t0),
            Some(DiscoveryEvent::New(_))
        ));
        t.heard(&dgram("b", "127.61.0.3"), from(), t0 + s(100));
        // Heard again: no event, but it counts as fresh.
        assert!(t
            .heard(&dgram("a", "127.61.0.2"), from(), t0 + s(200))
            .is_none());
        assert_eq!(ids(&mut t, t0 + s(399)), ["a", "b"]);
        assert_eq!(ids(&mut t, t0 + s(400)), ["a"], "b last heard at 100 s");
        assert_eq!(ids(&mut t, t0 + s(500)), Vec::<String>::new());
        assert_eq!(t.len(), 0, "expired entries are dropped, not only hidden");
        let again = t.heard(&dgram("a", "127.61.0.2"), from(), t0 + s(501));
        assert!(
            matches!(&again, Some(DiscoveryEvent::New(d)) if d.seen == 1),
            "{again:?}"
        );
    }

    #[test]
    fn a_flood_of_spoofed_ids_stays_bounded_and_keeps_devices_that_keep_announcing() {
        let t0 = Instant::now();
        let mut t = Table::new(100, Duration::from_secs(300));
        let real: Vec<String> = (0..20).map(|i| format!("real{i}")).collect();
        let mut now = t0;
        for r in &real {
            t.heard(&dgram(r, "127.61.0.9"), from(), now);
        }
        // 100,000 spoofed ids, 5,000 for every round of real announcements.
        for n in 0..100_000u32 {
            now += Duration::from_micros(50);
            t.heard(&dgram(&format!("spoof{n}"), "127.61.0.66"), from(), now);
            if n % 5_000 == 0 {
                for r in &real {
                    t.heard(&dgram(r, "127.61.0.9"), from(), now);
                }
            }
            assert!(t.len() <= 100);
        }
        let held = ids(&mut t, now);
        for r in &real {
            assert!(held.contains(r), "{r} was evicted: {held:?}");
        }
        assert_eq!(held.len(), 100);
        // When every entry was heard twice, the stalest goes first.
        let mut t = Table::new(2, Duration::from_secs(300));
        for (i, id) in ["x", "y", "x", "y"].iter().enumerate() {
            t.heard(
                &dgram(id, "127.61.0.9"),
                from(),
                t0 + Duration::from_secs(i as u64),
            );
        }
        t.heard(
            &dgram("z", "127.61.0.9"),
            from(),
            t0 + Duration::from_secs(9),
        );
        assert_eq!(ids(&mut t, t0 + Duration::from_secs(9)), ["y", "z"]);
    }
}
