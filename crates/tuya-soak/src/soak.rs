//! One soak run: set up the simulator, broker, bridge and client fleet; play the fault phase;
//! stop the faults and measure recovery; finish with the final-state check; tear down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tuya_proto::{DpId, DpValue};
use tuya_sim::{SimOptions, Simulator};

use crate::bridge::{self, Bridge, Mqtt};
use crate::client::{self, Clients};
use crate::faults::{self, Fault, Schedule};
use crate::finish;
use crate::fleet_spec::{self, SoakDevice, FLEET_DP, MQTT_DP};
use crate::ledger::Ledger;
use crate::report::Report;
use crate::resources::{self, Phase};
use crate::SoakOptions;
use tuya_mosquitto::{self as broker, Broker};

/// Share of the run with faults.
const FAULT_SHARE: f64 = 0.7;
/// Resource samples are this far apart.
const SAMPLE_EVERY: Duration = Duration::from_secs(2);

/// Everything running during a soak.
pub(crate) struct Rig {
    pub sim: Simulator,
    pub ledger: Arc<Ledger>,
    pub clients: Arc<Clients>,
    pub mqtt: Mqtt,
    pub devices: Vec<SoakDevice>,
    pub broker_port: u16,
    /// When the simulator started (`refuse_for` counts from there).
    pub sim_started: Instant,
}

impl Rig {
    /// Sets `target`'s `dp` "physically" at the simulator (pushed to every client).
    pub fn physical(&self, target: usize, dp: DpId) {
        let t = &self.ledger.targets()[target];
        let Some(dev) = self.sim.device(&t.device_id) else {
            return;
        };
        let v = DpValue::Integer(self.ledger.physical(target, dp));
        match &t.cid {
            Some(c) => dev.set_child_dp(c, dp, v),
            None => dev.set_dp(dp, v),
        }
    }
}

fn say(opts: &SoakOptions, what: impl std::fmt::Display) {
    if opts.progress {
        eprintln!("tuya-soak: {what}");
    }
}

/// Runs a soak and returns its report (which says whether every check passed). Fails only if
/// the rig cannot be set up (no Mosquitto, an address taken).
pub async fn run(opts: SoakOptions) -> Result<Report> {
    resources::count_panics();
    let mosquitto = broker::find(opts.mosquitto.as_deref())
        .context("no Mosquitto (or pass --mosquitto PATH)")?;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let devices = fleet_spec::build(opts.devices.max(1), opts.block, &mut rng);
    let targets = fleet_spec::targets(&devices);
    let fault_phase = opts.duration.mul_f64(FAULT_SHARE);
    let calm_phase = opts.duration.saturating_sub(fault_phase);
    let schedule = faults::draw(&mut rng, &devices, fault_phase, opts.broker_restarts);
    let ledger = Ledger::new(targets);

    let sim_started = Instant::now();
    let sim = Simulator::start(
        devices.iter().map(|d| d.spec.clone()).collect(),
        SimOptions {
            // No announcements (the default), a fixed seed, and the ledger's counting sink.
            seed: opts.seed | 1,
            traffic: Some(ledger.sink()),
            ..SimOptions::default()
        },
    )
    .await
    .with_context(|| format!("starting the simulator on 127.60.{}.x", opts.block))?;
    let broker = Broker::start(mosquitto).await?;
    let dir = tempfile::tempdir()?;
    let devices_json = dir.path().join("devices.json");
    let bridged: Vec<_> = devices
        .iter()
        .filter(|d| d.bridged)
        .map(|d| d.spec.clone())
        .collect();
    std::fs::write(
        &devices_json,
        serde_json::to_vec_pretty(&tuya_sim::devices_json(&bridged))?,
    )?;
    let cloud_dir = dir.path().join("cloud");
    std::fs::create_dir_all(&cloud_dir)?;
    let mqtt = Mqtt::connect(broker.port).await?;
    let bridge = Bridge::start(&broker.url(), &devices_json, &cloud_dir)?;
    let clients = Arc::new(Clients::open(&devices));
    let rig = Rig {
        sim,
        ledger: ledger.clone(),
        clients: clients.clone(),
        mqtt: mqtt.clone(),
        devices,
        broker_port: broker.port,
        sim_started,
    };
    say(
        &opts,
        format!("seed {}: waiting for every device", opts.seed),
    );
    finish::wait_ready(&rig, Duration::from_secs(30)).await;

    // ---- the fault phase ----
    let start = Instant::now();
    let phase = Arc::new(Mutex::new(Phase::Baseline));
    let book = ledger.clone();
    let (samples, sampler) = resources::sampler(
        SAMPLE_EVERY,
        start,
        phase.clone(),
        Arc::new(move || book.heap_kib()),
    );
    // The baseline of the resource samples: the first quarter of the fault phase.
    let baseline = fault_phase.mul_f64(0.25).max(Duration::from_secs(4));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    for (i, t) in ledger.targets().iter().enumerate() {
        let seed = opts.seed.wrapping_mul(31).wrapping_add(i as u64);
        workers.push(tokio::spawn(client::worker(
            clients.clone(),
            ledger.clone(),
            i,
            seed,
            stop.clone(),
        )));
        if t.bridged {
            workers.push(tokio::spawn(bridge::worker(
                mqtt.clone(),
                ledger.clone(),
                i,
                seed ^ 0x5a5a,
                stop.clone(),
            )));
        }
    }
    let rig = Arc::new(rig);
    workers.push(tokio::spawn(physical_changes(
        rig.clone(),
        opts.seed ^ 0xc0ffee,
        stop.clone(),
    )));
    let episodes = play(&rig, &schedule, start);
    // The broker moves into the restarter and comes back at the end.
    let restarter = tokio::spawn(restarts(
        schedule.restarts.clone(),
        start,
        mqtt.clone(),
        broker,
    ));
    say(
        &opts,
        format!("fault phase: {:.0} s", fault_phase.as_secs_f64()),
    );
    tokio::time::sleep_until(start + baseline).await;
    *phase.lock().unwrap_or_else(|e| e.into_inner()) = Phase::Faults;
    tokio::time::sleep_until(start + fault_phase).await;

    // ---- the calm phase ----
    let (mut broker, restarted) = restarter.await.context("the broker restarter panicked")?;
    for e in episodes {
        let _ = tokio::time::timeout(Duration::from_secs(10), e).await;
    }
    for d in rig.sim.devices() {
        faults::clear(&d);
    }
    let t0 = Instant::now();
    *phase.lock().unwrap_or_else(|e| e.into_inner()) = Phase::Calm;
    let bound = finish::recovery_bound();
    say(
        &opts,
        format!(
            "calm phase: faults off, waiting for every device (bound {:.0} s)",
            bound.as_secs_f64()
        ),
    );
    finish::wait_recovered(&rig, t0, calm_phase, bound).await;
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(90), w).await;
    }
    let recovery = finish::recovery(&rig, t0, bound);
    say(&opts, "final commands and physical changes");
    let state = finish::final_state(&rig, &mut rng).await;
    sampler.abort();
    let samples = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();

    let elapsed = start.elapsed();
    let rig_devices = rig.devices.len();
    let stream = clients.stream();
    let bridge_stopped = bridge.stop().await;
    mqtt.close();
    // Every task holding the rig has ended (or been given up on: then the process's exit
    // cleans up).
    if let Ok(rig) = Arc::try_unwrap(rig) {
        let Rig {
            sim, clients: c, ..
        } = rig;
        drop(c);
        if let Ok(c) = Arc::try_unwrap(clients) {
            c.close().await;
        }
        sim.shutdown().await;
    }
    broker.kill();
    Ok(Report::build(
        &opts,
        &ledger,
        &schedule,
        restarted,
        elapsed,
        t0.duration_since(start),
        stream,
        recovery,
        state,
        &samples,
        // Connections mid-reconnect in a sample, and the final check's fresh MQTT subscriber.
        16 + rig_devices as u64 / 4,
        bridge_stopped.err().map(|e| format!("{e:#}")),
        &mqtt,
    ))
}

