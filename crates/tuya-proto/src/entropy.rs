//! Where randomness comes from: the caller.
//!
//! This crate has no randomness of its own, so protocol runs are replayable in tests. Anything
//! that needs fresh bytes (AES-GCM nonces, negotiation nonces) takes an [`Entropy`] source at
//! construction. Every `rand_core` RNG is one: pass `rand::rngs::StdRng::from_entropy()` (or
//! `OsRng`) in production, a seeded RNG in tests.

/// A source of random bytes.
pub trait Entropy: Send {
    /// Fills `dest` with random bytes.
    fn fill(&mut self, dest: &mut [u8]);
}

impl<R: rand_core::RngCore + Send> Entropy for R {
    fn fill(&mut self, dest: &mut [u8]) {
        self.fill_bytes(dest);
    }
}

/// An owned, type-erased entropy source.
pub type BoxedEntropy = Box<dyn Entropy>;

/// `N` fresh random bytes from `src`.
pub fn random_bytes<const N: usize>(src: &mut dyn Entropy) -> [u8; N] {
    let mut b = [0u8; N];
    src.fill(&mut b);
    b
}
