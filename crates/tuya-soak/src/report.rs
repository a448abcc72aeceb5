//! The figures of a run and its checks, as text (a figures block, one line per check, and the
//! `N passed, M failed` line CI counts) or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::client::StreamFigures;
use crate::faults::{self, Schedule};
use crate::finish::{Recovery, StateCheck};
use crate::ledger::{Figures, Ledger, Via};
use crate::resources::{Flatness, Sample};
use crate::SoakOptions;

/// One check and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is checked.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// The figure behind it, or what went wrong.
    pub detail: String,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The seed (rerun with `--seed` to replay the schedule).
    pub seed: u64,
    /// Simulated devices.
    pub devices: usize,
    /// Devices per protocol version (gateways counted once).
    pub versions: BTreeMap<String, usize>,
    /// Gateways among them.
    pub gateways: usize,
    /// Command targets (plain devices and gateway children).
    pub targets: usize,
    /// Seconds from the first fault-phase command to the end of the final check.
    pub seconds: f64,
    /// Seconds of the fault phase.
    pub fault_seconds: f64,
    /// Fault episodes per kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// Broker restarts done.
    pub broker_restarts: usize,
    /// Broker restarts, from the kill until the bridge was back, seconds from the rig's start.
    pub mqtt_outages: Vec<(f64, f64)>,
    /// MQTT results that arrived after their command's wait ran out.
    pub late_results: Vec<String>,
    /// Every command.
    pub commands: Figures,
    /// The client fleet's commands.
    pub fleet: Figures,
    /// The commands sent through MQTT.
    pub mqtt: Figures,
    /// Lost and twice-applied commands, described (the first few).
    pub problems: Vec<String>,
    /// Physical changes made at the simulator.
    pub physical_changes: usize,
    /// The client fleet's event stream.
    pub stream: StreamFigures,
    /// Recovery after the faults stopped.
    pub recovery: Recovery,
    /// The final-state check.
    pub state: StateCheck,
    /// Open fds and resident memory.
    pub resources: Flatness,
    /// Panics in any task.
    pub panics: u64,
    /// Why the bridge did not stop cleanly, if it did not.
    pub bridge_stop: Option<String>,
    /// The checks.
    pub checks: Vec<Check>,
}

fn check(name: &str, passed: bool, detail: String) -> Check {
    Check {
        name: name.into(),
        passed,
        detail,
    }
}

fn first(v: &[String]) -> String {
    match v.len() {
        0 => String::new(),
        n => format!(
            "{n}: {}{}",
            v.iter().take(3).cloned().collect::<Vec<_>>().join("; "),
            if n > 3 { "; …" } else { "" }
        ),
    }
}

