//! The scan's first pass: a unicast REQ_DEVINFO to every host of the range. Devices that
//! listen on UDP 7000 answer with their announcement, addressed to the IP our request names,
//! which also works across routed VLANs where broadcasts do not pass.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::time::{timeout, timeout_at, Instant};
use tuya_proto::discovery::{self, Announcement};
use tuya_proto::entropy::random_bytes;

use super::ScanConfig;

/// Asks every host; returns the announcements heard, by the address they came from.
pub(super) async fn ask(
    hosts: &[IpAddr],
    port: u16,
    cfg: &ScanConfig,
) -> HashMap<IpAddr, Announcement> {
    let mut heard = HashMap::new();
    let Some(first) = hosts.first() else {
        return heard;
    };
    let bind = cfg
        .devinfo_bind
        .unwrap_or(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port));
    let sock = match crate::discovery::bind_udp(bind) {
        Ok(s) => s,
        Err(e) => {
            // Only an optimisation: the TCP pass finds these devices too.
            tracing::info!("REQ_DEVINFO pass skipped: {e}");
            return heard;
        }
    };
    let Some(reply_ip) = our_address(bind, SocketAddr::new(*first, port)) else {
        tracing::info!("REQ_DEVINFO pass skipped: no route to {first}");
        return heard;
    };
    let wanted: HashSet<IpAddr> = hosts.iter().copied().collect();
    let mut rng = rand::rngs::OsRng;
    let mut buf = vec![0u8; 2048];
    let mut deadline = Instant::now() + cfg.devinfo_wait;
    for ip in hosts {
        let req = discovery::encode_devinfo_request(&reply_ip.to_string(), random_bytes(&mut rng));
        let to = SocketAddr::new(*ip, port);
        if let Ok(Err(e)) = timeout(cfg.write_timeout, sock.send_to(&req, to)).await {
            tracing::debug!("REQ_DEVINFO to {to}: {e}");
        }
        // Answers already waiting: read them now so a large range does not overflow the
        // socket's receive buffer.
        while let Ok((n, from)) = sock.try_recv_from(&mut buf) {
            record(&buf[..n], from, &wanted, &mut heard);
        }
        deadline = Instant::now() + cfg.devinfo_wait;
    }
    while let Ok(Ok((n, from))) = timeout_at(deadline, sock.recv_from(&mut buf)).await {
        record(&buf[..n], from, &wanted, &mut heard);
    }
    heard
}

fn record(
    datagram: &[u8],
    from: SocketAddr,
    wanted: &HashSet<IpAddr>,
    heard: &mut HashMap<IpAddr, Announcement>,
) {
    // Only hosts of the range count (and at most one answer each): nothing else is trusted.
    if !wanted.contains(&from.ip()) {
        return;
    }
    let Ok(d) = discovery::decode(datagram) else {
        return;
    };
    if let Some(a) = d.announcement() {
        if !a.gw_id.is_empty() {
            heard.entry(from.ip()).or_insert(a);
        }
    }
}

/// The address devices should answer to: the bound one, or the source address the routing
/// table picks toward the range (a connected UDP socket sends nothing).
fn our_address(bind: SocketAddr, toward: SocketAddr) -> Option<IpAddr> {
    if !bind.ip().is_unspecified() {
        return Some(bind.ip());
    }
    let probe = std::net::UdpSocket::bind(SocketAddr::new(bind.ip(), 0)).ok()?;
    probe.connect(toward).ok()?;
    Some(probe.local_addr().ok()?.ip())
}
