//! Incremental reading of pcap and pcapng files: one packet at a time, with memory bounded by
//! the largest packet, never by the file size.

use std::io::Read;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

use crate::CaptureError;

/// Initial read buffer; grown (up to [`MAX_BLOCK`]) when a block does not fit.
const INITIAL_BUFFER: usize = 256 * 1024;
/// Largest capture block accepted. Real packets are at most 256 KiB (the largest snaplen).
const MAX_BLOCK: usize = 4 * 1024 * 1024;
/// Bytes read before probing the format: more than any file header.
const PROBE: usize = 64;
/// Interfaces remembered per pcapng section; more are ignored (their packets are skipped).
const MAX_INTERFACES: usize = 256;

/// A capture timestamp: seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01 UTC.
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl Timestamp {
    /// Seconds as a float (microsecond precision survives for current dates).
    pub fn as_f64(&self) -> f64 {
        self.secs as f64 + f64::from(self.nanos) / 1e9
    }

    /// "HH:MM:SS.micros" in UTC, for one-line output.
    pub fn time_of_day(&self) -> String {
        let s = self.secs.rem_euclid(86_400);
        format!(
            "{:02}:{:02}:{:02}.{:06}",
            s / 3600,
            (s / 60) % 60,
            s % 60,
            self.nanos / 1000
        )
    }

    /// From seconds and a fraction in `units` per second.
    fn from_units(secs: i64, frac: u64, units_per_sec: u64) -> Self {
        let units = units_per_sec.max(1);
        let extra = (frac / units) as i64;
        let rem = frac % units;
        let nanos = (u128::from(rem) * 1_000_000_000 / u128::from(units)) as u32;
        Self {
            secs: secs.saturating_add(extra),
            nanos,
        }
    }
}

/// A data-link type number as pcap files record it (1 Ethernet, 113 Linux cooked, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub i32);

/// One captured packet, as read from the file.
#[derive(Debug, Clone)]
pub struct Packet {
    /// When it was captured.
    pub time: Timestamp,
    /// How the bytes start (Ethernet, Linux cooked, raw IP, …).
    pub link: LinkType,
    /// The captured bytes (possibly fewer than were on the wire: see `orig_len`).
    pub data: Vec<u8>,
    /// The packet's length on the wire.
    pub orig_len: u32,
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    units_per_sec: u64,
    offset: i64,
}

/// Reads packets from a pcap or pcapng stream, one block at a time.
pub struct PacketReader<'r> {
    inner: Box<dyn PcapReaderIterator + Send + 'r>,
    state: State,
    capacity: usize,
    truncated: bool,
    done: bool,
}

impl std::fmt::Debug for PacketReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketReader")
            .field("interfaces", &self.state.interfaces.len())
            .finish()
    }
}

fn format_error(e: &PcapError<&[u8]>) -> CaptureError {
    match e {
        PcapError::HeaderNotRecognized => CaptureError::NotACapture,
        PcapError::ReadError => CaptureError::Read("read failed".into()),
        other => CaptureError::Corrupt(format!("{other:?}").chars().take(120).collect()),
    }
}

