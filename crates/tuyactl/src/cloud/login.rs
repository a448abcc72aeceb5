//! `tuyactl cloud login` (the app's QR login) and `tuyactl cloud setup --developer`.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::Value;
use tuya_cloud::login::{self, Poll, QrLogin};
use tuya_cloud::store::{AppLogin, Developer, Method};
use tuya_cloud::{CloudError, OpenApi, Region, Store};

/// Arguments of `tuyactl cloud login`.
#[derive(clap::Args)]
pub struct LoginArgs {
    /// The app's user code (app → Me → ⚙ Settings → Account and Security → User Code);
    /// asked for when omitted.
    #[arg(long, env = "TUYA_USER_CODE")]
    user_code: Option<String>,
    /// The app client id to log in as. The default is the public id of Home Assistant's Tuya
    /// integration, the client this QR login belongs to.
    #[arg(long, default_value = login::CLIENT_ID)]
    client_id: String,
    /// Seconds to wait for the app to scan the code.
    #[arg(long, default_value = "300", value_name = "SECS", value_parser = crate::seconds::parse)]
    wait: Duration,
    /// Seconds between two checks of the login.
    #[arg(long, default_value = "2", value_name = "SECS", value_parser = crate::seconds::parse)]
    poll_interval: Duration,
    /// Print the QR code's text only, not the drawn code.
    #[arg(long)]
    no_qr: bool,
}

/// Arguments of `tuyactl cloud setup`.
#[derive(clap::Args)]
pub struct SetupArgs {
    /// Set up a Tuya developer project (IoT platform): its Access ID and Access Secret.
    #[arg(long)]
    developer: bool,
    /// The project's Access ID / client id.
    #[arg(long, env = "TUYA_CLIENT_ID")]
    client_id: Option<String>,
    /// The project's Access Secret. A flag is visible to every user in `ps`: prefer
    /// TUYA_CLIENT_SECRET, or type it when asked.
    #[arg(long, env = "TUYA_CLIENT_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// The project's data centre: us, us-e, eu, eu-w, cn, in or sg.
    #[arg(long, env = "TUYA_REGION")]
    region: Option<Region>,
    /// A device of the account: its owner's devices are listed (as tinytuya's wizard does).
    /// Without one, every app account linked to the project.
    #[arg(long, env = "TUYA_DEVICE_ID")]
    device_id: Option<String>,
    /// Take what is missing from tinytuya's tinytuya.json.
    #[arg(long, value_name = "FILE")]
    from_tinytuya: Option<PathBuf>,
    /// Store the credentials without checking them with the cloud.
    #[arg(long)]
    no_check: bool,
}

/// One line from standard input after `label` on standard error.
fn ask(label: &str) -> anyhow::Result<String> {
    eprint!("{label}: ");
    let _ = std::io::stderr().flush();
    match crate::keyarg::bounded_line(std::io::stdin().lock(), "standard input")? {
        Some(line) => Ok(line.trim().to_string()),
        None => bail!("{label}: nothing given (standard input is closed)"),
    }
}

/// A secret: typed without echo on a terminal, else one line of standard input.
fn ask_secret(label: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("{label}: ")).context("reading the secret");
    }
    ask(label)
}

fn draw_qr(text: &str) -> anyhow::Result<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).context("drawing the QR code")?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

fn show(login: &QrLogin, no_qr: bool) -> anyhow::Result<()> {
    let text = login.qr_text();
    if !no_qr {
        println!("{}", draw_qr(&text)?);
    }
    println!("Scan this with the Smart Life / Tuya Smart app (the scan icon at the top right of");
    println!("the home screen) and confirm the login in the app. The code's text:");
    println!("  {text}");
    let _ = std::io::stdout().flush();
    Ok(())
}

