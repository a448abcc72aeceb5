//! Reading a fuzz input as a sequence of choices: every byte string is a valid run, and an
//! exhausted input reads as zeros, so a mutation never makes an input "invalid", only different.

/// The unread rest of an input.
pub(crate) struct Input<'a>(pub(crate) &'a [u8]);

impl<'a> Input<'a> {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn u8(&mut self) -> u8 {
        let Some((&x, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        x
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// Up to `max` bytes, as many as the next byte says.
    pub(crate) fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = (usize::from(self.u8()) % (max + 1)).min(self.0.len());
        let (a, rest) = self.0.split_at(n);
        self.0 = rest;
        a
    }

    /// Exactly `N` bytes, zero-filled when the input runs out.
    pub(crate) fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        for x in &mut a {
            *x = self.u8();
        }
        a
    }
}

/// `b` made into a JSON-like text as peers send it: `{`, then `b` as UTF-8 (invalid
/// sequences replaced) without control characters other than tab, CR and LF.
pub(crate) fn json_text(b: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(b);
    let kept = text
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'));
    std::iter::once('{')
        .chain(kept)
        .collect::<String>()
        .into_bytes()
}