impl<'r> PacketReader<'r> {
    /// Starts reading; fails when the stream is empty or is neither pcap nor pcapng.
    pub fn new<R: Read + Send + 'r>(mut input: R) -> Result<Self, CaptureError> {
        // The format probe looks at what one read returns; a pipe may hand over only a few
        // bytes at first, so gather enough for any file header before probing.
        let mut head = Vec::with_capacity(PROBE);
        while head.len() < PROBE {
            let mut buf = [0u8; PROBE];
            match input.read(&mut buf[..PROBE - head.len()]) {
                Ok(0) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CaptureError::Read(e.to_string())),
            }
        }
        let input = std::io::Cursor::new(head).chain(input);
        let inner = match create_reader(INITIAL_BUFFER, input) {
            Ok(r) => r,
            Err(PcapError::Eof) => return Err(CaptureError::Empty),
            Err(PcapError::Incomplete(_)) => return Err(CaptureError::NotACapture),
            Err(e) => return Err(format_error(&e)),
        };
        Ok(Self {
            inner,
            state: State::default(),
            capacity: INITIAL_BUFFER,
            truncated: false,
            done: false,
        })
    }

    /// Whether the file ended in the middle of a block (a capture cut short, e.g. tcpdump
    /// killed while writing). The packets before it are still returned.
    pub fn ended_mid_block(&self) -> bool {
        self.truncated
    }

    /// The next packet, `Ok(None)` at the end of the file.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, CaptureError> {
        while !self.done {
            let step = match self.inner.next() {
                Ok((offset, block)) => {
                    let out = self.state.handle(block);
                    self.inner.consume(offset);
                    match out {
                        Some(p) => return Ok(Some(p)),
                        None => continue,
                    }
                }
                Err(PcapError::Eof) => Step::End,
                Err(PcapError::UnexpectedEof) => Step::Truncated,
                Err(PcapError::Incomplete(_)) => Step::Refill,
                Err(PcapError::BufferTooSmall) => Step::Grow,
                Err(e) => return Err(format_error(&e)),
            };
            match step {
                Step::End => self.done = true,
                Step::Truncated => {
                    self.truncated = true;
                    self.done = true;
                }
                Step::Refill => {
                    let before = self.inner.data().len();
                    if let Err(e) = self.inner.refill() {
                        return Err(format_error(&e));
                    }
                    if self.inner.data().len() > before {
                        continue;
                    }
                    if self.inner.reader_exhausted() {
                        // Leftover bytes at the end are a block cut short.
                        self.truncated = !self.inner.data().is_empty();
                        self.done = true;
                    } else {
                        // Nothing read and not at the end: the buffer is full.
                        self.grow()?;
                    }
                }
                Step::Grow => {
                    self.grow()?;
                    if let Err(e) = self.inner.refill() {
                        return Err(format_error(&e));
                    }
                }
            }
        }
        Ok(None)
    }

    fn grow(&mut self) -> Result<(), CaptureError> {
        let next = self.capacity * 2;
        if next > MAX_BLOCK || !self.inner.grow(next) {
            return Err(CaptureError::Corrupt(format!(
                "a block larger than {MAX_BLOCK} bytes (corrupt file?)"
            )));
        }
        self.capacity = next;
        Ok(())
    }
}

/// What earlier blocks said about the packets that follow.
#[derive(Debug, Default)]
struct State {
    legacy: Option<(LinkType, u64)>,
    interfaces: Vec<Interface>,
}

impl State {
    fn handle(&mut self, block: PcapBlockOwned<'_>) -> Option<Packet> {
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                let units = if h.is_nanosecond_precision() {
                    1_000_000_000
                } else {
                    1_000_000
                };
                self.legacy = Some((LinkType(h.network.0), units));
                None
            }
            PcapBlockOwned::Legacy(b) => {
                let (link, units) = self.legacy?;
                Some(Packet {
                    time: Timestamp::from_units(i64::from(b.ts_sec), u64::from(b.ts_usec), units),
                    link,
                    data: b.data[..b.data.len().min(b.caplen as usize)].to_vec(),
                    orig_len: b.origlen,
                })
            }
            PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                self.interfaces.clear();
                None
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                if self.interfaces.len() < MAX_INTERFACES {
                    self.interfaces.push(Interface {
                        link: LinkType(idb.linktype.0),
                        units_per_sec: idb.ts_resolution().unwrap_or(1_000_000),
                        offset: idb.ts_offset(),
                    });
                }
                None
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let iface = *self.interfaces.get(epb.if_id as usize)?;
                let ts = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let units = iface.units_per_sec.max(1);
                let secs = i64::try_from(ts / units)
                    .unwrap_or(i64::MAX)
                    .saturating_add(iface.offset);
                Some(Packet {
                    time: Timestamp::from_units(secs, ts % units, units),
                    link: iface.link,
                    data: epb.packet_data().to_vec(),
                    orig_len: epb.origlen,
                })
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                let iface = *self.interfaces.first()?;
                Some(Packet {
                    time: Timestamp::default(),
                    link: iface.link,
                    data: spb.packet_data().to_vec(),
                    orig_len: spb.origlen,
                })
            }
            PcapBlockOwned::NG(_) => None,
        }
    }
}

enum Step {
    End,
    Truncated,
    Refill,
    Grow,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> (Vec<Packet>, bool) {
        let mut r = PacketReader::new(bytes).unwrap();
        let mut v = Vec::new();
        while let Some(p) = r.next_packet().unwrap() {
            v.push(p);
        }
        (v, r.ended_mid_block())
    }

