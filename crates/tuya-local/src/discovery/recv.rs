//! One socket's receive loop: datagrams into the table, and a socket that keeps failing backed
//! off from instead of spun on.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tuya_proto::discovery as proto;

use super::table::Table;
use super::DiscoveryEvent;

/// The pause after a failed receive; it doubles with each failure in a row, up to
/// [`RECV_BACKOFF_MAX`], and is back to this after a datagram is received.
pub const RECV_BACKOFF_MIN: Duration = Duration::from_millis(50);
/// The longest pause between two receives on a socket that keeps failing.
pub const RECV_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Where datagrams come from: a UDP socket, or a stand-in in tests.
pub(crate) trait Datagrams: Send + Sync + 'static {
    /// Receives one datagram into `buf`.
    fn recv_from<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send + 'a;
}

impl Datagrams for UdpSocket {
    fn recv_from<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send + 'a {
        UdpSocket::recv_from(self, buf)
    }
}

pub(crate) type Shared = Arc<Mutex<Table>>;

/// Receives until the listener is dropped (`tx` closed). `name` says which socket in logs.
pub(crate) async fn run<S: Datagrams>(
    sock: Arc<S>,
    name: String,
    table: Shared,
    tx: mpsc::Sender<DiscoveryEvent>,
) {
    let mut buf = vec![0u8; 4096];
    let mut failures: u32 = 0;
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // A socket that keeps failing (an interface gone, buffers exhausted) would
                // otherwise be polled in a tight loop: wait longer after each failure.
                let pause = backoff(failures);
                if failures == 0 {
                    tracing::warn!(
                        "discovery: receiving on {name} failed: {e}; retrying in {pause:?}, then less often while it keeps failing"
                    );
                } else {
                    tracing::debug!("discovery: receiving on {name} failed again: {e}");
                }
                failures = failures.saturating_add(1);
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        if failures > 0 {
            tracing::info!("discovery: receiving on {name} again after {failures} failures");
            failures = 0;
        }
        let d = match proto::decode(&buf[..n]) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!("datagram from {from} not understood: {e}");
                continue;
            }
        };
        let now = tokio::time::Instant::now().into_std();
        let ev = match table.lock() {
            Ok(mut t) => t.heard(&d, from, now),
            Err(_) => return,
        };
        if let Some(ev) = ev {
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    }
}

/// The pause after `failures` failures in a row (0: the first).
fn backoff(failures: u32) -> Duration {
    RECV_BACKOFF_MIN
        .saturating_mul(1u32 << failures.min(16))
        .min(RECV_BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::time::Instant;
    use tuya_proto::discovery::{encode_announcement, Announcement};
    use tuya_proto::Version;

    /// Fails `fail_first` receives, delivers one announcement, fails `fail_after` more, then
    /// waits forever; records when each receive was asked for.
    struct Flaky {
        fail_first: usize,
        fail_after: usize,
        calls: AtomicUsize,
        at: Mutex<Vec<Instant>>,
        done: tokio::sync::Notify,
    }

    impl Datagrams for Flaky {
        async fn recv_from<'a>(&'a self, buf: &'a mut [u8]) -> io::Result<(usize, SocketAddr)> {
            self.at.lock().unwrap().push(Instant::now());
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if n == self.fail_first {
                let a = Announcement {
                    ip: "127.61.0.5".into(),
                    gw_id: "dev".into(),
                    ..Default::default()
                };
                let b = encode_announcement(&a, Version::V33, [0; 12]);
                buf[..b.len()].copy_from_slice(&b);
                return Ok((b.len(), "127.61.0.5:6667".parse().unwrap()));
            }
            if n > self.fail_first + self.fail_after {
                self.done.notify_one();
                std::future::pending::<()>().await;
            }
            Err(io::Error::other("interface went away"))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_socket_is_retried_with_capped_exponential_backoff() {
        let sock = Arc::new(Flaky {
            fail_first: 14,
            fail_after: 3,
            calls: AtomicUsize::new(0),
            at: Mutex::new(Vec::new()),
            done: tokio::sync::Notify::new(),
        });
        let table = Arc::new(Mutex::new(Table::new(10, Duration::from_secs(300))));
        let (tx, mut rx) = mpsc::channel(4);
        let task = tokio::spawn(run(sock.clone(), "test".into(), table, tx));
        sock.done.notified().await;
        task.abort();
        assert_eq!(
            rx.recv().await.map(|e| e.device().id.clone()),
            Some("dev".into())
        );
        let at = sock.at.lock().unwrap().clone();
        let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
        // 14 failures: 50 ms, 100 ms, ... doubling, then capped; the announcement comes right
        // after the last pause; the failures after it start again from 50 ms.
        let want: Vec<Duration> = (0..14)
            .map(backoff)
            .chain([Duration::ZERO])
            .chain((0..3).map(backoff))
            .collect();
        assert_eq!(gaps, want);
        assert_eq!(gaps[0], RECV_BACKOFF_MIN);
        assert_eq!(gaps[13], RECV_BACKOFF_MAX);
    }
}
