// Helpers shared by every kernel file. Plain CUDA C++ with no CUDA headers, so NVRTC
// needs no include path; under the CPU emulation (CARI_EMU) kernels/emu/cuda_emu.h is
// force-included first and gives the same names their meaning.
#pragma once

#ifdef CARI_EMU
#define CARI_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(cari_emu_dynamic_shared())
#else
#define CARI_DYNAMIC_SHARED(T, name) extern __shared__ __align__(16) T name[]
#endif

// Every kernel indexes with 64-bit integers: activations of a large batch pass 2^31 elements.
typedef long long i64;

// NVRTC compiles without math headers; the emulation's C++ headers define it.
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

// The flat index of this thread in a 1-D grid, and the grid's stride for grid-stride loops.
__device__ __forceinline__ i64 cari_global_id() {
    return (i64)blockIdx.x * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ i64 cari_grid_stride() {
    return (i64)gridDim.x * blockDim.x;
}

// Sum and maximum over a warp (all 32 lanes present): every lane gets the result.
__device__ __forceinline__ double cari_warp_sum_f64(double v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}
__device__ __forceinline__ float cari_warp_max(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

// bf16 and f16 conversions on raw 16-bit patterns (our own, so no cuda_bf16.h/cuda_fp16.h),
// bit for bit as the `half` crate converts: round to nearest even, overflow to infinity,
// f16 subnormals exact, a NaN made quiet with the top of its payload kept.
__device__ __forceinline__ unsigned short cari_f32_to_bf16(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (unsigned short)(u >> 16);
}
__device__ __forceinline__ float cari_bf16_to_f32(unsigned short h) {
    const unsigned quiet = (h & 0x7fffu) > 0x7f80u ? 0x40u : 0u;  // a NaN comes out quiet
    return __uint_as_float((unsigned)(h | quiet) << 16);
}
__device__ __forceinline__ unsigned short cari_f32_to_f16(float f) {
    const unsigned u = __float_as_uint(f);
    const unsigned sign = (u >> 16) & 0x8000u;
    const unsigned abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return (unsigned short)(sign | 0x7e00u | ((abs & 0x7fffffu) >> 13));  // quiet, payload kept
    if (abs >= 0x477ff000u) return (unsigned short)(sign | 0x7c00u);  // rounds to ≥ 65520: infinity
    if (abs < 0x38800000u) {
        // Subnormal f16 (or zero): value / 2^-24, rounded to nearest even.
        if (abs < 0x33000000u) return (unsigned short)sign;  // below half the smallest subnormal
        const unsigned mant = (abs & 0x7fffffu) | 0x800000u;
        const int shift = 126 - (int)(abs >> 23);  // 14..24
        const unsigned q = mant >> shift, rest = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
        return (unsigned short)(sign | (q + (rest > half || (rest == half && (q & 1u)))));
    }
    const unsigned rounded = abs + 0xfffu + ((abs >> 13) & 1u);
    return (unsigned short)(sign | ((rounded - 0x38000000u) >> 13));
}
__device__ __forceinline__ float cari_f16_to_f32(unsigned short h) {
    const unsigned sign = (unsigned)(h & 0x8000u) << 16;
    const unsigned exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0) {
        // ±0 or subnormal: mant · 2^-24, exact in f32.
        const float v = (float)mant * 5.9604644775390625e-8f;
        return __uint_as_float(__float_as_uint(v) | sign);
    }
    if (exp == 31) return __uint_as_float(sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0u));  // NaN: quiet
    return __uint_as_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

// `a·b` rounded on its own: never contracted with a following add into an FMA, so a kernel
// repeats the CPU's roundings exactly (NVRTC compiles with --fmad=true; under the emulation
// a volatile keeps the host compiler from contracting whatever its target flags).
__device__ __forceinline__ float cari_mul_rn(float a, float b) {
#ifdef CARI_EMU
    volatile float product = a * b;
    return product;
#else
    return __fmul_rn(a, b);
#endif
}

// A grid-stride walk over the flat elements of a row-major [rows, cols] matrix that keeps
// each element's row and column with one 64-bit division at the start instead of one per
// element: `for (CariMatrixWalk w(cols); w.i < n; w.next()) use(w.i, w.row, w.col);`
// (cols > 0). A 1-D grid of any size; or any walk from `first` by `stride`.
struct CariMatrixWalk {
    i64 i, row, col, cols, stride, drow, dcol;
    __device__ __forceinline__ explicit CariMatrixWalk(i64 cols_) : CariMatrixWalk(cols_, cari_global_id(), cari_grid_stride()) {}
    __device__ __forceinline__ CariMatrixWalk(i64 cols_, i64 first, i64 stride_) : cols(cols_), stride(stride_) {
        i = first;
        row = i / cols;
        col = i - row * cols;
        drow = stride / cols;
        dcol = stride - drow * cols;
    }
    __device__ __forceinline__ void next() {
        i += stride;
        row += drow;
        col += dcol;
        if (col >= cols) {
            col -= cols;
            ++row;
        }
    }
};

// Column tiles: a block of blockDim.x threads (a multiple of 32) covers `tile` consecutive
// columns (a power of two ≤ 32) of blockDim.x / tile rows at a time; thread t has column
// t % tile, so a warp reads tile consecutive values of 32 / tile consecutive rows.
// Sums `v` over the block's threads of each column in a fixed order (deterministic): the
// column's total goes to thread t < tile, 0 to the others. Every thread of the block must
// call it; `scratch` holds blockDim.x / 32 · tile doubles of shared memory.
__device__ __forceinline__ double cari_column_tile_sum_f64(double v, int tile, double* scratch) {
    for (int offset = 16; offset >= tile; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();
    if (lane < tile) scratch[warp * tile + lane] = v;
    __syncthreads();
    double total = 0.0;
    if ((int)threadIdx.x < tile)
        for (int w = 0; w < warps; ++w) total += scratch[w * tile + threadIdx.x];
    return total;
}

// Row groups: the blockDim.x threads with one threadIdx.y share a row (blockDim.x a power
// of two ≤ 32 or a multiple of 32; blockDim.x · blockDim.y a multiple of 32). Every thread
// of the block must call these (loops over rows uniform across the block) and every
// thread gets its row's result, bit-identical across the row. `scratch` holds
// 32 · blockDim.y values of shared memory. CARI_FOR_EACH_ROW_STEP steps over the rows
// uniformly across the block: this thread's row is `first + threadIdx.y` (if < rows).
#define CARI_FOR_EACH_ROW_STEP(rows) \
    for (i64 first = (i64)blockIdx.x * blockDim.y; first < (rows); first += (i64)gridDim.x * blockDim.y)

__device__ __forceinline__ double cari_row_sum_f64(double v, double* scratch) {
    if (blockDim.x <= 32) {
        for (int offset = blockDim.x >> 1; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
        return v;
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    double* row = scratch + 32 * threadIdx.y;
    v = cari_warp_sum_f64(v);
    __syncthreads();
    if (lane == 0) row[warp] = v;
    __syncthreads();
    return cari_warp_sum_f64(lane < warps ? row[lane] : 0.0);
}
__device__ __forceinline__ float cari_row_max(float v, float* scratch) {
    if (blockDim.x <= 32) {
        for (int offset = blockDim.x >> 1; offset > 0; offset >>= 1)
            v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
        return v;
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    float* row = scratch + 32 * threadIdx.y;
    v = cari_warp_max(v);
    __syncthreads();
    if (lane == 0) row[warp] = v;
    __syncthreads();
    return cari_warp_max(lane < warps ? row[lane] : -INFINITY);
}

// The maximum of row[0, cols) over this thread's row group; −∞ for a row past the end
// (`live` false), whose threads still take part in the reduction.
__device__ __forceinline__ float cari_row_group_max(const float* row, i64 cols, bool live, double* scratch) {
    float max = -INFINITY;
    if (live)
        for (i64 c = threadIdx.x; c < cols; c += blockDim.x) max = fmaxf(max, row[c]);
    return cari_row_max(max, reinterpret_cast<float*>(scratch));
}

// Whether this block is the last of `arrivals` blocks to get here, counted on `*counter`:
// the way one launch both reduces per block and combines the blocks' results (the last
// block combines them, in a fixed order, so the result does not depend on which block that
// is). Every counted block's global writes before the call are visible to the last one
// after it. Every thread of the block must call it; `*counter` is 0 before the first
// arrival, and the last block sets it back to 0.
__device__ __forceinline__ bool cari_last_arrival(unsigned* counter, unsigned arrivals) {
    __shared__ bool last;
    __threadfence();  // this thread's writes reach the device before the block is counted
    __syncthreads();
    if (threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0) {
        last = atomicAdd(counter, 1u) == arrivals - 1;
        if (last) *counter = 0;
    }
    __syncthreads();
    if (last) __threadfence();
    return last;
}

// Whether this block is the last of the grid to get here (see cari_last_arrival).
__device__ __forceinline__ bool cari_last_block(unsigned* done) {
    return cari_last_arrival(done, gridDim.x * gridDim.y * gridDim.z);
}

// Unrolls the next loop fully (its trip count a compile-time constant). Empty under the CPU
// emulation, whose host compiler does not know the pragma and unrolls on its own judgement.
#ifdef CARI_EMU
#define CARI_UNROLL
#else
#define CARI_UNROLL _Pragma("unroll")
#endif
