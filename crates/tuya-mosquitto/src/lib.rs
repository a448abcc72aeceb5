//! A real Mosquitto on a free port of 127.0.0.1, for the bridge's tests and the soak: started,
//! killed (losing every retained message: it runs without persistence, as a broker without a
//! store does) and started again on the same port. Every wait is bounded.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where Debian's package and source builds put Mosquitto.
const CANDIDATES: [&str; 3] = [
    "/usr/sbin/mosquitto",
    "/usr/bin/mosquitto",
    "/usr/local/sbin/mosquitto",
];

/// Why a broker could not be found or started.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// None of the usual places has it.
    #[error("mosquitto is not installed (apt-get install mosquitto; .ci/run does it)")]
    NotInstalled,
    /// The binary named is not there.
    #[error("no Mosquitto at {0}")]
    NotAt(PathBuf),
    /// The process could not be started.
    #[error("starting {bin}: {source}")]
    Spawn {
        /// The binary.
        bin: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Writing its configuration or finding a port failed.
    #[error("preparing mosquitto: {0}")]
    Io(#[from] std::io::Error),
    /// It exits as soon as it starts, again and again.
    #[error("mosquitto keeps exiting: is port {0} taken?")]
    KeepsExiting(u16),
    /// It runs but does not accept connections.
    #[error("nothing listens on 127.0.0.1:{0}")]
    NotListening(u16),
}

/// The Mosquitto binary: `explicit` if given, else the first of the usual places.
pub fn find(explicit: Option<&Path>) -> Result<PathBuf, BrokerError> {
    match explicit {
        Some(p) if p.exists() => Ok(p.into()),
        Some(p) => Err(BrokerError::NotAt(p.into())),
        None => CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or(BrokerError::NotInstalled),
    }
}

/// A port of 127.0.0.1 free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits (at most 5 s) until something accepts connections on 127.0.0.1:`port`.
pub async fn wait_listening(port: u16) -> Result<(), BrokerError> {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(BrokerError::NotListening(port))
}

/// A broker process listening on 127.0.0.1:[`Broker::port`], killed on drop.
pub struct Broker {
    bin: PathBuf,
    child: Option<Child>,
    /// Its (plain MQTT) port on 127.0.0.1.
    pub port: u16,
    /// More configuration lines (other listeners, certificates).
    extra: String,
    dir: tempfile::TempDir,
}

impl Broker {
    /// Starts `bin` on a free port and waits (bounded) until it listens.
    pub async fn start(bin: PathBuf) -> Result<Broker, BrokerError> {
        Self::start_with(bin, "").await
    }

    /// As [`Broker::start`], with `extra` appended to the configuration (e.g. a TLS
    /// `listener` with its `certfile` and `keyfile`); only the plain port is waited for.
    pub async fn start_with(bin: PathBuf, extra: &str) -> Result<Broker, BrokerError> {
        let mut b = Broker {
            bin,
            child: None,
            port: free_port()?,
            extra: extra.to_string(),
            dir: tempfile::tempdir()?,
        };
        b.spawn().await?;
        Ok(b)
    }

    async fn spawn(&mut self) -> Result<(), BrokerError> {
        let conf = self.dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "allow_anonymous true\npersistence false\nmax_queued_messages 100000\nlistener {} 127.0.0.1\n{}",
                self.port, self.extra
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
                .map_err(|source| BrokerError::Spawn {
                    bin: self.bin.clone(),
                    source,
                })?;
            self.child = Some(child);
            if self.listening().await? {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(BrokerError::KeepsExiting(self.port))
    }

    /// Waits until the broker listens (`true`) or exits (`false`), at most 10 s.
    async fn listening(&mut self) -> Result<bool, BrokerError> {
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
        Err(BrokerError::NotListening(self.port))
    }

    /// Kills the broker (every retained message is lost).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub async fn restart(&mut self) -> Result<(), BrokerError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_binary_that_is_missing_is_named() {
        let e = find(Some(Path::new("/nonexistent/mosquitto"))).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/mosquitto"), "{e}");
    }

    #[tokio::test]
    async fn started_killed_and_started_again_on_the_same_port() {
        let mut b = Broker::start(find(None).unwrap()).await.unwrap();
        let port = b.port;
        wait_listening(port).await.unwrap();
        b.kill();
        assert!(tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err());
        b.restart().await.unwrap();
        assert_eq!(b.port, port);
        wait_listening(port).await.unwrap();
    }
}
