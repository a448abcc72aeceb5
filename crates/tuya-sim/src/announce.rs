//! Discovery: periodic announcements, and answers to REQ_DEVINFO (3.5 devices, or as
//! `Firmware::answers_devinfo` says), on a shared listener or on each device's own address.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tuya_proto::discovery::{self, Announcement};

use crate::device::DeviceHandle;
use crate::traffic::{self, Direction};
use crate::{SimError, SimOptions};

/// Receive buffer for REQ_DEVINFO: requests are ~100 bytes; a longer datagram is cut short and
/// then fails to decode, so it is ignored.
const DEVINFO_BUF: usize = 2048;
/// Pause after a socket error, so a failing socket does not spin.
const SOCKET_BACKOFF: Duration = Duration::from_millis(100);

/// The announcement a device sends, as real firmware fills it in.
fn announcement(d: &DeviceHandle) -> Announcement {
    let dev = &d.0;
    Announcement {
        ip: dev.addr.ip().to_string(),
        gw_id: dev.id.clone(),
        product_key: Some(dev.product_key.clone()),
        version: Some(dev.version.as_str().to_string()),
        encrypt: Some(true),
        active: Some(2),
        ability: Some(0),
        mode: Some(0),
        token: None,
        extra: Default::default(),
    }
}

fn iv(counter: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[..4].copy_from_slice(&rand::random::<[u8; 4]>());
    iv[4..].copy_from_slice(&counter.to_be_bytes());
    iv
}

/// Whether a device should speak on UDP now: online and, like real firmware, silent while a
/// client holds its TCP connection.
fn announcing(d: &DeviceHandle) -> bool {
    d.is_online() && !d.is_connected()
}

/// Every device announces once per `interval`, spread evenly over it, from its own address.
pub(crate) fn spawn_announcer(
    devices: Vec<DeviceHandle>,
    interval: Duration,
    opts: &SimOptions,
) -> JoinHandle<()> {
    let target = opts.announce_target;
    let port_override = opts.announce_port_override;
    tokio::spawn(async move {
        let interval = interval.max(Duration::from_millis(10));
        let gap = interval / (devices.len().max(1) as u32);
        let mut counter: u64 = 0;
        loop {
            let round = tokio::time::Instant::now();
            for d in &devices {
                if announcing(d) {
                    counter += 1;
                    let bytes =
                        discovery::encode_announcement(&announcement(d), d.version(), iv(counter));
                    let port =
                        port_override.unwrap_or_else(|| discovery::announce_port(d.version()));
                    send_from(d.addr().ip(), SocketAddr::new(target, port), &bytes).await;
                }
                if !gap.is_zero() {
                    tokio::time::sleep(gap).await;
                }
            }
            tokio::time::sleep_until(round + interval).await;
        }
    })
}

async fn send_from(ip: IpAddr, to: SocketAddr, bytes: &[u8]) {
    let broadcast = matches!(to.ip(), IpAddr::V4(v4) if v4.is_broadcast() || v4.octets()[3] == 255);
    // Real devices send from their own address; fall back to any address if that fails.
    let sock = match UdpSocket::bind(SocketAddr::new(ip, 0)).await {
        Ok(s) => s,
        Err(_) => match UdpSocket::bind("0.0.0.0:0").await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("announce: cannot open a UDP socket: {e}");
                return;
            }
        },
    };
    if broadcast {
        let _ = sock.set_broadcast(true);
    }
    if let Err(e) = sock.send_to(bytes, to).await {
        tracing::debug!("announce to {to} failed: {e}");
    }
}

/// Whether the device answers REQ_DEVINFO now: its firmware does, and it is [`announcing`].
fn answers_devinfo(d: &DeviceHandle) -> bool {
    d.firmware().answers_devinfo_for(d.version()) && announcing(d)
}

/// Answers REQ_DEVINFO datagrams: every online, unconnected device whose firmware answers them
/// (3.5 by default) sends its announcement back to the requester's address.
pub(crate) async fn spawn_devinfo(
    devices: Vec<DeviceHandle>,
    addr: SocketAddr,
) -> Result<JoinHandle<()>, SimError> {
    let sock = UdpSocket::bind(addr)
        .await
        .map_err(|source| SimError::Devinfo { addr, source })?;
    Ok(tokio::spawn(async move {
        let mut buf = vec![0u8; DEVINFO_BUF];
        let mut counter: u64 = 0;
        loop {
            let (n, from) = recv_or_back_off(&sock, &mut buf, "REQ_DEVINFO listener").await;
            match discovery::decode(&buf[..n]) {
                Ok(d) if d.is_devinfo_request() => {}
                Ok(d) => {
                    tracing::debug!("UDP {from}: ignored {} datagram", d.cmd);
                    continue;
                }
                Err(e) => {
                    tracing::debug!("UDP {from}: ignored datagram: {e}");
                    continue;
                }
            }
            for d in devices.iter().filter(|d| answers_devinfo(d)) {
                counter += 1;
                let bytes =
                    discovery::encode_announcement(&announcement(d), d.version(), iv(counter));
                if let Err(e) = sock.send_to(&bytes, from).await {
                    tracing::debug!("REQ_DEVINFO answer to {from}: {e}");
                }
            }
        }
    }))
}

