//! Reassembly of one direction of a TCP connection by sequence number: retransmitted bytes are
//! dropped, early segments wait (within a byte and segment cap) until the hole before them is
//! filled, and a hole that never fills is reported as a gap and skipped.

/// Out-of-order bytes held per direction before the oldest hole is given up on.
pub const MAX_OUT_OF_ORDER_BYTES: usize = 128 * 1024;
/// Out-of-order segments held per direction.
pub const MAX_OUT_OF_ORDER_SEGMENTS: usize = 128;

/// What reassembly hands on, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// The next bytes of the stream.
    Data(Vec<u8>),
    /// Bytes that never appeared in the capture (lost, or cut by the snap length).
    Gap {
        /// How many bytes are missing (0 when unknown).
        missing: u64,
    },
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct HalfStream {
    next: Option<u32>,
    pending: Vec<(u32, Vec<u8>)>,
    pending_bytes: usize,
    lost_tail: bool,
    retransmitted: u64,
}

/// Signed distance from `b` to `a` in sequence space.
fn diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

impl HalfStream {
    /// A direction with nothing seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Segments (or parts of them) seen again after their bytes were already delivered.
    pub fn retransmitted(&self) -> u64 {
        self.retransmitted
    }

    /// Bytes waiting for an earlier hole to be filled.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Takes one segment; `truncated` means the capture holds only the start of its payload.
    pub fn push(
        &mut self,
        seq: u32,
        syn: bool,
        payload: &[u8],
        truncated: bool,
        out: &mut Vec<Chunk>,
    ) {
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        if syn && self.next.is_none() {
            self.next = Some(data_seq);
        }
        if payload.is_empty() {
            return;
        }
        let next = *self.next.get_or_insert(data_seq);
        let d = diff(data_seq, next);
        if d > 0 && self.lost_tail {
            // The previous segment was cut short: its missing tail is this hole.
            self.lost_tail = false;
            out.push(Chunk::Gap { missing: d as u64 });
            self.next = Some(data_seq);
            self.deliver(data_seq, payload, out);
        } else if d > 0 {
            self.hold(data_seq, payload, out);
            return;
        } else {
            self.deliver(data_seq, payload, out);
        }
        if truncated {
            self.lost_tail = true;
        }
        self.drain(out);
    }

    /// Flushes everything held at the end of the connection, reporting holes as gaps.
    pub fn finish(&mut self, out: &mut Vec<Chunk>) {
        while !self.pending.is_empty() && self.next.is_some() {
            self.skip_to_earliest(out);
            self.drain(out);
        }
    }

    fn deliver(&mut self, data_seq: u32, payload: &[u8], out: &mut Vec<Chunk>) {
        let next = self.next.unwrap_or(data_seq);
        let skip = (-diff(data_seq, next)).max(0) as u64;
        if skip >= payload.len() as u64 {
            self.retransmitted += 1;
            return;
        }
        if skip > 0 {
            self.retransmitted += 1;
        }
        let fresh = &payload[skip as usize..];
        self.next = Some(next.wrapping_add(fresh.len() as u32));
        out.push(Chunk::Data(fresh.to_vec()));
    }

    fn hold(&mut self, data_seq: u32, payload: &[u8], out: &mut Vec<Chunk>) {
        if self
            .pending
            .iter()
            .any(|(s, p)| *s == data_seq && p.len() >= payload.len())
        {
            self.retransmitted += 1;
            return;
        }
        self.pending.push((data_seq, payload.to_vec()));
        self.pending_bytes += payload.len();
        while (self.pending_bytes > MAX_OUT_OF_ORDER_BYTES
            || self.pending.len() > MAX_OUT_OF_ORDER_SEGMENTS)
            && self.next.is_some()
        {
            self.skip_to_earliest(out);
            self.drain(out);
        }
    }

    /// Delivers held segments that now start at or before the next expected byte.
    fn drain(&mut self, out: &mut Vec<Chunk>) {
        loop {
            let Some(next) = self.next else { return };
            let Some(i) = self.pending.iter().position(|(s, _)| diff(*s, next) <= 0) else {
                return;
            };
            let (s, p) = self.pending.swap_remove(i);
            self.pending_bytes -= p.len();
            self.deliver(s, &p, out);
        }
    }

    /// Gives up on the hole before the earliest held segment.
    fn skip_to_earliest(&mut self, out: &mut Vec<Chunk>) {
        let Some(next) = self.next else { return };
        if let Some(&(s, _)) = self.pending.iter().min_by_key(|(s, _)| diff(*s, next)) {
            let d = diff(s, next);
            if d > 0 {
                out.push(Chunk::Gap { missing: d as u64 });
                self.next = Some(s);
            }
            self.lost_tail = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(out: &[Chunk]) -> Vec<u8> {
        out.iter()
            .flat_map(|c| match c {
                Chunk::Data(d) => d.clone(),
                Chunk::Gap { .. } => b"|".to_vec(),
            })
            .collect()
    }

    #[test]
    fn in_order_out_of_order_and_retransmitted() {
        let mut h = HalfStream::new();
        let mut out = vec![];
        h.push(999, true, b"", false, &mut out);
        h.push(1006, false, b"world", false, &mut out); // early
        h.push(1000, false, b"hello ", false, &mut out);
        h.push(1000, false, b"hello ", false, &mut out); // retransmission
        h.push(1003, false, b"lo wor", false, &mut out); // overlapping retransmission
        h.push(1011, false, b"!", false, &mut out);
        assert_eq!(data(&out), b"hello world!");
        assert_eq!(h.retransmitted(), 2);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut h = HalfStream::new();
        let mut out = vec![];
        h.push(u32::MAX - 2, false, b"abc", false, &mut out);
        h.push(3, false, b"ghi", false, &mut out);
        h.push(0, false, b"def", false, &mut out);
        assert_eq!(data(&out), b"abcdefghi");
    }

    #[test]
    fn holes_are_gaps_at_the_end_and_when_the_cap_is_hit() {
        let mut h = HalfStream::new();
        let mut out = vec![];
        h.push(0, false, b"ab", false, &mut out);
        h.push(10, false, b"xy", false, &mut out);
        h.finish(&mut out);
        assert_eq!(data(&out), b"ab|xy");
        assert_eq!(out[1], Chunk::Gap { missing: 8 });

        let mut h = HalfStream::new();
        let mut out = vec![];
        h.push(0, false, b"a", false, &mut out);
        let big = vec![b'z'; 1000];
        for i in 0..(MAX_OUT_OF_ORDER_SEGMENTS as u32 + 1) {
            h.push(10 + i * 1000, false, &big, false, &mut out);
        }
        assert!(h.pending_bytes() <= MAX_OUT_OF_ORDER_BYTES);
        assert!(out.iter().any(|c| matches!(c, Chunk::Gap { missing: 9 })));
    }

    #[test]
    fn a_cut_segment_resumes_at_the_next_one() {
        let mut h = HalfStream::new();
        let mut out = vec![];
        h.push(0, false, b"abc", true, &mut out); // 10 bytes sent, 3 captured
        h.push(10, false, b"klm", false, &mut out);
        assert_eq!(data(&out), b"abc|klm");
    }
}
