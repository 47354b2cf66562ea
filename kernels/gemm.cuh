// The block-tiled fp32 GEMM under matmul.cu and conv2d.cu: one block computes a 64 × 64
// tile of C = A·B, C[m, n] = Σ_k A[m, k]·B[k, n] over a range of k.
//
// Launch shape: 256 threads (1-D) per block, one block per C tile (see `gemm_tile_origin`);
// 17 KiB of static shared memory: A's and B's 16-deep slices, double-buffered.
//
// Each step of GEMM_BK = 16 along k: every thread fetches 4 elements of A's 64 × 16 slice
// and 4 of B's 16 × 64 slice into registers for the NEXT step (so the loads are in flight
// while this step computes), multiplies this step's slices out of shared memory, then
// stores the fetched elements into the other buffer; one barrier per step. Thread
// (ty, tx) = (t / 16, t % 16) owns rows 4·ty.. and columns 4·tx.. of the tile: per k it reads
// one float4 of each slice and does 16 FMAs into its 4 × 4 register tile.
//
// The operands are loaders, so the same tiling serves plain matrices (`GemmMatrix`) and the
// convolution's implicit im2col, gathered from the activations with no column buffer:
//
//   struct Loader {
//       static constexpr bool K_FASTEST;  // do consecutive k sit next to each other in memory?
//       __device__ void load(i64 k0, float (&v)[GEMM_LOADS]);
//   };
//
// `load` fills v[j] with the operand's element at tile row `gemm_slot_row<K_FASTEST>(t, j)`
// and depth k0 + `gemm_slot_k<K_FASTEST>(t, j)`, zero outside the operand. Its calls come
// with k0 = k_begin, k_begin + 16, … in order, so a loader may step a cursor instead of
// dividing. The slot map keeps a warp's loads coalesced for either memory order.
#pragma once
#include "common.cuh"

constexpr int GEMM_TILE = 64;  // rows of A and columns of B per block tile
constexpr int GEMM_BK = 16;    // depth of one k step
constexpr int GEMM_THREADS = 256;
constexpr int GEMM_LOADS = GEMM_TILE * GEMM_BK / GEMM_THREADS;  // elements per operand per thread and step
constexpr int GEMM_PAD = 4;  // keeps the float4 reads aligned and the transposing stores at most 2-way conflicted

// The slot map: with k fastest in memory, thread t takes depth t % 16 and rows t / 16 + 16·j
// (16 lanes read 16 consecutive k); otherwise row t % 64 and depths 4·(t / 64) + j
// (a warp reads 32 consecutive rows, and each thread's depths are consecutive).
template <bool K_FASTEST>
__device__ __forceinline__ int gemm_slot_k(int t, int j) {
    return K_FASTEST ? t % GEMM_BK : GEMM_LOADS * (t / GEMM_TILE) + j;
}
template <bool K_FASTEST>
__device__ __forceinline__ int gemm_slot_row(int t, int j) {
    return K_FASTEST ? t / GEMM_BK + j * (GEMM_THREADS / GEMM_BK) : t % GEMM_TILE;
}

// This block's tile origin for C[m, n] on a 1-D grid of ⌈m/64⌉·⌈n/64⌉ blocks, m fastest:
// blocks running together share B's slices (the weights, for a convolution).
__device__ __forceinline__ void gemm_tile_origin(i64 m, i64& m0, i64& n0) {
    const i64 tiles_m = (m + GEMM_TILE - 1) / GEMM_TILE;
    m0 = (i64)blockIdx.x % tiles_m * GEMM_TILE;
    n0 = (i64)blockIdx.x / tiles_m * GEMM_TILE;
}

// A row-major matrix operand: element (r, k) at p[r·ld + k] when K_FASTEST, else p[k·ld + r];
// rows r0.. of `rows`, depths below k_end.
template <bool K_FASTEST_>
struct GemmMatrix {
    static constexpr bool K_FASTEST = K_FASTEST_;
    const float* p;
    i64 ld, r0, rows, k_end;

    __device__ __forceinline__ void load(i64 k0, float (&v)[GEMM_LOADS]) const {
        const int t = threadIdx.x;
        for (int j = 0; j < GEMM_LOADS; ++j) {
            const i64 r = r0 + gemm_slot_row<K_FASTEST>(t, j), k = k0 + gemm_slot_k<K_FASTEST>(t, j);
            v[j] = r < rows && k < k_end ? p[K_FASTEST ? r * ld + k : k * ld + r] : 0.0f;
        }
    }
};

