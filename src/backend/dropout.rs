//! Dropout's random masks.

use super::Storage;
use crate::error::Result;

pub trait DropoutOps {
    /// Inverted dropout mask: `1/keep` with probability `keep`, else 0; a pure function
    /// of `(seed, element index)` so every backend draws the same mask.
    fn dropout_mask(&self, len: usize, keep: f32, seed: u64) -> Result<Storage>;
}