/// Starts one task per episode: apply at its start (a key change reaches the client after its
/// lag), clear at its end.
fn play(rig: &Arc<Rig>, schedule: &Schedule, start: Instant) -> Vec<JoinHandle<()>> {
    schedule
        .episodes
        .iter()
        .cloned()
        .map(|ep| {
            let rig = rig.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(start + ep.at).await;
                let id = rig.devices[ep.device].spec.id.clone();
                let Some(dev) = rig.sim.device(&id) else {
                    return;
                };
                let since = rig.sim_started.elapsed();
                faults::apply(&dev, &ep.faults, ep.len, since, rig.ledger.handshakes(&id));
                let mut waited = Duration::ZERO;
                for f in &ep.faults {
                    if let Fault::KeyChange { key, lag } = f {
                        tokio::time::sleep(*lag).await;
                        waited = *lag;
                        rig.clients.rekey(&id, key).await;
                    }
                }
                tokio::time::sleep(ep.len.saturating_sub(waited)).await;
                faults::clear(&dev);
            })
        })
        .collect()
}

/// Kills and restarts the broker as scheduled, pausing MQTT commands around each kill.
/// Returns the broker and how many restarts happened.
async fn restarts(
    plan: Vec<faults::Restart>,
    start: Instant,
    mqtt: Mqtt,
    mut broker: Broker,
) -> (Broker, usize) {
    let mut done = 0;
    for r in plan {
        let pause_at = (start + r.at).checked_sub(Duration::from_millis(1500));
        tokio::time::sleep_until(pause_at.unwrap_or(start)).await;
        mqtt.paused.store(true, Ordering::SeqCst);
        // Let the last publishes be acknowledged before the broker dies.
        tokio::time::sleep_until(start + r.at).await;
        mqtt.broker_down();
        broker.kill();
        tokio::time::sleep(r.down).await;
        if let Err(e) = broker.restart().await {
            eprintln!("tuya-soak: the broker did not restart: {e:#}");
            break;
        }
        if let Err(e) = mqtt.wait_bridge_back(Duration::from_secs(60)).await {
            eprintln!("tuya-soak: {e:#}");
        }
        mqtt.paused.store(false, Ordering::SeqCst);
        done += 1;
    }
    (broker, done)
}

/// Physical changes, a random 250–700 ms apart, on random targets and DPs, until `stop`.
async fn physical_changes(rig: Arc<Rig>, seed: u64, stop: Arc<AtomicBool>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = rig.ledger.targets().len();
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(250..700))).await;
        let t = rng.gen_range(0..n);
        let dp = if rng.gen_bool(0.5) { FLEET_DP } else { MQTT_DP };
        rig.physical(t, dp);
    }
}
