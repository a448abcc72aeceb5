//! `tuya-soak`: a soak under faults that loses nothing (see the library's documentation).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;

/// A simulated fleet of every version under rotating faults, a client fleet and the MQTT bridge
/// over a Mosquitto restarted mid-run; checks that no command is lost or applied twice, every
/// device comes back, the final states agree, and fds and memory stay flat.
#[derive(Parser, Debug)]
#[command(name = "tuya-soak", version)]
struct Args {
    /// Length of the run in seconds (about 70% with faults).
    #[arg(long, conflicts_with = "minutes")]
    seconds: Option<u64>,
    /// Length of the run in minutes.
    #[arg(long)]
    minutes: Option<u64>,
    /// Simulated devices (every fourth a gateway with two children).
    #[arg(long, default_value_t = 12)]
    devices: usize,
    /// Seed of the fault schedule (default: random; printed either way).
    #[arg(long)]
    seed: Option<u64>,
    /// The Mosquitto binary.
    #[arg(long)]
    mosquitto: Option<PathBuf>,
    /// Broker restarts during the fault phase.
    #[arg(long, default_value_t = 2)]
    broker_restarts: usize,
    /// Devices listen on 127.60.BLOCK.1 and up (another block lets two runs share a machine).
    #[arg(long, default_value_t = 0)]
    block: u8,
    /// Print the figures as JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tuya-soak: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<bool> {
    let secs = match (args.seconds, args.minutes) {
        (Some(s), _) => s,
        (None, Some(m)) => m * 60,
        (None, None) => 60,
    };
    let seed = args.seed.unwrap_or_else(rand::random);
    eprintln!(
        "tuya-soak: seed {seed} (replay: tuya-soak --seconds {secs} --devices {} --seed {seed})",
        args.devices
    );
    let opts = tuya_soak::SoakOptions {
        duration: Duration::from_secs(secs.max(10)),
        devices: args.devices,
        seed,
        mosquitto: args.mosquitto,
        broker_restarts: args.broker_restarts,
        block: args.block,
        progress: true,
    };
    let rt = tokio::runtime::Runtime::new()?;
    let report = rt.block_on(tuya_soak::run(opts))?;
    // Tasks still winding down (connections closing) must not hold the exit.
    rt.shutdown_timeout(Duration::from_secs(5));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        let (ok, bad) = report.counts();
        println!("{ok} passed, {bad} failed");
    } else {
        print!("{}", report.text());
    }
    Ok(report.passed())
}
