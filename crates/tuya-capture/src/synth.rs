//! Writing small captures: TCP/UDP packets with correct headers and sequence numbers, wrapped in
//! any supported link type and saved as pcap or pcapng. Tests record real exchanges with it, and
//! it is handy for reproducing a bug report without the user's capture.
//!
//! ```
//! use tuya_capture::synth::{CaptureWriter, Format, Link, TcpConversation};
//! use tuya_capture::Timestamp;
//! let mut w = CaptureWriter::new(Format::Pcap, Link::Ethernet);
//! let mut c = TcpConversation::new("127.0.0.1:50000".parse().unwrap(), "127.0.1.5:6668".parse().unwrap());
//! for p in c.open() { w.packet(Timestamp::default(), &p); }
//! let seg = c.send(true, b"hello");
//! w.packet(Timestamp::default(), &seg);
//! assert!(w.into_bytes().len() > 24);
//! ```

use std::net::{IpAddr, SocketAddr};

use etherparse::PacketBuilder;

use crate::reader::Timestamp;

/// File format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap (microsecond timestamps, little-endian).
    Pcap,
    /// pcapng with one interface.
    PcapNg,
}

/// Link layer to wrap IP packets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Ethernet II.
    Ethernet,
    /// Linux cooked capture v1 (`tcpdump -i any`).
    LinuxSll,
    /// Linux cooked capture v2.
    LinuxSll2,
    /// BSD loopback / DLT_NULL (macOS `lo0`).
    Null,
    /// Raw IP.
    Raw,
}

impl Link {
    /// The pcap link-type number.
    pub fn number(self) -> u16 {
        match self {
            Link::Ethernet => 1,
            Link::LinuxSll => 113,
            Link::LinuxSll2 => 276,
            Link::Null => 0,
            Link::Raw => 101,
        }
    }

    fn wrap(self, ip: &[u8]) -> Vec<u8> {
        let v6 = ip.first().is_some_and(|b| b >> 4 == 6);
        let ethertype: u16 = if v6 { 0x86DD } else { 0x0800 };
        let mut out = Vec::with_capacity(ip.len() + 20);
        match self {
            Link::Ethernet => {
                out.extend([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]);
                out.extend(ethertype.to_be_bytes());
            }
            Link::LinuxSll => {
                out.extend([0, 0, 0x03, 0x04, 0, 0]); // packet type, ARPHRD_LOOPBACK, addr len
                out.extend([0; 8]);
                out.extend(ethertype.to_be_bytes());
            }
            Link::LinuxSll2 => {
                out.extend(ethertype.to_be_bytes());
                out.extend([0, 0, 0, 0, 0, 1, 0x03, 0x04, 0, 0]);
                out.extend([0; 8]);
            }
            Link::Null => out.extend(if v6 { 30u32 } else { 2u32 }.to_le_bytes()),
            Link::Raw => {}
        }
        out.extend_from_slice(ip);
        out
    }
}

/// Builds a capture file in memory.
#[derive(Debug)]
pub struct CaptureWriter {
    format: Format,
    link: Link,
    buf: Vec<u8>,
}

impl CaptureWriter {
    /// Starts a file (writes the file header).
    pub fn new(format: Format, link: Link) -> Self {
        let mut buf = Vec::new();
        match format {
            Format::Pcap => {
                buf.extend(0xa1b2_c3d4u32.to_le_bytes());
                buf.extend(2u16.to_le_bytes());
                buf.extend(4u16.to_le_bytes());
                buf.extend([0; 8]);
                buf.extend(262_144u32.to_le_bytes());
                buf.extend(u32::from(link.number()).to_le_bytes());
            }
            Format::PcapNg => {
                // Section header block.
                buf.extend(0x0A0D_0D0Au32.to_le_bytes());
                buf.extend(28u32.to_le_bytes());
                buf.extend(0x1A2B_3C4Du32.to_le_bytes());
                buf.extend(1u16.to_le_bytes());
                buf.extend(0u16.to_le_bytes());
                buf.extend((-1i64).to_le_bytes());
                buf.extend(28u32.to_le_bytes());
                // Interface description block, default microsecond resolution.
                buf.extend(1u32.to_le_bytes());
                buf.extend(20u32.to_le_bytes());
                buf.extend(link.number().to_le_bytes());
                buf.extend(0u16.to_le_bytes());
                buf.extend(262_144u32.to_le_bytes());
                buf.extend(20u32.to_le_bytes());
            }
        }
        Self { format, link, buf }
    }

    /// Appends an IP packet, wrapped in the link layer.
    pub fn packet(&mut self, time: Timestamp, ip: &[u8]) {
        let frame = self.link.wrap(ip);
        self.raw(time, &frame, frame.len());
    }

    /// Appends an IP packet of which only the first `keep` bytes of the link-layer frame were
    /// captured (as a snap length does).
    pub fn packet_cut(&mut self, time: Timestamp, ip: &[u8], keep: usize) {
        let frame = self.link.wrap(ip);
        let keep = keep.min(frame.len());
        self.raw_with_orig(time, &frame[..keep], frame.len());
    }

    fn raw(&mut self, time: Timestamp, data: &[u8], orig: usize) {
        self.raw_with_orig(time, data, orig)
    }

