//! `tuyactl bridge`: every device of devices.json on MQTT (see the tuya-bridge crate).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tuya_bridge::{BridgeConfig, FileConfig};

/// Arguments of `tuyactl bridge`.
#[derive(clap::Args)]
pub struct Args {
    /// The broker: mqtt://[user:pass@]host[:port] or mqtts://… (TLS). Optional with --http.
    #[arg(long)]
    pub mqtt: Option<String>,
    /// Serve the live web page and HTTP API here (e.g. 127.0.0.1:8080); any address other
    /// than loopback needs --http-token.
    #[arg(long, value_name = "IP:PORT")]
    pub http: Option<String>,
    /// The bearer token the API asks for. A flag is visible to every user in `ps`: prefer
    /// TUYACTL_HTTP_TOKEN or --http-token-file.
    #[arg(long, env = "TUYACTL_HTTP_TOKEN", hide_env_values = true)]
    pub http_token: Option<String>,
    /// A file whose first line is the token.
    #[arg(long, value_name = "PATH")]
    pub http_token_file: Option<PathBuf>,
    /// devices.json (tinytuya's format).
    #[arg(long)]
    pub devices: Option<PathBuf>,
    /// Topic prefix (tuya-mqtt's default: tuya).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Instance name: client id `tuyactl-NAME` and the topic <prefix>/bridge/NAME/status.
    #[arg(long)]
    pub instance: Option<String>,
    /// Serve only shard K of N of devices.json (a stable hash of each device id).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Home Assistant discovery prefix; "" turns discovery off.
    #[arg(long)]
    pub discovery_prefix: Option<String>,
    /// CA certificate (PEM) of an mqtts:// broker with a private CA.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Do not listen for device announcements (UDP 6666/6667), which show changed protocol
    /// versions and addresses on each device's info topic.
    #[arg(long)]
    pub no_announcements: bool,
    /// When a device refuses its key (it was re-paired), fetch the new one with the stored
    /// cloud login (`tuyactl cloud login`), write it into devices.json and reconnect; at most
    /// one fetch every 10 minutes.
    #[arg(long)]
    pub refresh_keys: bool,
    /// Where the cloud login is kept (default: as `tuyactl cloud`).
    #[arg(long, value_name = "DIR")]
    pub cloud_config_dir: Option<PathBuf>,
    /// Settings file (TOML); flags given on the command line win.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Runs the bridge until SIGINT or SIGTERM.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let file = match &a.config {
        Some(p) => FileConfig::load(p)?,
        None => FileConfig::default(),
    };
    let cfg = BridgeConfig::merge(
        file,
        FileConfig {
            mqtt: a.mqtt,
            http: a.http,
            http_token: a.http_token,
            http_token_file: a.http_token_file,
            devices: a.devices,
            prefix: a.prefix,
            instance: a.instance,
            shard: a.shard,
            discovery_prefix: a.discovery_prefix,
            ca_file: a.ca_file,
            announcements: a.no_announcements.then_some(false),
            refresh_keys: a.refresh_keys.then_some(true),
            cloud_config_dir: a.cloud_config_dir,
            ..FileConfig::default()
        },
    )?;
    let rt = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    rt.block_on(async move {
        tuya_bridge::run(cfg, stop_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// SIGINT (Ctrl-C) or SIGTERM (systemd, docker stop).
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