    #[test]
    fn big_endian_nanosecond_pcap() {
        let mut b = Vec::new();
        b.extend(0xa1b2_3c4du32.to_be_bytes());
        b.extend(2u16.to_be_bytes());
        b.extend(4u16.to_be_bytes());
        b.extend([0; 8]);
        b.extend(65535u32.to_be_bytes());
        b.extend(101u32.to_be_bytes());
        b.extend(1_700_000_000u32.to_be_bytes());
        b.extend(123_456_789u32.to_be_bytes());
        b.extend(3u32.to_be_bytes());
        b.extend(10u32.to_be_bytes());
        b.extend([0x45, 0, 0]);
        let (p, cut) = read_all(&b);
        assert!(!cut);
        assert_eq!(p.len(), 1);
        assert_eq!(
            p[0].time,
            Timestamp {
                secs: 1_700_000_000,
                nanos: 123_456_789
            }
        );
        assert_eq!(p[0].link, LinkType(101));
        assert_eq!((p[0].data.len(), p[0].orig_len), (3, 10));
    }

    fn pcapng_with_resolution() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(0x0A0D_0D0Au32.to_le_bytes());
        b.extend(28u32.to_le_bytes());
        b.extend(0x1A2B_3C4Du32.to_le_bytes());
        b.extend([1, 0, 0, 0]);
        b.extend((-1i64).to_le_bytes());
        b.extend(28u32.to_le_bytes());
        // Interface 0: Ethernet, default resolution. Interface 1: raw IP, nanoseconds.
        b.extend(1u32.to_le_bytes());
        b.extend(20u32.to_le_bytes());
        b.extend(1u16.to_le_bytes());
        b.extend([0, 0]);
        b.extend(0u32.to_le_bytes());
        b.extend(20u32.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend(32u32.to_le_bytes());
        b.extend(101u16.to_le_bytes());
        b.extend([0, 0]);
        b.extend(0u32.to_le_bytes());
        b.extend([9, 0, 1, 0, 9, 0, 0, 0]); // if_tsresol = 9
        b.extend([0, 0, 0, 0]); // end of options
        b.extend(32u32.to_le_bytes());
        let ns: u64 = 1_700_000_000_123_456_789;
        b.extend(6u32.to_le_bytes());
        b.extend(36u32.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend(((ns >> 32) as u32).to_le_bytes());
        b.extend((ns as u32).to_le_bytes());
        b.extend(2u32.to_le_bytes());
        b.extend(2u32.to_le_bytes());
        b.extend([0x60, 0, 0, 0]);
        b.extend(36u32.to_le_bytes());
        // A packet on an interface that was never described is skipped.
        b.extend(6u32.to_le_bytes());
        b.extend(36u32.to_le_bytes());
        b.extend(7u32.to_le_bytes());
        b.extend([0; 8]);
        b.extend(2u32.to_le_bytes());
        b.extend(2u32.to_le_bytes());
        b.extend([0x60, 0, 0, 0]);
        b.extend(36u32.to_le_bytes());
        b
    }

    #[test]
    fn pcapng_interfaces_and_resolution() {
        let b = pcapng_with_resolution();
        let (p, cut) = read_all(&b);
        assert!(!cut);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].link, LinkType(101));
        assert_eq!(
            p[0].time,
            Timestamp {
                secs: 1_700_000_000,
                nanos: 123_456_789
            }
        );
        assert_eq!(p[0].data, vec![0x60, 0]);
        // Cut inside the last block: the first packet survives, the cut is reported.
        let (p, cut) = read_all(&b[..b.len() - 10]);
        assert!(cut);
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn huge_declared_blocks_are_refused_not_allocated() {
        let mut b = pcapng_with_resolution();
        b.truncate(28 + 20 + 32);
        b.extend(6u32.to_le_bytes());
        b.extend(0x7fff_fff0u32.to_le_bytes());
        b.extend([0u8; 64]);
        let mut r = PacketReader::new(&b[..]).unwrap();
        let mut n = 0;
        loop {
            match r.next_packet() {
                Ok(Some(_)) => n += 1,
                Ok(None) => {
                    assert!(r.ended_mid_block());
                    break;
                }
                Err(e) => {
                    assert!(matches!(e, CaptureError::Corrupt(_)), "{e:?}");
                    break;
                }
            }
        }
        assert_eq!(n, 0);
    }

    /// Hands out one byte per read, as a slow pipe might.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(o)) => {
                    *o = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn a_trickling_pipe_reads_like_a_file() {
        let b = pcapng_with_resolution();
        let mut r = PacketReader::new(Trickle(&b)).unwrap();
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!(p.data, vec![0x60, 0]);
        assert!(r.next_packet().unwrap().is_none());
        assert!(!r.ended_mid_block());
    }

    #[test]
    fn time_of_day() {
        let t = Timestamp {
            secs: 1_700_000_000 + 3600,
            nanos: 5_000,
        };
        assert_eq!(t.time_of_day(), "23:13:20.000005");
        assert!((t.as_f64() - 1_700_003_600.000005).abs() < 1e-6);
    }
}