/// Runs `tuyactl cloud login`.
pub fn login(store: &Store, endpoint: Option<&str>, a: LoginArgs) -> anyhow::Result<ExitCode> {
    let mut config = store.load()?;
    let user_code = match a.user_code {
        Some(c) => c,
        None => ask("User code (app → Me → ⚙ → Account and Security → User Code)")?,
    };
    if user_code.is_empty() {
        bail!("no user code given");
    }
    let host = endpoint.unwrap_or(login::LOGIN_ENDPOINT);
    let (wait, every) = (a.wait, a.poll_interval);
    let deadline = Instant::now() + wait;
    let mut qr = QrLogin::start_at(host, &a.client_id, &user_code)?;
    show(&qr, a.no_qr)?;
    let mut codes = 1;
    let session = loop {
        if Instant::now() >= deadline {
            bail!(
                "the code was not scanned within {} s: run `tuyactl cloud login` again",
                wait.as_secs()
            );
        }
        std::thread::sleep(every.min(deadline.saturating_duration_since(Instant::now())));
        match qr.poll() {
            Ok(Poll::Done(s)) => break s,
            Ok(Poll::Pending) => {}
            // A new code while there is time left (the app shows each for a few minutes).
            Ok(Poll::Expired) if codes < 5 => {
                eprintln!("the QR code expired; here is a new one");
                qr = QrLogin::start_at(host, &a.client_id, &user_code)?;
                show(&qr, a.no_qr)?;
                codes += 1;
            }
            Ok(Poll::Expired) => return Err(CloudError::QrExpired.into()),
            // A network hiccup while waiting is retried at the next poll.
            Err(e @ (CloudError::Transport { .. } | CloudError::Http { .. })) => {
                tracing::info!("polling the login: {e}");
            }
            Err(e) => return Err(e.into()),
        }
    };
    let who = if session.username.is_empty() {
        session.uid.clone()
    } else {
        session.username.clone()
    };
    let api = session.endpoint.clone();
    config.app = Some(AppLogin {
        client_id: a.client_id,
        user_code,
        session,
    });
    config.method = Some(Method::App);
    store.save(&config)?;
    println!("Logged in as {who} ({api}).");
    println!(
        "The session is kept in {} (readable by you only) and refreshed when needed.",
        store.path().display()
    );
    println!("Next: tuyactl cloud devices --write devices.json");
    Ok(ExitCode::SUCCESS)
}

/// What tinytuya's tinytuya.json gives: `{apiKey, apiSecret, apiRegion, apiDeviceID}`.
fn from_tinytuya(path: &std::path::Path, a: &mut SetupArgs) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    a.client_id = a.client_id.take().or_else(|| field("apiKey"));
    a.secret = a.secret.take().or_else(|| field("apiSecret"));
    a.device_id = a.device_id.take().or_else(|| field("apiDeviceID"));
    if a.region.is_none() {
        if let Some(r) = field("apiRegion") {
            a.region = Some(
                r.parse()
                    .with_context(|| format!("in {}", path.display()))?,
            );
        }
    }
    Ok(())
}

/// Runs `tuyactl cloud setup --developer`.
pub fn setup(store: &Store, endpoint: Option<&str>, mut a: SetupArgs) -> anyhow::Result<ExitCode> {
    if !a.developer {
        bail!(
            "`setup` is for a developer project: `tuyactl cloud setup --developer`; with the \
             app alone, use `tuyactl cloud login`"
        );
    }
    if let Some(p) = a.from_tinytuya.clone() {
        from_tinytuya(&p, &mut a)?;
    }
    let client_id = match a.client_id.take() {
        Some(c) => c,
        None => ask("Access ID (client id)")?,
    };
    let secret = match a.secret.take() {
        Some(s) => s,
        None => ask_secret("Access Secret")?,
    };
    let region = match a.region {
        Some(r) => r,
        None => ask("Data centre (us, us-e, eu, eu-w, cn, in, sg)")?.parse()?,
    };
    if client_id.is_empty() || secret.is_empty() {
        bail!("both the Access ID and the Access Secret are needed");
    }
    let dev = Developer {
        client_id,
        secret,
        region,
        endpoint: endpoint.map(str::to_string),
        device_id: a.device_id.filter(|d| !d.is_empty()),
    };
    if !a.no_check {
        OpenApi::new(&dev.client_id, &dev.secret, &dev.base_url())?
            .check()
            .context("checking the credentials (--no-check stores them unchecked)")?;
    }
    let mut config = store.load()?;
    config.developer = Some(dev);
    config.method = Some(Method::Developer);
    store.save(&config)?;
    println!(
        "Stored the developer project in {} (readable by you only){}.",
        store.path().display(),
        if a.no_check {
            ""
        } else {
            "; the cloud accepted it"
        }
    );
    println!("Next: tuyactl cloud devices --write devices.json");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_qr_code_is_drawn() {
        let q = super::draw_qr("tuyaSmart--qrLogin?token=AZ123").unwrap();
        assert!(q.lines().count() > 10 && q.contains('█'), "{q}");
    }
}