/// Where a unicast REQ_DEVINFO datagram from `from` is answered, or why it is not.
///
/// Real devices answer to `<ip named in the request>:7000`. We answer to that ip at the
/// request's source port instead: tinytuya sends from port 7000, so on a real network it is the
/// same address, while a test's requester sits on an ephemeral port. The named ip must be the
/// sender's own or a loopback address, so the device cannot be made to send to a third party.
fn devinfo_reply_to(datagram: &[u8], from: SocketAddr) -> Result<SocketAddr, String> {
    let d = discovery::decode(datagram).map_err(|e| format!("ignored datagram: {e}"))?;
    if !d.is_devinfo_request() {
        return Err(format!("ignored {} datagram", d.cmd));
    }
    let named = d.payload.get("ip").and_then(|ip| ip.as_str());
    let ip: IpAddr = named
        .and_then(|ip| ip.parse().ok())
        .ok_or_else(|| "REQ_DEVINFO without a valid ip: not answered".to_string())?;
    if ip != from.ip() && !ip.is_loopback() {
        return Err(format!(
            "REQ_DEVINFO names {ip}, neither the sender nor loopback: not answered"
        ));
    }
    Ok(SocketAddr::new(ip, from.port()))
}

/// Binds UDP `<device ip>:port` for every device whose firmware answers REQ_DEVINFO when the
/// simulator starts, and answers unicast requests there with that device's announcement.
/// A device turned off later by `set_firmware` stops answering; one turned on later has no
/// socket.
pub(crate) async fn spawn_devinfo_unicast(
    devices: &[DeviceHandle],
    port: u16,
) -> Result<Vec<JoinHandle<()>>, SimError> {
    let mut tasks = Vec::new();
    for d in devices
        .iter()
        .filter(|d| d.firmware().answers_devinfo_for(d.version()))
    {
        let addr = SocketAddr::new(d.addr().ip(), port);
        let sock = match UdpSocket::bind(addr).await {
            Ok(s) => s,
            Err(source) => {
                tasks.iter().for_each(JoinHandle::abort);
                return Err(SimError::Devinfo { addr, source });
            }
        };
        tasks.push(tokio::spawn(answer_unicast(d.clone(), sock)));
    }
    Ok(tasks)
}

/// The next datagram; a failing socket is retried after a pause instead of spinning.
async fn recv_or_back_off(sock: &UdpSocket, buf: &mut [u8], what: &str) -> (usize, SocketAddr) {
    loop {
        match sock.recv_from(buf).await {
            Ok(x) => return x,
            Err(e) => {
                tracing::debug!("{what}: {e}");
                tokio::time::sleep(SOCKET_BACKOFF).await;
            }
        }
    }
}

async fn answer_unicast(d: DeviceHandle, sock: UdpSocket) {
    let mut buf = vec![0u8; DEVINFO_BUF];
    let mut counter: u64 = 0;
    let what = format!("device {}: REQ_DEVINFO socket", d.id());
    loop {
        let (n, from) = recv_or_back_off(&sock, &mut buf, &what).await;
        let log = |dir: Direction, note: String| {
            d.0.log(|| traffic::event(d.id(), from, dir, None, Some(note)));
        };
        let to = match devinfo_reply_to(&buf[..n], from) {
            Ok(to) => to,
            Err(why) => {
                log(Direction::Drop, why);
                continue;
            }
        };
        if !answers_devinfo(&d) {
            log(
                Direction::Drop,
                "REQ_DEVINFO: offline, connected or not answering: not answered".into(),
            );
            continue;
        }
        counter += 1;
        let bytes = discovery::encode_announcement(&announcement(&d), d.version(), iv(counter));
        match sock.send_to(&bytes, to).await {
            Ok(_) => log(Direction::Tx, format!("REQ_DEVINFO answered to {to}")),
            Err(e) => tracing::debug!("device {}: REQ_DEVINFO answer to {to}: {e}", d.id()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicast_answers_go_only_to_the_sender_or_loopback() {
        let from: SocketAddr = "192.168.1.20:7000".parse().unwrap();
        let req = |ip: &str| discovery::encode_devinfo_request(ip, [1; 12]);
        assert_eq!(devinfo_reply_to(&req("192.168.1.20"), from), Ok(from));
        assert_eq!(
            devinfo_reply_to(&req("127.0.0.1"), from),
            Ok("127.0.0.1:7000".parse().unwrap())
        );
        assert!(devinfo_reply_to(&req("192.168.1.99"), from).is_err());
        assert!(devinfo_reply_to(&req("not an ip"), from).is_err());
        assert!(devinfo_reply_to(b"\x00\x00\x55\xaajunk", from).is_err());
        let a = Announcement {
            ip: "192.168.1.20".into(),
            gw_id: "x".into(),
            ..Default::default()
        };
        let not_a_request = discovery::encode_announcement(&a, tuya_proto::Version::V35, [2; 12]);
        assert!(devinfo_reply_to(&not_a_request, from).is_err());
    }
}
