//! Helpers shared by the HTTP crate's tests.
#![allow(dead_code)]

/// A small deterministic generator, so a failure reproduces exactly.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Heads or tails.
    pub fn coin(&mut self) -> bool {
        self.next().is_multiple_of(2)
    }
}
