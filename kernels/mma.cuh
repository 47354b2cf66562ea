// The TF32 tensor-core MMA, mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32, for one
// warp: D (16×8) = A (16×8) · B (8×8) + C (16×8). On the GPU it is that PTX instruction; the
// CPU emulation cannot run PTX, so under CARI_EMU a portable fallback computes the same
// fragments with warp shuffles.
//
// Fragment layout, from the PTX ISA, "Matrix Fragments for mma.m16n8k8" (.tf32 multiplicands,
// .f32 accumulators), with g = laneid >> 2 (groupID) and t = laneid % 4 (threadID_in_group):
//
//   a[i]  A(g + 8·(i & 1),  t + 4·(i >> 1))     i = 0..3
//   b[i]  B(t + 4·i,        g)                  i = 0..1   (B indexed (k, n))
//   c[i]  C(g + 8·(i >> 1), 2·t + (i & 1))      i = 0..3   (D the same)
//
// A and B registers hold TF32 values as f32 bit patterns, rounded by cari_to_tf32; the
// fallback reads only their top 19 bits (sign, exponent, 10 mantissa bits).
#pragma once
#include "common.cuh"

// x rounded to TF32 as cvt.rna.tf32.f32 does: to nearest, ties away from zero, on the 13
// dropped mantissa bits (the largest finite values round up to infinity), as an f32 bit
// pattern with those bits zero. Infinity stays infinity and NaN stays NaN.
__device__ __forceinline__ unsigned cari_to_tf32(float x) {
#ifdef CARI_EMU
    const unsigned u = __float_as_uint(x), abs = u & 0x7fffffffu;
    // A NaN made quiet, so it is still a NaN once the dropped bits are cleared.
    if (abs > 0x7f800000u) return (u | 0x400000u) & 0xffffe000u;
    // Half an ulp added to the magnitude: a carry out of the mantissa steps the exponent.
    return (abs < 0x7f800000u ? u + 0x1000u : u) & 0xffffe000u;
#else
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
#endif
}

// d = A·B + c for the warp, each lane passing its fragments in the layout above (d may be c).
// Every lane of the warp calls it together, as mma.sync requires.
//
// The fallback sums in f32 in k order, d = (((c + p0) + p1) + …) + p7, each product exact
// barring overflow and underflow (two 11-bit significands fit in f32's 24, so whether the
// host compiler fuses the add changes nothing); the tensor core's order and internal
// precision of the sum are unspecified, so the GPU may differ in the last bits.
__device__ __forceinline__ void cari_mma_tf32_m16n8k8(float (&d)[4], const unsigned (&a)[4],
                                                      const unsigned (&b)[2], const float (&c)[4]) {
#ifdef CARI_EMU
    const unsigned lane = ((threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x) & 31u;
    const unsigned g = lane >> 2, t = lane & 3u;
    float acc[4] = {c[0], c[1], c[2], c[3]};
    for (int k = 0; k < 8; ++k) {
        // A(r, k) sits in lane 4·(r % 8) + k % 4, register a[2·(k / 4) + r / 8]; B(k, n) in lane
        // 4·n + k % 4, register b[k / 4]. This lane's rows are g and g + 8, its columns 2t, 2t + 1.
        const int from = k & 3;
        const float top = __uint_as_float(__shfl_sync(0xffffffffu, a[2 * (k >> 2)], 4 * g + from) & 0xffffe000u);
        const float bottom = __uint_as_float(__shfl_sync(0xffffffffu, a[2 * (k >> 2) + 1], 4 * g + from) & 0xffffe000u);
        const float left = __uint_as_float(__shfl_sync(0xffffffffu, b[k >> 2], 8 * t + from) & 0xffffe000u);
        const float right = __uint_as_float(__shfl_sync(0xffffffffu, b[k >> 2], 8 * t + 4 + from) & 0xffffe000u);
        acc[0] += top * left;
        acc[1] += top * right;
        acc[2] += bottom * left;
        acc[3] += bottom * right;
    }
    for (int i = 0; i < 4; ++i) d[i] = acc[i];
#else
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]),
          "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
#endif
}
