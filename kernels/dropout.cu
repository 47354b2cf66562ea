// Inverted-dropout masks (CPU reference: src/backend/cpu/dropout.rs, which documents the
// draw). Element i is a pure function of (seed, i): output i of SplitMix64 seeded with
// `seed`, its top 24 bits as u ∈ [0, 1), kept (value `scale` = 1/keep, rounded on the host
// as the CPU rounds it) iff u < keep. Integer math and one exact conversion, so the mask
// is bit-identical to the CPU's.
//
// dropout_mask(out[n], keep, scale, seed): 1-D grid of any size, grid-stride loop.
#include "common.cuh"

extern "C" __global__ void dropout_mask(float* __restrict__ out, float keep, float scale, unsigned long long seed,
                                        i64 n) {
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) {
        unsigned long long z = seed + (unsigned long long)(i + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        // 24 bits convert to f32 exactly, and scaling by 2^-24 is exact.
        const float u = (float)(unsigned)(z >> 40) * 5.9604644775390625e-8f;
        out[i] = u < keep ? scale : 0.0f;
    }
}
