//! Inverted-dropout masks, drawn as a pure function of `(seed, element index)` so that the
//! CPU, a CUDA kernel and an offline script all draw the same mask.
//!
//! Element `i` of `mask(len, keep, seed)` (all arithmetic on `u64`, wrapping):
//!
//! ```text
//! z = seed + (i + 1) · 0x9E3779B97F4A7C15
//! z = (z ^ (z >> 30)) · 0xBF58476D1CE4E5B9
//! z = (z ^ (z >> 27)) · 0x94D049BB133111EB
//! z =  z ^ (z >> 31)
//! u = (z >> 40) as f32 / 2^24          // 24 random bits, exact in f32, u ∈ [0, 1)
//! mask[i] = if u < keep { 1 / keep } else { 0 }
//! ```
//!
//! `z` is output `i` of the SplitMix64 generator seeded with `seed` (for seed 0 it starts
//! `0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F`). The same in Python:
//!
//! ```text
//! M = (1 << 64) - 1
//! def u(seed, i):
//!     z = (seed + (i + 1) * 0x9E3779B97F4A7C15) & M
//!     z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
//!     z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
//!     z ^= z >> 31
//!     return (z >> 40) / 2**24
//! ```
//!
//! `keep = 1` gives all ones; `keep = 0` all zeros.

use super::buffer;
use super::elementwise::{CHUNK, PAR_MIN};
use super::{wrap, CpuBackend};
use crate::backend::{DropoutOps, Storage};
use crate::error::Result;
use crate::rng::{mix64, GOLDEN_GAMMA};
use rayon::prelude::*;

/// Output `i` of SplitMix64 seeded with `seed` (counter-based: no state to carry).
pub fn splitmix64(seed: u64, i: u64) -> u64 {
    mix64(seed.wrapping_add(i.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA)))
}

/// The uniform draw in `[0, 1)` behind element `i` of the mask.
pub fn uniform(seed: u64, i: u64) -> f32 {
    (splitmix64(seed, i) >> 40) as f32 / (1u32 << 24) as f32
}

pub fn mask(len: usize, keep: f32, seed: u64) -> Vec<f32> {
    let scale = 1.0 / keep;
    let draw = |i: usize| if uniform(seed, i as u64) < keep { scale } else { 0.0 };
    let mut out = buffer::uninit(len);
    let fill = |(chunk, block): (usize, &mut [f32])| {
        block.iter_mut().enumerate().for_each(|(i, m)| *m = draw(chunk * CHUNK + i));
    };
    if len < PAR_MIN {
        out.chunks_mut(CHUNK).enumerate().for_each(fill);
    } else {
        out.par_chunks_mut(CHUNK).enumerate().for_each(fill);
    }
    out
}

impl DropoutOps for CpuBackend {
    fn dropout_mask(&self, len: usize, keep: f32, seed: u64) -> Result<Storage> {
        Ok(wrap(mask(len, keep, seed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_stream_for_seed_zero() {
        assert_eq!(splitmix64(0, 0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(0, 1), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(splitmix64(0, 2), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn mask_by_hand() {
        // Seed 0: u = 0xE220A8/2^24 ≈ 0.8833, 0x6E789E/2^24 ≈ 0.4316, 0x06C45D/2^24 ≈ 0.0264.
        assert_eq!(uniform(0, 0), 0xE2_20A8 as f32 / 16_777_216.0);
        assert_eq!(mask(3, 0.5, 0), vec![0.0, 2.0, 2.0]);
        assert_eq!(mask(3, 0.9, 0), vec![1.0 / 0.9; 3]);
        assert_eq!(mask(3, 0.02, 0), vec![0.0; 3]);
        assert_eq!(mask(0, 0.5, 0), Vec::<f32>::new());
    }

    #[test]
    fn keep_one_and_zero() {
        assert!(mask(PAR_MIN + 3, 1.0, 7).iter().all(|&m| m == 1.0));
        assert!(mask(1000, 0.0, 7).iter().all(|&m| m == 0.0));
    }

    #[test]
    fn kept_fraction_is_close_to_keep() {
        let n = 100_000;
        for (keep, seed) in [(0.5, 1), (0.8, 2), (0.1, 3)] {
            let m = mask(n, keep, seed);
            assert!(m.iter().all(|&v| v == 0.0 || v == 1.0 / keep));
            let kept = m.iter().filter(|&&v| v != 0.0).count() as f64;
            // Binomial: standard deviation √(n·keep·(1 − keep)) ≤ 158; allow 5 of them.
            let sd = (n as f64 * keep as f64 * (1.0 - keep as f64)).sqrt();
            assert!((kept - n as f64 * keep as f64).abs() < 5.0 * sd, "keep {keep}: kept {kept}");
            // Inverted dropout preserves the mean: E[mask] = 1.
            let mean = m.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            assert!((mean - 1.0).abs() < 5.0 * sd / (n as f64 * keep as f64), "keep {keep}: mean {mean}");
        }
    }

    #[test]
    fn mask_is_a_pure_function_of_seed_and_index() {
        let long = mask(3 * PAR_MIN + 11, 0.7, 42);
        assert_eq!(mask(3 * PAR_MIN + 11, 0.7, 42), long);
        // A prefix of a longer (parallel) mask is the shorter (sequential) mask.
        assert_eq!(mask(1000, 0.7, 42), long[..1000].to_vec());
        for i in [0, 1, 999, PAR_MIN, long.len() - 1] {
            let expected = if uniform(42, i as u64) < 0.7 { 1.0 / 0.7 } else { 0.0 };
            assert_eq!(long[i], expected);
        }
        assert_ne!(mask(1000, 0.7, 43), long[..1000].to_vec());
    }
}
