//! `tuyactl cloud`: get the local keys once from Tuya's cloud — with the app's QR login or a
//! developer project — into devices.json, then never need the cloud again.

use std::path::PathBuf;
use std::process::ExitCode;

use tuya_cloud::Store;

mod devices;
mod login;

/// Arguments of `tuyactl cloud`.
#[derive(clap::Args)]
pub struct Args {
    /// Where the login is kept (default: $TUYACTL_CONFIG_DIR, else the platform's
    /// configuration folder, e.g. ~/.config/tuyactl).
    #[arg(long, global = true, value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// Call this base URL instead of Tuya's (the login host, the account's API host, or the
    /// developer region's host): a proxy, or a local test server (plain http:// only to
    /// loopback addresses).
    #[arg(long, global = true, value_name = "URL")]
    endpoint: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Log in with the Smart Life / Tuya Smart app: scan a QR code, no developer account.
    Login(login::LoginArgs),
    /// Store a Tuya developer project's credentials (for those who have one).
    Setup(login::SetupArgs),
    /// List the account's devices with their local keys; --write merges them into
    /// devices.json.
    Devices(devices::Args),
    /// Show which login is stored (never its secrets).
    Status,
    /// Forget the stored login.
    Logout,
}

impl Args {
    fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::locate(self.config_dir.as_deref())?)
    }
}

/// Runs `tuyactl cloud`.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let store = a.store()?;
    let endpoint = a.endpoint.as_deref();
    match a.command {
        Cmd::Login(l) => login::login(&store, endpoint, l),
        Cmd::Setup(s) => login::setup(&store, endpoint, s),
        Cmd::Devices(d) => devices::run(&store, endpoint, d),
        Cmd::Status => status(&store),
        Cmd::Logout => logout(&store),
    }
}

fn status(store: &Store) -> anyhow::Result<ExitCode> {
    let c = store.load()?;
    let path = store.path();
    match c.method() {
        None => {
            println!("no cloud login in {}", store.dir().display());
            return Ok(ExitCode::FAILURE);
        }
        Some(m) => println!("using the {} login ({})", method_name(m), path.display()),
    }
    if let Some(app) = &c.app {
        let s = &app.session;
        println!(
            "app: {} at {}, token valid until {} (refreshed automatically)",
            if s.username.is_empty() {
                &s.uid
            } else {
                &s.username
            },
            s.endpoint,
            unix_ms_text(s.expires_at_ms())
        );
    }
    if let Some(d) = &c.developer {
        let of = d
            .device_id
            .as_deref()
            .map(|id| format!(", devices of the owner of {id}"))
            .unwrap_or_default();
        println!(
            "developer: project {} in {} ({}){of}",
            d.client_id,
            d.region,
            d.base_url()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn logout(store: &Store) -> anyhow::Result<ExitCode> {
    store.forget()?;
    println!("forgot the cloud login in {}", store.dir().display());
    Ok(ExitCode::SUCCESS)
}

fn method_name(m: tuya_cloud::store::Method) -> &'static str {
    match m {
        tuya_cloud::store::Method::App => "app",
        tuya_cloud::store::Method::Developer => "developer",
    }
}

/// ms since the Unix epoch as RFC 3339 UTC, e.g. `2026-12-01T21:44:00Z`.
fn unix_ms_text(ms: u64) -> String {
    // RFC 3339 ends with the year 9999; a time from a file may be anything.
    if ms >= 253_402_300_799_000 {
        return "beyond the year 9999".into();
    }
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(t).to_string()
}
