//! `tuyactl`: local control of Tuya Wi-Fi devices over the LAN, no cloud.
//!
//! Each subcommand lives in its own module; this file only parses arguments and dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bridge;
mod client;
mod cloud;
mod decode;
mod demo;
mod demo_page;
mod import;
mod keyarg;
mod pcap;
mod scan;
mod seconds;
mod sim;

/// Local control of Tuya Wi-Fi devices over the LAN (protocol 3.1–3.5), no cloud.
#[derive(Parser)]
#[command(name = "tuyactl", version, about)]
struct Cli {
    /// More log detail (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Decode frames (hex), discovery datagrams (--udp) or a capture (--pcap).
    Decode(decode::Args),
    /// Run simulated devices (one, a config file, or a generated fleet).
    Sim(sim::Args),
    /// Read a device's data points.
    Get(client::GetArgs),
    /// Set data points: `tuyactl set DEVICE 1=true 2=50`.
    Set(client::SetArgs),
    /// Keep devices connected and print every change.
    Monitor(client::MonitorArgs),
    /// A simulated home, discovered and controlled end to end.
    Demo(demo::Args),
    /// Find devices: listen for announcements, or force-scan an address range.
    Scan(scan::Args),
    /// Every device on MQTT: tuya-mqtt's topics and Home Assistant discovery.
    Bridge(bridge::Args),
    /// Import keys from tinytuya (devices.json, snapshot.json) or tuya-cli (wizard / list-app output).
    Import(import::Args),
    /// Local keys from Tuya's cloud, once: the app's QR login or a developer project.
    Cloud(cloud::Args),
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TUYACTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    // Output piped into `head` or a closed pager ends the program quietly, as command-line tools
    // do, instead of panicking on the next println.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let result = match cli.command {
        Cmd::Decode(a) => decode::run(a),
        Cmd::Sim(a) => sim::run(a),
        Cmd::Get(a) => client::get(a),
        Cmd::Set(a) => client::set(a),
        Cmd::Monitor(a) => client::monitor(a),
        Cmd::Demo(a) => demo::run(a),
        Cmd::Scan(a) => scan::run(a),
        Cmd::Bridge(a) => bridge::run(a),
        Cmd::Import(a) => import::run(a),
        Cmd::Cloud(a) => cloud::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
