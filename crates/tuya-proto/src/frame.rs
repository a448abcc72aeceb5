//! Frame boundaries: the 000055AA and 00006699 envelopes, and a streaming splitter that finds
//! whole frames in a byte stream of any chunking.
//!
//! This layer knows lengths, prefixes and suffixes only; authentication and decryption live in
//! [`crate::codec`].

use crate::Error;

/// Prefix of 3.1–3.4 frames.
pub const PREFIX_55AA: u32 = 0x0000_55AA;
/// Suffix of 3.1–3.4 frames.
pub const SUFFIX_55AA: u32 = 0x0000_AA55;
/// Prefix of 3.5 frames.
pub const PREFIX_6699: u32 = 0x0000_6699;
/// Suffix of 3.5 frames.
pub const SUFFIX_6699: u32 = 0x0000_9966;

/// Length of the 55AA header: prefix, seq, cmd, len.
pub const HEADER_55AA: usize = 16;
/// Length of the 6699 header: prefix, 2 reserved bytes, seq, cmd, len.
pub const HEADER_6699: usize = 18;

/// Default cap on a frame's declared length. Real devices send at most a few KiB.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;

/// Which envelope a frame uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prefix {
    /// 000055AA … 0000AA55 (3.1–3.4).
    P55aa,
    /// 00006699 … 00009966 (3.5).
    P6699,
}

impl Prefix {
    /// "55aa" or "6699".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::P55aa => "55aa",
            Self::P6699 => "6699",
        }
    }
}

/// Header fields of a complete frame, read without any key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Envelope kind.
    pub prefix: Prefix,
    /// Sequence number.
    pub seq: u32,
    /// Raw command number.
    pub cmd: u32,
    /// The length field as declared.
    pub len: u32,
    /// Total frame size in bytes, prefix to suffix.
    pub total: usize,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads the header of the frame at the start of `buf`, checking the prefix and the length cap.
///
/// Returns `Ok(None)` when more bytes are needed to know the frame's size.
pub fn peek_header(buf: &[u8], max_len: usize) -> Result<Option<FrameHeader>, Error> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let prefix = match be32(buf, 0) {
        PREFIX_55AA => Prefix::P55aa,
        PREFIX_6699 => Prefix::P6699,
        other => return Err(Error::BadPrefix(other)),
    };
    let (hlen, seq_at, min, extra) = match prefix {
        // len counts retcode? + payload + trailer(≥4) + suffix(4)
        Prefix::P55aa => (HEADER_55AA, 4, 8usize, 0usize),
        // len counts iv + ciphertext + tag; the suffix comes after it.
        Prefix::P6699 => (HEADER_6699, 6, 28usize, 4usize),
    };
    if buf.len() < hlen {
        return Ok(None);
    }
    let seq = be32(buf, seq_at);
    let cmd = be32(buf, seq_at + 4);
    let len = be32(buf, seq_at + 8);
    let l = len as usize;
    if l > max_len {
        return Err(Error::TooLong {
            declared: l,
            limit: max_len,
        });
    }
    if l < min {
        return Err(Error::TooShort(l));
    }
    Ok(Some(FrameHeader {
        prefix,
        seq,
        cmd,
        len,
        total: hlen + l + extra,
    }))
}

/// Checks that `frame` is exactly one complete frame and returns its header.
pub fn check_frame(frame: &[u8], max_len: usize) -> Result<FrameHeader, Error> {
    let h = peek_header(frame, max_len)?.ok_or(Error::Truncated {
        needed: HEADER_55AA,
        have: frame.len(),
    })?;
    if frame.len() < h.total {
        return Err(Error::Truncated {
            needed: h.total,
            have: frame.len(),
        });
    }
    let suffix = be32(frame, h.total - 4);
    let want = match h.prefix {
        Prefix::P55aa => SUFFIX_55AA,
        Prefix::P6699 => SUFFIX_6699,
    };
    if suffix != want {
        return Err(Error::BadSuffix(suffix));
    }
    Ok(h)
}

/// Splits a byte stream into frames, whatever the chunking.
///
/// Garbage before a frame is skipped by searching for the next prefix; a declared length above
/// the cap is reported as an error and skipped, never allocated. Memory stays bounded by the cap
/// plus the largest chunk fed.
///
/// ```
/// use tuya_proto::frame::FrameSplitter;
/// let hb = hex_literal("000055aa00000000000000090000000c00000000b051ab030000aa55");
/// let mut s = FrameSplitter::new();
/// let mut frames = vec![];
/// s.feed(&[0xde, 0xad]); // garbage first
/// for b in &hb { s.feed(&[*b]); while let Some(f) = s.next_frame() { frames.push(f.unwrap()); } }
/// assert_eq!(frames, vec![hb.clone()]);
/// # fn hex_literal(s: &str) -> Vec<u8> { (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i+2], 16).unwrap()).collect() }
/// ```
#[derive(Debug)]
pub struct FrameSplitter {
    buf: Vec<u8>,
    start: usize,
    max_len: usize,
    skipped: u64,
}

