//! Dropout masks: a pure function of `(seed, index)` in integer arithmetic, so the CUDA
//! mask must equal the CPU's bit for bit.

use super::harness::*;

#[test]
fn masks_match_bit_for_bit() {
    for device in devices() {
        for len in [1, 7, 37, 1000, 65537] {
            // keep 1 and 0 are the edges (all kept, none); 0.8 is the network's value.
            for keep in [0.8, 0.5, 0.1, 1.0, 0.0] {
                let seed = fresh_seed();
                let want = down(&cpu(), &cpu().backend().dropout_mask(len, keep, seed).unwrap());
                let got = down(&device, &device.backend().dropout_mask(len, keep, seed).unwrap());
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "mask of {len} at keep {keep}, seed {seed} on {device}");
            }
        }
    }
}

/// Seeds at the edges of 64 bits: the draw is 64-bit throughout (a 32-bit seed, product or
/// shift would change these masks).
#[test]
fn wide_seeds_match() {
    for device in devices() {
        for seed in [0, u64::MAX, 0xFFFF_FFFF, 1 << 63, 0x9E37_79B9_7F4A_7C15] {
            let want = down(&cpu(), &cpu().backend().dropout_mask(1000, 0.5, seed).unwrap());
            let got = down(&device, &device.backend().dropout_mask(1000, 0.5, seed).unwrap());
            assert_eq!(got, want, "seed {seed:#x} on {device}");
        }
    }
}
