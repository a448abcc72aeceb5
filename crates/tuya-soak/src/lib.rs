//! # tuya-soak
//!
//! A soak under faults that loses nothing. A simulated fleet of every protocol version (3.1–3.5,
//! gateways with children on 3.3–3.5) serves a client fleet (`tuya_local::Fleet`) and the MQTT
//! bridge over a real Mosquitto, while the simulator's fault injection and the firmware rules
//! of Tuya's SDK rotate per device (delays, dropped frames, resets, garbage, bad integrity,
//! refused connections, key changes, strict sequence numbers, one- and three-client limits,
//! 0x00-led session keys) and the broker is killed and restarted. Then the faults stop and
//! the run checks: every command sent was acknowledged or failed with a reason (none lost,
//! none applied twice), every device came back within the client's backoff bound, the final
//! state at the simulator, in the client fleet and in the bridge's retained MQTT state agree
//! with the last acknowledged command or later physical change, open fds and memory stayed
//! flat, and nothing panicked.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let opts = tuya_soak::SoakOptions { devices: 8, ..tuya_soak::SoakOptions::default() };
//! let report = tuya_soak::run(opts).await?;
//! print!("{}", report.text());
//! assert!(report.passed());
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod bridge;
pub mod client;
pub mod faults;
mod finish;
pub mod fleet_spec;
pub mod ledger;
pub mod report;
pub mod resources;
mod soak;

use std::path::PathBuf;
use std::time::Duration;

pub use report::{Check, Report};
pub use soak::run;

/// What a soak run does.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// The run's length: about 70% with faults, the rest calm (the calm phase goes on until
    /// every device is back, within the backoff bound).
    pub duration: Duration,
    /// Simulated devices (every fourth a gateway with two children).
    pub devices: usize,
    /// Seed of the fault schedule, keys, command gaps and physical changes.
    pub seed: u64,
    /// The Mosquitto binary (default: the usual places).
    pub mosquitto: Option<PathBuf>,
    /// Broker restarts during the fault phase.
    pub broker_restarts: usize,
    /// Devices listen on 127.60.`block`.1 and up (two runs at once need different blocks).
    pub block: u8,
    /// Progress lines on standard error.
    pub progress: bool,
}

impl Default for SoakOptions {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(60),
            devices: 12,
            seed: 1,
            mosquitto: None,
            broker_restarts: 2,
            block: 0,
            progress: false,
        }
    }
}