    fn raw_with_orig(&mut self, time: Timestamp, data: &[u8], orig: usize) {
        let usec = (time.secs.max(0) as u64)
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(time.nanos / 1000));
        match self.format {
            Format::Pcap => {
                self.buf.extend((time.secs as u32).to_le_bytes());
                self.buf.extend((time.nanos / 1000).to_le_bytes());
                self.buf.extend((data.len() as u32).to_le_bytes());
                self.buf.extend((orig as u32).to_le_bytes());
                self.buf.extend_from_slice(data);
            }
            Format::PcapNg => {
                let padded = data.len().div_ceil(4) * 4;
                let total = (32 + padded) as u32;
                self.buf.extend(6u32.to_le_bytes());
                self.buf.extend(total.to_le_bytes());
                self.buf.extend(0u32.to_le_bytes());
                self.buf.extend(((usec >> 32) as u32).to_le_bytes());
                self.buf.extend((usec as u32).to_le_bytes());
                self.buf.extend((data.len() as u32).to_le_bytes());
                self.buf.extend((orig as u32).to_le_bytes());
                self.buf.extend_from_slice(data);
                self.buf
                    .extend(std::iter::repeat_n(0u8, padded - data.len()));
                self.buf.extend(total.to_le_bytes());
            }
        }
    }

    /// The finished file.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// TCP flags of a synthesized segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// SYN.
    pub syn: bool,
    /// ACK.
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
}

/// An IP packet carrying one TCP segment. Both addresses must be the same IP family.
pub fn tcp_packet(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: Flags,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64),
        (s, d) => PacketBuilder::ipv6(v6(s), v6(d), 64),
    }
    .tcp(src.port(), dst.port(), seq, 65_535);
    if flags.syn {
        b = b.syn();
    }
    if flags.ack {
        b = b.ack(ack);
    }
    if flags.fin {
        b = b.fin();
    }
    if flags.rst {
        b = b.rst();
    }
    let mut out = Vec::with_capacity(b.size(payload.len()));
    // Writing into a Vec cannot fail; a too-large payload is the only error, and callers
    // build small packets.
    let _ = b.write(&mut out, payload);
    out
}

/// An IP packet carrying one UDP datagram.
pub fn udp_packet(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let b = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64),
        (s, d) => PacketBuilder::ipv6(v6(s), v6(d), 64),
    }
    .udp(src.port(), dst.port());
    let mut out = Vec::with_capacity(b.size(payload.len()));
    let _ = b.write(&mut out, payload);
    out
}

fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

/// Keeps the sequence numbers of a TCP connection between an app and a device.
#[derive(Debug, Clone)]
pub struct TcpConversation {
    /// The app's address.
    pub client: SocketAddr,
    /// The device's address.
    pub device: SocketAddr,
    /// Next sequence number of the app and of the device.
    pub next: [u32; 2],
}

impl TcpConversation {
    /// A connection with fixed initial sequence numbers (chosen near the wrap point so tests
    /// cover sequence wrap-around).
    pub fn new(client: SocketAddr, device: SocketAddr) -> Self {
        Self {
            client,
            device,
            next: [0xFFFF_FF00, 0x1000_0000],
        }
    }

    fn ends(&self, from_client: bool) -> (SocketAddr, SocketAddr, usize) {
        if from_client {
            (self.client, self.device, 0)
        } else {
            (self.device, self.client, 1)
        }
    }

    /// The three-way handshake.
    pub fn open(&mut self) -> Vec<Vec<u8>> {
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        let synack = Flags {
            syn: true,
            ack: true,
            ..Flags::default()
        };
        let ack = Flags {
            ack: true,
            ..Flags::default()
        };
        let p1 = tcp_packet(self.client, self.device, self.next[0], 0, syn, &[]);
        self.next[0] = self.next[0].wrapping_add(1);
        let p2 = tcp_packet(
            self.device,
            self.client,
            self.next[1],
            self.next[0],
            synack,
            &[],
        );
        self.next[1] = self.next[1].wrapping_add(1);
        let p3 = tcp_packet(
            self.client,
            self.device,
            self.next[0],
            self.next[1],
            ack,
            &[],
        );
        vec![p1, p2, p3]
    }

    /// The next data segment from one side (and advances its sequence number).
    pub fn send(&mut self, from_client: bool, payload: &[u8]) -> Vec<u8> {
        let (s, d, i) = self.ends(from_client);
        let flags = Flags {
            ack: true,
            ..Flags::default()
        };
        let p = tcp_packet(s, d, self.next[i], self.next[1 - i], flags, payload);
        self.next[i] = self.next[i].wrapping_add(payload.len() as u32);
        p
    }

    /// A segment at an explicit sequence number (for retransmissions and reordering tests);
    /// does not advance anything.
    pub fn segment_at(&self, from_client: bool, seq: u32, payload: &[u8]) -> Vec<u8> {
        let (s, d, i) = self.ends(from_client);
        let flags = Flags {
            ack: true,
            ..Flags::default()
        };
        tcp_packet(s, d, seq, self.next[1 - i], flags, payload)
    }

    /// A FIN from one side.
    pub fn fin(&mut self, from_client: bool) -> Vec<u8> {
        let (s, d, i) = self.ends(from_client);
        let flags = Flags {
            ack: true,
            fin: true,
            ..Flags::default()
        };
        let p = tcp_packet(s, d, self.next[i], self.next[1 - i], flags, &[]);
        self.next[i] = self.next[i].wrapping_add(1);
        p
    }
}
