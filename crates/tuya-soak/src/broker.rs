//! A real Mosquitto on a free port of 127.0.0.1, killed and started again on the same port.
//! (tuya-bridge's tests have the same spawner in their `common` module; it is not a library,
//! so this is a copy to fold later.)

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Where Debian and source builds put Mosquitto.
const CANDIDATES: [&str; 3] = [
    "/usr/sbin/mosquitto",
    "/usr/bin/mosquitto",
    "/usr/local/sbin/mosquitto",
];

/// The Mosquitto binary: `explicit` if given, else the first of the usual places.
pub fn find(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if p.exists() {
            return Ok(p.into());
        }
        bail!("no Mosquitto at {}", p.display());
    }
    CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .context("mosquitto is not installed (apt-get install mosquitto), or pass --mosquitto PATH")
}

/// A broker process without persistence: a restart loses every retained message, as a real
/// broker without a store does.
pub struct Broker {
    bin: PathBuf,
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Broker {
    /// Starts a broker on a free port and waits (bounded) until it listens.
    pub async fn start(bin: PathBuf) -> Result<Broker> {
        let mut b = Broker {
            bin,
            child: None,
            port: free_port()?,
            dir: tempfile::tempdir()?,
        };
        b.spawn().await?;
        Ok(b)
    }

    async fn spawn(&mut self) -> Result<()> {
        let conf = self.dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n",
                self.port
            ),
        )?;
        // A port just freed by the previous broker can take a moment to bind again: a broker
        // that exits at once is started again, a few times.
        for _ in 0..20 {
            let child = Command::new(&self.bin)
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", self.bin.display()))?;
            self.child = Some(child);
            if self.listening().await? {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("mosquitto keeps exiting: is port {} taken?", self.port)
    }

    /// Waits until the broker listens (`true`) or exits (`false`).
    async fn listening(&mut self) -> Result<bool> {
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(true);
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(_)) = c.try_wait() {
                    self.child = None;
                    return Ok(false);
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("mosquitto did not listen on port {}", self.port)
    }

    /// Kills the broker (every retained message is lost).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn().await
    }

    /// `mqtt://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}