impl Report {
    /// Gathers the figures and judges them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build(
        opts: &SoakOptions,
        ledger: &Ledger,
        schedule: &Schedule,
        broker_restarts: usize,
        elapsed: Duration,
        fault_phase: Duration,
        stream: StreamFigures,
        recovery: Recovery,
        state: StateCheck,
        samples: &[Sample],
        fds_slack: u64,
        bridge_stop: Option<String>,
        mqtt: &crate::bridge::Mqtt,
    ) -> Report {
        let mqtt_outages = mqtt
            .outages()
            .iter()
            .map(|&(a, b)| {
                let b = b.map_or(f64::INFINITY, |b| ledger.since_origin(b));
                (ledger.since_origin(a), b)
            })
            .collect();
        let late_results = mqtt
            .late_results()
            .iter()
            .map(|(slug, v, at)| format!("{slug} = {v} at {:.1} s", ledger.since_origin(*at)))
            .collect();
        let (commands, problems) = ledger.figures(None);
        let (fleet, _) = ledger.figures(Some(Via::Fleet));
        let (mqtt_figures, _) = ledger.figures(Some(Via::Mqtt));
        let resources = Flatness::of(samples, fds_slack);
        let mut versions = BTreeMap::new();
        let mut seen_devices = std::collections::BTreeSet::new();
        for t in ledger.targets() {
            if seen_devices.insert(t.device) {
                *versions.entry(t.version.as_str().to_string()).or_insert(0) += 1;
            }
        }
        let gateways = {
            let mut g = std::collections::BTreeSet::new();
            for t in ledger.targets().iter().filter(|t| t.cid.is_some()) {
                g.insert(t.device);
            }
            g.len()
        };
        let panics = crate::resources::panics();
        let f = &resources;
        let checks = vec![
            check(
                "commands flowed on both paths",
                fleet.acknowledged > 0
                    && mqtt_figures.acknowledged > 0
                    && ledger.physical_count() > 0,
                format!(
                    "{} fleet and {} MQTT commands acknowledged, {} physical changes",
                    fleet.acknowledged,
                    mqtt_figures.acknowledged,
                    ledger.physical_count()
                ),
            ),
            check(
                "no command lost",
                commands.lost() == 0,
                format!(
                    "{} acknowledged but never applied, {} without an outcome",
                    commands.lost_acked_unapplied, commands.lost_no_outcome
                ),
            ),
            check(
                "no command applied twice",
                commands.applied_twice == 0,
                format!("{} applied more than once", commands.applied_twice),
            ),
            check(
                "no acknowledgement before the command reached the device",
                commands.acked_early == 0,
                format!(
                    "{} acknowledged early (another frame taken for their acknowledgement)",
                    commands.acked_early
                ),
            ),
            check(
                "final commands acknowledged",
                state.final_unacked.is_empty(),
                first(&state.final_unacked),
            ),
            check(
                "simulator state = last acknowledged command or later physical change",
                state.simulator.is_empty(),
                format!("{} DPs; {}", state.checked, first(&state.simulator)),
            ),
            check(
                "client fleet view = simulator",
                state.fleet.is_empty(),
                first(&state.fleet),
            ),
            check(
                "bridge retained state = simulator",
                state.bridge.is_empty(),
                first(&state.bridge),
            ),
            check(
                "every device back within the backoff bound",
                recovery.late.is_empty(),
                format!(
                    "max {:.1} s fleet, {:.1} s MQTT, bound {:.0} s; {}",
                    recovery.fleet_max_s,
                    recovery.mqtt_max_s,
                    recovery.bound_s,
                    first(&recovery.late)
                ),
            ),
            check(
                "broker restarted as scheduled",
                broker_restarts == opts.broker_restarts,
                format!("{broker_restarts} of {}", opts.broker_restarts),
            ),
            check(
                "open fds flat",
                f.fds_flat(),
                format!(
                    "calm max {} vs baseline max {} + {}",
                    f.fds_calm_max, f.fds_base_max, f.fds_slack
                ),
            ),
            check(
                "memory flat",
                f.rss_flat(),
                format!(
                    "less the ledger's {:.1} MiB: calm max {:.1} MiB vs baseline max {:.1} + {:.1} MiB",
                    mib(f.ledger_kib),
                    mib(f.rss_calm_max),
                    mib(f.rss_base_max),
                    mib(f.rss_slack_kib)
                ),
            ),
            check("no panic", panics == 0, format!("{panics} panics")),
            check(
                "bridge stopped cleanly",
                bridge_stop.is_none(),
                bridge_stop.clone().unwrap_or_default(),
            ),
        ];
        Report {
            seed: opts.seed,
            devices: opts.devices.max(1),
            versions,
            gateways,
            targets: ledger.targets().len(),
            seconds: elapsed.as_secs_f64(),
            fault_seconds: fault_phase.as_secs_f64(),
            faults: faults::kinds(schedule),
            broker_restarts,
            mqtt_outages,
            late_results,
            commands,
            fleet,
            mqtt: mqtt_figures,
            problems,
            physical_changes: ledger.physical_count(),
            stream,
            recovery,
            state,
            resources,
            panics,
            bridge_stop,
            checks,
        }
    }

    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// Checks passed and failed.
    pub fn counts(&self) -> (usize, usize) {
        let ok = self.checks.iter().filter(|c| c.passed).count();
        (ok, self.checks.len() - ok)
    }

    /// The figures block, one line per check, and `N passed, M failed`.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let versions: Vec<String> = self
            .versions
            .iter()
            .map(|(v, n)| format!("{v} ×{n}"))
            .collect();
        let _ = writeln!(
            s,
            "soak: seed {}, {} devices ({}; {} gateways), {} targets, {:.1} s ({:.1} s of faults)",
            self.seed,
            self.devices,
            versions.join(", "),
            self.gateways,
            self.targets,
            self.seconds,
            self.fault_seconds
        );
        let kinds: Vec<String> = self
            .faults
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let away: Vec<String> = self
            .mqtt_outages
            .iter()
            .map(|(a, b)| format!("{a:.1}–{b:.1} s"))
            .collect();
        let _ = writeln!(
            s,
            "faults: {}; broker restarts {} (down until the bridge was back: {})",
            kinds.join(", "),
            self.broker_restarts,
            away.join(", ")
        );
        let _ = writeln!(s, "commands: {}", line(&self.commands));
        let _ = writeln!(s, "  fleet: {}", line(&self.fleet));
        let _ = writeln!(s, "  mqtt:  {}", line(&self.mqtt));
        let st = &self.stream;
        let _ = writeln!(
            s,
            "physical changes {}; pushes read {}; sessions opened {}, ended {}; stream errors {}",
            self.physical_changes, st.pushes, st.connected, st.disconnected, st.errors
        );
        let r = &self.recovery;
        let _ = writeln!(
            s,
            "max recovery {:.1} s (fleet, {}), {:.1} s (mqtt, {}) (bound {:.0} s)",
            r.fleet_max_s, r.slowest.0, r.mqtt_max_s, r.slowest.1, r.bound_s
        );
        let _ = writeln!(
            s,
            "final state: {} DPs, views agreed after {:.1} s",
            self.state.checked, self.state.converged_after_s
        );
        let f = &self.resources;
        let _ = writeln!(
            s,
            "fds {}..{}; rss {:.1}..{:.1} MiB ({} samples from the moment all were connected); panics {}",
            f.fds.0,
            f.fds.1,
            mib(f.rss_kib.0),
            mib(f.rss_kib.1),
            f.samples,
            self.panics
        );
        for p in &self.problems {
            let _ = writeln!(s, "  {p}");
        }
        if !self.late_results.is_empty() {
            let _ = writeln!(s, "  late MQTT results: {}", first(&self.late_results));
        }
        for c in &self.checks {
            let mark = if c.passed { "ok  " } else { "FAIL" };
            if c.detail.is_empty() {
                let _ = writeln!(s, "{mark} {}", c.name);
            } else {
                let _ = writeln!(s, "{mark} {} ({})", c.name, c.detail);
            }
        }
        let (ok, bad) = self.counts();
        let _ = writeln!(s, "{ok} passed, {bad} failed");
        s
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn line(f: &Figures) -> String {
    let reasons: Vec<String> = f.failed.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let failed = if reasons.is_empty() {
        "0".to_string()
    } else {
        format!(
            "{} ({}; {} of them applied)",
            f.failed_total(),
            reasons.join(", "),
            f.failed_but_applied
        )
    };
    format!(
        "sent {}, acknowledged {}, failed {failed}, lost {}, applied twice {}, acknowledged early {}",
        f.sent,
        f.acknowledged,
        f.lost(),
        f.applied_twice,
        f.acked_early
    )
}
