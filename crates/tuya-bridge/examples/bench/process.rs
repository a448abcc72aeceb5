//! The bridge as a child process, and CPU time of the processes sharing the cores.

use super::*;

/// The bridge child process; killed (SIGKILL) if still running when dropped.
pub(crate) struct Bridge {
    pub(crate) child: Child,
    pub(crate) spawned: Instant,
    pub(crate) log: PathBuf,
}

impl Bridge {
    pub(crate) fn spawn(tuyactl: &Path, port: u16, devices: &Path, log: PathBuf) -> R<Bridge> {
        let mut cmd = Command::new(tuyactl);
        cmd.arg("bridge")
            .arg("--mqtt")
            .arg(format!("mqtt://127.0.0.1:{port}"))
            .arg("--devices")
            .arg(devices)
            .args(["--instance", INSTANCE, "--discovery-prefix", ""]);
        Bridge::spawn_command(cmd, log, false)
    }

    /// Any bridge command (e.g. rustuya-bridge's Python host): stderr (and, with
    /// `stdout_too`, stdout; else nowhere) to `log`.
    pub(crate) fn spawn_command(mut cmd: Command, log: PathBuf, stdout_too: bool) -> R<Bridge> {
        let err = std::fs::File::create(&log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let out = if stdout_too {
            Stdio::from(
                err.try_clone()
                    .map_err(|e| format!("cannot open {}: {e}", log.display()))?,
            )
        } else {
            Stdio::null()
        };
        let spawned = Instant::now();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
        Ok(Bridge {
            child,
            spawned,
            log,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A line of `/proc/<pid>/status`, in kB.
    pub(crate) fn status_kb(&self, field: &str) -> R<u64> {
        let p = format!("/proc/{}/status", self.pid());
        let s = std::fs::read_to_string(&p).map_err(|e| format!("cannot read {p}: {e}"))?;
        s.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| format!("no {field} in {p}"))
    }

    pub(crate) fn cpu(&self) -> R<Duration> {
        cpu_of(self.pid())
    }

    pub(crate) fn alive(&mut self) -> R<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(st)) => Err(format!(
                "the bridge exited early ({st}); its log:\n{}",
                self.log_tail()
            )),
            Err(e) => Err(format!("cannot wait for the bridge: {e}")),
        }
    }

    pub(crate) fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub(crate) fn terminate(&self) -> R<()> {
        let st = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if !st.success() {
            return Err(format!("kill -TERM {} failed", self.pid()));
        }
        Ok(())
    }

    /// Waits (bounded) for the process to exit after SIGTERM.
    pub(crate) async fn wait_exit(&mut self, bound: Duration) -> R<()> {
        let end = Instant::now() + bound;
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) if st.success() => return Ok(()),
                Ok(Some(st)) => return Err(format!("the bridge exited with {st} on SIGTERM")),
                Ok(None) if Instant::now() >= end => {
                    return Err(format!(
                        "the bridge did not exit within {bound:?} of SIGTERM"
                    ))
                }
                Ok(None) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(e) => return Err(format!("cannot wait for the bridge: {e}")),
            }
        }
    }
}

/// CPU time of a process so far: the sum of its threads' run time in
/// `/proc/<pid>/task/*/schedstat` (nanoseconds), else user + system from `/proc/<pid>/stat`
/// (10 ms ticks, too coarse for the 0.1 s a start-up takes). Threads that already ended are
/// not counted by the first; the bridge's runtime keeps its threads.
pub(crate) fn cpu_of(pid: u32) -> R<Duration> {
    if let Some(d) = schedstat_cpu(pid) {
        return Ok(d);
    }
    let p = format!("/proc/{pid}/stat");
    let s = std::fs::read_to_string(&p).map_err(|e| format!("cannot read {p}: {e}"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    match (tick(11), tick(12)) {
        (Some(u), Some(s)) => Ok(Duration::from_millis((u + s) * 10)),
        _ => Err(format!("cannot parse {p}")),
    }
}

fn schedstat_cpu(pid: u32) -> Option<Duration> {
    let mut ns = 0u64;
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        // A thread that ended meanwhile has no file any more: skipped.
        let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) else {
            continue;
        };
        ns += s.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(ns))
}

/// The other processes sharing the cores (`BENCH_PEERS=name=pid,…`, set by bench/bridge.sh).
pub(crate) fn peers() -> R<Vec<(String, u32)>> {
    let mut all = vec![("observer".to_string(), std::process::id())];
    let v = std::env::var("BENCH_PEERS").unwrap_or_default();
    let given: Vec<(String, u32)> = v
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, pid) = p
                .split_once('=')
                .ok_or_else(|| format!("BENCH_PEERS: {p:?} is not name=pid"))?;
            let pid = pid
                .parse()
                .map_err(|_| format!("BENCH_PEERS: bad pid in {p:?}"))?;
            Ok((name.to_string(), pid))
        })
        .collect::<R<_>>()?;
    all.extend(given);
    Ok(all)
}

/// CPU time of each peer so far.
pub(crate) fn peers_cpu(peers: &[(String, u32)]) -> R<Vec<Duration>> {
    peers.iter().map(|(_, pid)| cpu_of(*pid)).collect()
}

pub(crate) fn cpu_text(bridge: Duration, peers: &[(String, u32)], used: &[Duration]) -> String {
    let mut parts = vec![format!("bridge {}", secs(bridge))];
    for ((name, _), d) in peers.iter().zip(used) {
        parts.push(format!("{name} {}", secs(*d)));
    }
    parts.join(", ")
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