impl Default for FrameSplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameSplitter {
    /// A splitter with the default length cap ([`DEFAULT_MAX_FRAME`]).
    pub fn new() -> Self {
        Self::with_max_len(DEFAULT_MAX_FRAME)
    }

    /// A splitter that rejects frames declaring more than `max_len` bytes.
    pub fn with_max_len(max_len: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            max_len,
            skipped: 0,
        }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, data: &[u8]) {
        if self.start > 0 && (self.start >= self.buf.len() / 2 || self.buf.len() > 4096) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes discarded so far while resynchronising.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Bytes held that do not yet form a frame.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame, an error for a bad frame (after which splitting continues), or
    /// `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, Error>> {
        loop {
            let avail = &self.buf[self.start..];
            match find_prefix(avail) {
                Some(0) => {}
                Some(n) => {
                    self.start += n;
                    self.skipped += n as u64;
                    continue;
                }
                None => {
                    // Keep a possible partial prefix (up to 3 bytes) at the end.
                    let keep = avail.len().min(3);
                    let drop = avail.len() - keep;
                    self.start += drop;
                    self.skipped += drop as u64;
                    if self.start == self.buf.len() {
                        self.buf.clear();
                        self.start = 0;
                    }
                    return None;
                }
            }
            let avail = &self.buf[self.start..];
            match peek_header(avail, self.max_len) {
                Ok(None) => return None,
                Ok(Some(h)) => {
                    if avail.len() < h.total {
                        return None;
                    }
                    let frame = &avail[..h.total];
                    match check_frame(frame, self.max_len) {
                        Ok(_) => {
                            let out = frame.to_vec();
                            self.start += h.total;
                            return Some(Ok(out));
                        }
                        Err(e) => {
                            // Skip this prefix and look for the next one inside.
                            self.start += 4;
                            self.skipped += 4;
                            return Some(Err(e));
                        }
                    }
                }
                Err(e) => {
                    self.start += 4;
                    self.skipped += 4;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Offset of the first 000055AA or 00006699 in `buf`, or of a trailing partial match is not reported.
fn find_prefix(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 4 <= buf.len() {
        // Both prefixes start with two zero bytes; skip fast to candidates.
        match buf[i + 2..].iter().position(|&b| b == 0x55 || b == 0x66) {
            None => return None,
            Some(p) => {
                let j = i + p; // candidate start so that buf[j+2] is 0x55/0x66
                if j + 4 <= buf.len()
                    && buf[j] == 0
                    && buf[j + 1] == 0
                    && ((buf[j + 2] == 0x55 && buf[j + 3] == 0xAA)
                        || (buf[j + 2] == 0x66 && buf[j + 3] == 0x99))
                {
                    return Some(j);
                }
                if j + 4 > buf.len() {
                    return None;
                }
                i = j + 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const HB: &str = "000055aa00000000000000090000000c00000000b051ab030000aa55";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn drain(s: &mut FrameSplitter) -> (Vec<Vec<u8>>, usize) {
        let mut f = vec![];
        let mut errs = 0;
        while let Some(r) = s.next_frame() {
            match r {
                Ok(x) => f.push(x),
                Err(_) => errs += 1,
            }
        }
        (f, errs)
    }

    #[test]
    fn several_frames_in_one_read() {
        let hb = unhex(HB);
        let mut all = hb.clone();
        all.extend(&hb);
        all.extend(&hb);
        let mut s = FrameSplitter::new();
        s.feed(&all);
        assert_eq!(drain(&mut s).0.len(), 3);
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn resyncs_after_garbage_and_bad_length() {
        let hb = unhex(HB);
        let mut data = vec![0x00, 0x00, 0x55, 0xaa, 0xff, 0xff, 0xff, 0xff];
        data.extend(b"\x00\x00\x00\x09\xff\xff\xff\xff"); // absurd length
        data.extend(b"junk\x00\x00");
        data.extend(&hb);
        let mut s = FrameSplitter::new();
        s.feed(&data);
        let (frames, errs) = drain(&mut s);
        assert_eq!(frames, vec![hb]);
        assert_eq!(errs, 1);
    }

    #[test]
    fn too_long_is_error_not_allocation() {
        let mut s = FrameSplitter::with_max_len(100);
        s.feed(&unhex("000055aa000000010000000a00100000"));
        match s.next_frame() {
            Some(Err(Error::TooLong { declared, limit })) => {
                assert_eq!((declared, limit), (0x100000, 100))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn partial_prefix_is_kept() {
        let hb = unhex(HB);
        let mut s = FrameSplitter::new();
        s.feed(b"xxxxxxxx\x00\x00");
        assert!(s.next_frame().is_none());
        s.feed(&hb[2..]);
        assert_eq!(drain(&mut s).0, vec![hb]);
    }
}
