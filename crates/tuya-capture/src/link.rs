//! From a captured packet to a TCP segment or UDP datagram: link layers (Ethernet with VLAN
//! tags, Linux cooked SLL and SLL2, BSD loopback / DLT_NULL, raw IP) are peeled here with bounds
//! checks; IPv4/IPv6 and TCP/UDP headers are parsed by `etherparse` in lax mode so a packet cut
//! short by the snap length still yields its headers.

use std::net::{IpAddr, SocketAddr};

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};

use crate::reader::LinkType;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88A8;

/// A TCP segment's fields that reassembly needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number of the first payload byte (or of the SYN).
    pub seq: u32,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// ACK flag.
    pub ack: bool,
    /// The captured payload.
    pub payload: &'a [u8],
    /// The capture holds fewer payload bytes than were sent (snap length).
    pub truncated: bool,
}

/// A UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// The captured payload.
    pub payload: &'a [u8],
    /// The capture holds fewer payload bytes than were sent.
    pub truncated: bool,
}

/// What a packet carries, as far as this crate cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport<'a> {
    /// A TCP segment.
    Tcp(TcpSegment<'a>),
    /// A UDP datagram.
    Udp(UdpDatagram<'a>),
}

/// The IP packet inside a link-layer frame, or `None` for non-IP traffic and unknown link types.
pub fn ip_payload(link: LinkType, data: &[u8]) -> Option<&[u8]> {
    match link.0 {
        // Ethernet
        1 => {
            let mut at = 12;
            let mut ethertype = be16(data, at)?;
            let mut tags = 0;
            while (ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ) && tags < 2 {
                at += 4;
                tags += 1;
                ethertype = be16(data, at)?;
            }
            ip_by_ethertype(ethertype, data.get(at + 2..)?)
        }
        // Linux cooked v1: protocol at 14, 16-byte header.
        113 => ip_by_ethertype(be16(data, 14)?, data.get(16..)?),
        // Linux cooked v2: protocol first, 20-byte header.
        276 => ip_by_ethertype(be16(data, 0)?, data.get(20..)?),
        // DLT_NULL: address family in the capturing host's byte order; DLT_LOOP: big-endian.
        0 | 108 => {
            let fam = data.get(..4)?;
            let le = u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]]);
            let be = u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]]);
            // 2 = AF_INET everywhere; 24, 28, 30 = AF_INET6 on the BSDs and macOS.
            let known = |f: u32| matches!(f, 2 | 10 | 24 | 28 | 30);
            if known(le) || known(be) {
                data.get(4..)
            } else {
                None
            }
        }
        // Raw IP (101, and 12/14 on some systems), or explicitly IPv4 / IPv6.
        101 | 12 | 14 | 228 | 229 => Some(data),
        _ => None,
    }
}

fn ip_by_ethertype(ethertype: u16, rest: &[u8]) -> Option<&[u8]> {
    match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Some(rest),
        _ => None,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// Parses a captured packet down to TCP or UDP. Fragments, ICMP and anything else give `None`.
pub fn parse(link: LinkType, data: &[u8]) -> Option<Transport<'_>> {
    let ip = ip_payload(link, data)?;
    let sliced = LaxSlicedPacket::from_ip(ip).ok()?;
    let (src, dst, incomplete) = match sliced.net.as_ref()? {
        LaxNetSlice::Ipv4(v4) => (
            IpAddr::V4(v4.header().source_addr()),
            IpAddr::V4(v4.header().destination_addr()),
            v4.payload().incomplete,
        ),
        LaxNetSlice::Ipv6(v6) => (
            IpAddr::V6(v6.header().source_addr()),
            IpAddr::V6(v6.header().destination_addr()),
            v6.payload().incomplete,
        ),
        LaxNetSlice::Arp(_) => return None,
    };
    match sliced.transport? {
        TransportSlice::Tcp(t) => Some(Transport::Tcp(TcpSegment {
            src: SocketAddr::new(src, t.source_port()),
            dst: SocketAddr::new(dst, t.destination_port()),
            seq: t.sequence_number(),
            syn: t.syn(),
            fin: t.fin(),
            rst: t.rst(),
            ack: t.ack(),
            payload: t.payload(),
            truncated: incomplete,
        })),
        TransportSlice::Udp(u) => Some(Transport::Udp(UdpDatagram {
            src: SocketAddr::new(src, u.source_port()),
            dst: SocketAddr::new(dst, u.destination_port()),
            payload: u.payload(),
            truncated: incomplete,
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_unknown_links_give_nothing() {
        for link in [0, 1, 101, 108, 113, 276, 9999] {
            assert_eq!(parse(LinkType(link), &[]), None);
            assert_eq!(parse(LinkType(link), &[0x45, 0, 0]), None);
        }
        // Ethernet carrying ARP
        let mut arp = vec![0u8; 12];
        arp.extend([0x08, 0x06]);
        arp.extend([0u8; 28]);
        assert_eq!(ip_payload(LinkType(1), &arp), None);
    }

    #[test]
    fn vlan_tags_are_skipped() {
        let mut f = vec![0u8; 12];
        f.extend([0x81, 0x00, 0, 5, 0x08, 0x00]);
        f.extend([0x45, 1, 2]);
        assert_eq!(ip_payload(LinkType(1), &f), Some(&[0x45, 1, 2][..]));
    }
}