template <bool K_FASTEST>
__device__ __forceinline__ void gemm_stash(float (*slice)[GEMM_TILE + GEMM_PAD], const float (&v)[GEMM_LOADS]) {
    const int t = threadIdx.x;
    for (int j = 0; j < GEMM_LOADS; ++j) slice[gemm_slot_k<K_FASTEST>(t, j)][gemm_slot_row<K_FASTEST>(t, j)] = v[j];
}

// The block's tile: C rows m0 + r for r < 64 via `out.row(r)` (a pointer to the row's column
// 0, or null for a row outside C), each value v of column c < n_end stored as
// `out.finish(r, c, v)` (the epilogue: v itself for a plain product), columns n0.. below
// n_end, summed over k in
// [k_begin, k_end). Every thread of the block must call it; it writes every element of the
// tile inside C (zeros when the k range is empty).
template <class LoadA, class LoadB, class Out>
__device__ __forceinline__ void gemm_block(LoadA& a, LoadB& b, i64 k_begin, i64 k_end, const Out& out, i64 n0, i64 n_end) {
    __align__(16) __shared__ float as[2][GEMM_BK][GEMM_TILE + GEMM_PAD];
    __align__(16) __shared__ float bs[2][GEMM_BK][GEMM_TILE + GEMM_PAD];
    const int t = threadIdx.x, tx = t % 16, ty = t / 16;
    float acc[4][4] = {};
    float va[GEMM_LOADS], vb[GEMM_LOADS];
    const i64 steps = k_end > k_begin ? (k_end - k_begin + GEMM_BK - 1) / GEMM_BK : 0;
    if (steps > 0) {
        a.load(k_begin, va);
        b.load(k_begin, vb);
        gemm_stash<LoadA::K_FASTEST>(as[0], va);
        gemm_stash<LoadB::K_FASTEST>(bs[0], vb);
    }
    __syncthreads();
    for (i64 s = 0; s < steps; ++s) {
        const int buf = (int)(s & 1);
        const bool more = s + 1 < steps;
        if (more) {
            a.load(k_begin + (s + 1) * GEMM_BK, va);
            b.load(k_begin + (s + 1) * GEMM_BK, vb);
        }
        CARI_UNROLL
        for (int k = 0; k < GEMM_BK; ++k) {
            const float4 a4 = *reinterpret_cast<const float4*>(&as[buf][k][4 * ty]);
            const float4 b4 = *reinterpret_cast<const float4*>(&bs[buf][k][4 * tx]);
            const float ar[4] = {a4.x, a4.y, a4.z, a4.w}, br[4] = {b4.x, b4.y, b4.z, b4.w};
            for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j) acc[i][j] += ar[i] * br[j];
        }
        if (more) {
            gemm_stash<LoadA::K_FASTEST>(as[buf ^ 1], va);
            gemm_stash<LoadB::K_FASTEST>(bs[buf ^ 1], vb);
        }
        __syncthreads();
    }
    const i64 c = n0 + 4 * tx;
    for (int i = 0; i < 4; ++i) {
        const int r = 4 * ty + i;
        float* row = out.row(r);
        if (row == nullptr) continue;
        float v[4];
        for (int j = 0; j < 4; ++j) v[j] = c + j < n_end ? out.finish(r, c + j, acc[i][j]) : 0.0f;
        if (c + 3 < n_end && (reinterpret_cast<unsigned long long>(row + c) & 15) == 0) {
            *reinterpret_cast<float4*>(row + c) = make_float4(v[0], v[1], v[2], v[3]);
        } else {
            for (int j = 0; j < 4; ++j)
                if (c + j < n_end) row[c + j] = v[j];
        }
    }
}

// C stored row-major with `ld` columns from `p`, rows m0.. below m_end.
struct GemmRows {
    float* p;
    i64 ld, m0, m_end;
    __device__ __forceinline__ float* row(int r) const {
        return m0 + r < m_end ? p + (m0 + r) * ld : nullptr;
    }
    __device__ __forceinline__ float finish(int, i64, float v) const {
        return v;
    }
};
