//! The 64-bit checksum a checkpoint stores for each tensor's bytes.
//!
//! checksum(bytes) = mix64(len ⊕ Σ_k mix64(w_k ⊕ k·γ)) with wrapping sums, where w_k is
//! the k-th little-endian 64-bit word of the bytes (the last one zero-padded), γ the
//! SplitMix64 increment and mix64 its finaliser. Every word is mixed with its position,
//! so a changed, swapped or shifted word changes the sum; the terms are independent, so
//! the sum runs in parallel here and vectorised in numpy (`tools/check_checkpoint.py`).
//! It detects corruption, not tampering.

use crate::rng::{mix64, GOLDEN_GAMMA};
use rayon::prelude::*;

/// Words hashed per parallel task (8 MiB).
const CHUNK_WORDS: usize = 1 << 20;

fn word_term(word: u64, index: u64) -> u64 {
    mix64(word ^ index.wrapping_mul(GOLDEN_GAMMA))
}

fn sum_words(bytes: &[u8], first_index: u64) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut sum = 0u64;
    let mut index = first_index;
    for c in &mut chunks {
        let word = u64::from_le_bytes(c.try_into().expect("chunks of 8 bytes"));
        sum = sum.wrapping_add(word_term(word, index));
        index += 1;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut last = [0u8; 8];
        last[..tail.len()].copy_from_slice(tail);
        sum = sum.wrapping_add(word_term(u64::from_le_bytes(last), index));
    }
    sum
}

pub fn checksum(bytes: &[u8]) -> u64 {
    let sum = bytes
        .par_chunks(CHUNK_WORDS * 8)
        .enumerate()
        .map(|(i, chunk)| sum_words(chunk, (i * CHUNK_WORDS) as u64))
        .reduce(|| 0, u64::wrapping_add);
    mix64(bytes.len() as u64 ^ sum)
}

/// The checksum as a checkpoint's metadata writes it: 16 lowercase hex digits.
pub fn checksum_hex(bytes: &[u8]) -> String {
    format!("{:016x}", checksum(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parallel_sum_equals_the_serial_one() {
        let bytes: Vec<u8> = (0..CHUNK_WORDS * 8 * 2 + 13).map(|i| (i * 31 % 251) as u8).collect();
        assert_eq!(checksum(&bytes), mix64(bytes.len() as u64 ^ sum_words(&bytes, 0)));
    }

    #[test]
    fn any_changed_byte_changes_the_checksum() {
        let bytes: Vec<u8> = (0..37u8).collect();
        let base = checksum(&bytes);
        for i in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[i] ^= 0x10;
            assert_ne!(checksum(&changed), base, "byte {i}");
        }
        assert_ne!(checksum(&bytes[..36]), base, "a shorter input");
        let mut swapped = bytes.clone();
        swapped[..16].rotate_left(8);
        assert_ne!(checksum(&swapped), base, "two words swapped");
    }

    #[test]
    fn zero_bytes_of_different_lengths_differ() {
        assert_ne!(checksum(&[0; 8]), checksum(&[0; 16]));
        assert_ne!(checksum(&[0; 3]), checksum(&[0; 4]));
    }
}
