//! The end of a run: waiting for the rig, the recovery bound and each device's recovery, and
//! the final-state check (simulator, client fleet and bridge's retained state against the
//! ledger).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;
use serde::Serialize;
use tokio::time::Instant;
use tuya_local::DeviceConfig;
use tuya_proto::{DpId, DpValue, LocalKey};

use crate::bridge::{self, PREFIX};
use crate::client;
use crate::fleet_spec::{FLEET_DP, MQTT_DP};
use crate::ledger::Via;
use crate::soak::Rig;

/// Attempts at each final command (a loaded machine may time one out).
const FINAL_TRIES: usize = 3;
/// How long views may take to agree with the simulator after the last change.
const CONVERGE: Duration = Duration::from_secs(30);

/// Waits (bounded, not a check) until every device's session is up in the client fleet and
/// every bridged device is online on MQTT.
pub(crate) async fn wait_ready(rig: &Rig, within: Duration) {
    let end = Instant::now() + within;
    while Instant::now() < end {
        let fleet = rig
            .devices
            .iter()
            .all(|d| rig.clients.connected(&d.spec.id));
        let mqtt = rig.ledger.targets().iter().filter(|t| t.bridged).all(|t| {
            rig.mqtt
                .last(&format!("{PREFIX}/{}/status", t.slug))
                .as_deref()
                == Some("online")
        });
        if fleet && mqtt {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How long a device may take to be back once its faults stop, from the client's own
/// configuration (the product defaults): the longest reconnect delay with its +25% jitter, one
/// failed attempt in progress when the faults stopped (connect, negotiation, first read), the
/// successful one, and 10 s of slack for a loaded machine.
pub fn recovery_bound() -> Duration {
    let key = LocalKey::new("0123456789abcdef").expect("a valid key");
    let c = DeviceConfig::new("x", key, ([127, 0, 0, 1], 6668).into());
    let attempt = c.connect_timeout + c.request_timeout * 2;
    c.reconnect_max.mul_f64(1.25) + attempt * 2 + Duration::from_secs(10)
}

/// Lets the steady stream of commands go on until every target has been acknowledged through
/// each of its paths since `t0` and `at_least` has passed, or the bound (plus a margin) is
/// over.
pub(crate) async fn wait_recovered(rig: &Rig, t0: Instant, at_least: Duration, bound: Duration) {
    loop {
        let acks = rig.ledger.first_acks_after(t0);
        let all = rig.ledger.targets().iter().enumerate().all(|(i, t)| {
            acks.contains_key(&(i, Via::Fleet))
                && (!t.bridged || acks.contains_key(&(i, Via::Mqtt)))
        });
        let e = t0.elapsed();
        if (all && e >= at_least) || e >= bound + Duration::from_secs(5) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Recovery once the faults stopped: the first acknowledgement of each path after `t0`.
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    /// Longest time to the first acknowledged fleet command, seconds.
    pub fleet_max_s: f64,
    /// Longest time to the first acknowledged MQTT command, seconds.
    pub mqtt_max_s: f64,
    /// The target that took longest, through the fleet and through MQTT.
    pub slowest: (String, String),
    /// The bound, seconds.
    pub bound_s: f64,
    /// Targets not back within the bound, with the path.
    pub late: Vec<String>,
}

pub(crate) fn recovery(rig: &Rig, t0: Instant, bound: Duration) -> Recovery {
    let mut r = Recovery {
        fleet_max_s: 0.0,
        mqtt_max_s: 0.0,
        slowest: (String::new(), String::new()),
        bound_s: bound.as_secs_f64(),
        late: Vec::new(),
    };
    let acks = rig.ledger.first_acks_after(t0);
    for (i, t) in rig.ledger.targets().iter().enumerate() {
        let mut paths = vec![(Via::Fleet, &mut r.fleet_max_s, &mut r.slowest.0)];
        if t.bridged {
            paths.push((Via::Mqtt, &mut r.mqtt_max_s, &mut r.slowest.1));
        }
        for (via, max, slowest) in paths {
            match acks.get(&(i, via)).copied() {
                Some(at) if at.duration_since(t0) <= bound => {
                    let took = at.duration_since(t0).as_secs_f64();
                    if took >= *max {
                        *max = took;
                        *slowest = t.label();
                    }
                }
                Some(at) => r.late.push(format!(
                    "{} via {via:?}: back after {:.1} s",
                    t.label(),
                    at.duration_since(t0).as_secs_f64()
                )),
                None => r
                    .late
                    .push(format!("{} via {via:?}: never back", t.label())),
            }
        }
    }
    r
}

/// The final-state check's findings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StateCheck {
    /// (target, DP) pairs checked.
    pub checked: usize,
    /// Final commands that were not acknowledged after every try.
    pub final_unacked: Vec<String>,
    /// Where the simulator's value is not the last acknowledged command or later change.
    pub simulator: Vec<String>,
    /// Where the client fleet's view is not the simulator's value.
    pub fleet: Vec<String>,
    /// Where the bridge's retained state is not the simulator's value (bridged targets).
    pub bridge: Vec<String>,
    /// Seconds the views took to agree after the last change.
    pub converged_after_s: f64,
}

fn int(v: Option<DpValue>) -> Option<i64> {
    match v {
        Some(DpValue::Integer(i)) => Some(i),
        _ => None,
    }
}

/// Final commands on every path of every target, then physical changes (on each DP only a
/// physical change reaches, and on a random half of the targets), then waits until the views
/// agree and compares them.
pub(crate) async fn final_state(rig: &Arc<Rig>, rng: &mut StdRng) -> StateCheck {
    let mut check = StateCheck::default();
    let targets = rig.ledger.targets().to_vec();
    let mut finals = tokio::task::JoinSet::new();
    for (i, t) in targets.iter().cloned().enumerate() {
        let rig = rig.clone();
        finals.spawn(async move {
            let mut missed = Vec::new();
            if !retry(|| client::one(&rig.clients, &rig.ledger, i)).await {
                missed.push(format!("{} via Fleet", t.label()));
            }
            if t.bridged && !retry(|| bridge::one(&rig.mqtt, &rig.ledger, i, &t.slug)).await {
                missed.push(format!("{} via Mqtt", t.label()));
            }
            missed
        });
    }
    while let Some(m) = finals.join_next().await {
        check
            .final_unacked
            .extend(m.unwrap_or_else(|e| vec![format!("a final command task failed: {e}")]));
    }
    for (i, t) in targets.iter().enumerate() {
        if !t.bridged {
            rig.physical(i, MQTT_DP);
        }
        if rng.gen_bool(0.5) {
            rig.physical(i, if rng.gen_bool(0.5) { FLEET_DP } else { MQTT_DP });
        }
    }
    let changed = Instant::now();
    let expected = rig.ledger.expected();
    loop {
        let (sim, fleet) = compare(rig, &expected);
        check.simulator = sim;
        check.fleet = fleet;
        if (check.simulator.is_empty() && check.fleet.is_empty()) || changed.elapsed() > CONVERGE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    check.converged_after_s = changed.elapsed().as_secs_f64();
    check.checked = targets.len() * 2;
    for attempt in 0..4 {
        check.bridge = bridge_mismatches(rig, attempt).await;
        if check.bridge.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    check
}

async fn retry<F, Fut>(mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..FINAL_TRIES {
        if f().await {
            return true;
        }
    }
    false
}

/// The simulator's value of every (target, DP) against the ledger, and the fleet's view
/// against the simulator.
fn compare(rig: &Rig, expected: &HashMap<(usize, DpId), i64>) -> (Vec<String>, Vec<String>) {
    let (mut sim_bad, mut fleet_bad) = (Vec::new(), Vec::new());
    for (i, t) in rig.ledger.targets().iter().enumerate() {
        let Some(dev) = rig.sim.device(&t.device_id) else {
            sim_bad.push(format!("{}: not in the simulator", t.label()));
            continue;
        };
        let dps = match &t.cid {
            Some(c) => dev.child_dps(c).unwrap_or_default(),
            None => dev.dps(),
        };
        for dp in [FLEET_DP, MQTT_DP] {
            let at_sim = int(dps.get(&dp).cloned());
            let want = Some(expected.get(&(i, dp)).copied().unwrap_or(0));
            if at_sim != want {
                sim_bad.push(format!(
                    "{} DP {}: simulator {at_sim:?}, last acknowledged or physical {want:?}",
                    t.label(),
                    dp.0
                ));
            }
            let view = int(rig.clients.view(&t.device_id, t.cid.as_deref(), dp));
            if view != at_sim {
                fleet_bad.push(format!(
                    "{} DP {}: fleet {view:?}, simulator {at_sim:?}",
                    t.label(),
                    dp.0
                ));
            }
        }
    }
    (sim_bad, fleet_bad)
}

async fn bridge_mismatches(rig: &Rig, attempt: usize) -> Vec<String> {
    let name = format!("tuya-soak-final-{attempt}");
    let retained = match bridge::retained_states(rig.broker_port, &name).await {
        Ok(r) => r,
        Err(e) => return vec![format!("cannot read the retained state: {e:#}")],
    };
    let mut bad = Vec::new();
    for t in rig.ledger.targets().iter().filter(|t| t.bridged) {
        let Some(dev) = rig.sim.device(&t.device_id) else {
            continue;
        };
        let dps = match &t.cid {
            Some(c) => dev.child_dps(c).unwrap_or_default(),
            None => dev.dps(),
        };
        for dp in [FLEET_DP, MQTT_DP] {
            let topic = format!("{PREFIX}/{}/dps/{}/state", t.slug, dp.0);
            let at_sim = int(dps.get(&dp).cloned()).map(|v| v.to_string());
            let got = retained.get(&topic).cloned();
            if got != at_sim {
                bad.push(format!(
                    "{} DP {}: retained {got:?}, simulator {at_sim:?}",
                    t.label(),
                    dp.0
                ));
            }
        }
    }
    bad
}
