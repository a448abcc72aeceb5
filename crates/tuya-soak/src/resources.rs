//! Open file descriptors and resident memory sampled over the run, and a panic hook that
//! counts panics in any task or thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use serde::Serialize;

/// Which part of the run a sample was taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The first part of the fault phase, from the moment every device is connected (the
    /// warm-up, connections opening, is over and not sampled): the baseline.
    Baseline,
    /// The rest of the fault phase.
    Faults,
    /// Faults stopped.
    Calm,
}

/// One sample.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Seconds since the start.
    pub t: f64,
    /// Phase.
    pub phase: Phase,
    /// Open file descriptors of this process.
    pub fds: u64,
    /// Resident memory, KiB.
    pub rss_kib: u64,
    /// The harness's own bookkeeping (the ledger grows with every command), KiB: taken out of
    /// `rss_kib` before comparing.
    pub ledger_kib: u64,
}

impl Sample {
    /// Resident memory less the ledger, KiB.
    pub fn net_kib(&self) -> u64 {
        self.rss_kib.saturating_sub(self.ledger_kib)
    }
}

/// Open file descriptors of this process (entries of /proc/self/fd, less the one reading it).
pub fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count().saturating_sub(1) as u64)
        .unwrap_or(0)
}

/// What the harness itself holds, KiB (see [`Sample::ledger_kib`]).
pub type Bookkeeping = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Samples every `every` into a shared list until the returned handle is aborted; the phase is
/// read from `phase` at each sample.
pub fn sampler(
    every: Duration,
    start: tokio::time::Instant,
    phase: Arc<Mutex<Phase>>,
    ledger_kib: Bookkeeping,
) -> (Arc<Mutex<Vec<Sample>>>, tokio::task::JoinHandle<()>) {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let out = samples.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let p = *phase.lock().unwrap_or_else(|e| e.into_inner());
            let s = Sample {
                t: start.elapsed().as_secs_f64(),
                phase: p,
                fds: open_fds(),
                rss_kib: tuya_sim::resident_kib(),
                ledger_kib: ledger_kib(),
            };
            out.lock().unwrap_or_else(|e| e.into_inner()).push(s);
        }
    });
    (samples, task)
}

/// The verdict on the samples: calm-phase figures against the fault phase after warm-up.
#[derive(Debug, Clone, Serialize)]
pub struct Flatness {
    /// Smallest and largest fd count over the run.
    pub fds: (u64, u64),
    /// Smallest and largest resident memory over the run, KiB.
    pub rss_kib: (u64, u64),
    /// Largest fd count in the baseline.
    pub fds_base_max: u64,
    /// Largest fd count in the calm phase.
    pub fds_calm_max: u64,
    /// Largest resident memory less the ledger in the baseline, KiB.
    pub rss_base_max: u64,
    /// Largest resident memory less the ledger in the calm phase, KiB.
    pub rss_calm_max: u64,
    /// The ledger's size at the last sample, KiB.
    pub ledger_kib: u64,
    /// Fds the calm phase may hold beyond the baseline's largest count.
    pub fds_slack: u64,
    /// Resident memory the calm phase may hold beyond the baseline's largest, KiB.
    pub rss_slack_kib: u64,
    /// Samples taken.
    pub samples: usize,
}

impl Flatness {
    /// Judges `samples`: the calm phase against the baseline, so growth over the whole run
    /// shows. Slack: the fd count may grow by `fds_slack` (connections mid-reconnect, the
    /// fresh MQTT subscriber of the final check); memory (less the ledger) by a quarter of the
    /// baseline's largest, at least 16 MiB (buffers reaching their working size, allocator
    /// arenas of a loaded runtime).
    pub fn of(samples: &[Sample], fds_slack: u64) -> Flatness {
        let after: Vec<&Sample> = samples.iter().collect();
        let range = |f: fn(&Sample) -> u64, ph: Option<Phase>| {
            let v: Vec<u64> = after
                .iter()
                .filter(|s| ph.is_none_or(|p| s.phase == p))
                .map(|s| f(s))
                .collect();
            (
                v.iter().copied().min().unwrap_or(0),
                v.iter().copied().max().unwrap_or(0),
            )
        };
        let rss_base_max = range(|s| s.net_kib(), Some(Phase::Baseline)).1;
        Flatness {
            fds: range(|s| s.fds, None),
            rss_kib: range(|s| s.rss_kib, None),
            fds_base_max: range(|s| s.fds, Some(Phase::Baseline)).1,
            fds_calm_max: range(|s| s.fds, Some(Phase::Calm)).1,
            rss_base_max,
            rss_calm_max: range(|s| s.net_kib(), Some(Phase::Calm)).1,
            ledger_kib: samples.last().map_or(0, |s| s.ledger_kib),
            fds_slack,
            rss_slack_kib: (rss_base_max / 4).max(16 * 1024),
            samples: after.len(),
        }
    }

    /// Whether fds stayed flat (and there was something to compare).
    pub fn fds_flat(&self) -> bool {
        self.fds_base_max > 0 && self.fds_calm_max <= self.fds_base_max + self.fds_slack
    }

    /// Whether memory stayed flat.
    pub fn rss_flat(&self) -> bool {
        self.rss_base_max > 0 && self.rss_calm_max <= self.rss_base_max + self.rss_slack_kib
    }
}

static PANICS: AtomicU64 = AtomicU64::new(0);
static HOOK: Once = Once::new();

/// Installs (once per process) a panic hook that counts every panic, in any task or thread,
/// then runs the previous hook (which prints it).
pub fn count_panics() {
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            prev(info);
        }));
    });
}

/// Panics counted so far.
pub fn panics() -> u64 {
    PANICS.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(phase: Phase, fds: u64, rss: u64) -> Sample {
        Sample {
            t: 0.0,
            phase,
            fds,
            rss_kib: rss,
            ledger_kib: 0,
        }
    }

    #[test]
    fn growth_beyond_the_slack_is_not_flat() {
        let base = [s(Phase::Baseline, 40, 30_000), s(Phase::Faults, 10, 1000)];
        let ok = [&base[..], &[s(Phase::Calm, 44, 40_000)]].concat();
        let f = Flatness::of(&ok, 8);
        assert!(f.fds_flat() && f.rss_flat(), "{f:?}");
        assert_eq!(f.fds, (10, 44));
        let leak = [&base[..], &[s(Phase::Calm, 60, 90_000)]].concat();
        let f = Flatness::of(&leak, 8);
        assert!(!f.fds_flat() && !f.rss_flat(), "{f:?}");
        assert!(open_fds() > 0);
    }
}
