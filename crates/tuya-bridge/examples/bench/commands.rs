//! The command round trips of the benchmark: sequential commands on the plugs' DP 1, each
//! timed from publishing it to its state and its result.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rumqttc::QoS;

use super::{Dev, Observer, Startup, COMMAND_WAIT, R};

/// Round trips of one command each (state, result).
pub(crate) struct Trip {
    pub state: Duration,
    pub result: Duration,
}

/// The plugs to command and their DP 1 as last seen.
pub(crate) struct Plugs<'a> {
    pub slugs: Vec<&'a str>,
    dp1: HashMap<&'a str, bool>,
    /// Commands sent so far (the next plug to command).
    sent: usize,
}

impl<'a> Plugs<'a> {
    pub(crate) fn new(devs: &'a [Dev], start: &Startup) -> R<Plugs<'a>> {
        let slugs: Vec<&str> = devs
            .iter()
            .filter(|d| d.name.starts_with("Plug "))
            .map(|d| d.slug.as_str())
            .collect();
        if slugs.is_empty() {
            return Err("no plug (a device named \"Plug …\") to command".into());
        }
        let mut dp1 = HashMap::new();
        for &p in &slugs {
            let t = format!("tuya/{p}/dps/1/state");
            let v = match start.last.get(&t).map(String::as_str) {
                Some("true") => true,
                Some("false") => false,
                other => return Err(format!("{t} is {other:?} after start-up, not true/false")),
            };
            dp1.insert(p, v);
        }
        Ok(Plugs {
            slugs,
            dp1,
            sent: 0,
        })
    }
}

/// `count` sequential commands published with `qos`, each waiting for its state and result.
pub(crate) async fn commands(
    obs: &mut Observer,
    plugs: &mut Plugs<'_>,
    count: usize,
    qos: QoS,
) -> R<Vec<Trip>> {
    let mut trips = Vec::with_capacity(count);
    for _ in 0..count {
        let k = plugs.sent;
        plugs.sent += 1;
        let slug = plugs.slugs[k % plugs.slugs.len()];
        let want = !plugs.dp1[slug];
        let want_text = if want { "true" } else { "false" };
        let (cmd, state, result) = (
            format!("tuya/{slug}/dps/1/command"),
            format!("tuya/{slug}/dps/1/state"),
            format!("tuya/{slug}/result"),
        );
        let t0 = Instant::now();
        obs.client
            .publish(&cmd, qos, false, want_text.as_bytes().to_vec())
            .await
            .map_err(|e| format!("cannot publish {cmd}: {e}"))?;
        let deadline = tokio::time::Instant::now() + COMMAND_WAIT;
        let (mut state_at, mut result_at) = (None, None);
        while state_at.is_none() || result_at.is_none() {
            let Some(m) = obs.next_until(deadline).await? else {
                return Err(format!(
                    "command #{k} ({cmd} = {want_text}): within {COMMAND_WAIT:?} no {}",
                    [
                        state_at.is_none().then(|| format!("{state} = {want_text}")),
                        result_at
                            .is_none()
                            .then(|| format!("{result} with \"ok\":true")),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", no ")
                ));
            };
            if m.topic == state && m.payload == want_text && state_at.is_none() {
                state_at = Some(m.at - t0);
            } else if m.topic == result && result_at.is_none() {
                if m.payload.contains("\"ok\":true") {
                    result_at = Some(m.at - t0);
                } else {
                    return Err(format!("command #{k} ({cmd} = {want_text}): {}", m.payload));
                }
            }
        }
        plugs.dp1.insert(slug, want);
        trips.push(Trip {
            state: state_at.unwrap_or_default(),
            result: result_at.unwrap_or_default(),
        });
    }
    Ok(trips)
}

/// Nearest-rank percentile of sorted durations, in ms.
pub(crate) fn pct(sorted: &[Duration], q: f64) -> f64 {
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

pub(crate) fn trip_line(what: &str, mut v: Vec<Duration>) -> String {
    v.sort();
    format!(
        "{what}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} commands)",
        pct(&v, 0.50),
        pct(&v, 0.90),
        pct(&v, 0.99),
        pct(&v, 1.0),
        v.len()
    )
}
