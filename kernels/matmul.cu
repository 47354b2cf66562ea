// Dense matrix products c[m, n] = op(a)·op(b), fp32, on the tiled GEMM of gemm.cuh.
//
// op(a) is [m, k], stored as [m, k] or, transposed, as [k, m]; op(b) is [k, n], stored as
// [k, n] or, transposed, as [n, k]. One entry point per transpose combination
// (matmul_<a><b>, n = as stored, t = transposed), so each gets its own slot map and shared
// memory. Launch: 256 threads, ⌈m/64⌉·⌈n/64⌉ blocks along x; any m, n ≥ 1 and k ≥ 0
// (k = 0 writes zeros). linear_forward is matmul_nn with a bias and an activation in its
// epilogue.
#include "common.cuh"
#include "gemm.cuh"

template <bool TRANSPOSE_A, bool TRANSPOSE_B>
__device__ __forceinline__ void matmul_tile(float* c, const float* a, const float* b, i64 m, i64 k, i64 n) {
    i64 m0, n0;
    gemm_tile_origin(m, m0, n0);
    // Stored [m, k], op(a) is k-fastest; stored [n, k], op(b) is k-fastest (its rows are n).
    GemmMatrix<!TRANSPOSE_A> lhs{a, TRANSPOSE_A ? m : k, m0, m, k};
    GemmMatrix<TRANSPOSE_B> rhs{b, TRANSPOSE_B ? k : n, n0, n, k};
    gemm_block(lhs, rhs, 0, k, GemmRows{c, n, m0, m}, n0, n);
}

extern "C" __global__ __launch_bounds__(GEMM_THREADS) void matmul_nn(float* c, const float* a, const float* b, i64 m, i64 k, i64 n) {
    matmul_tile<false, false>(c, a, b, m, k, n);
}

extern "C" __global__ __launch_bounds__(GEMM_THREADS) void matmul_nt(float* c, const float* a, const float* b, i64 m, i64 k, i64 n) {
    matmul_tile<false, true>(c, a, b, m, k, n);
}

extern "C" __global__ __launch_bounds__(GEMM_THREADS) void matmul_tn(float* c, const float* a, const float* b, i64 m, i64 k, i64 n) {
    matmul_tile<true, false>(c, a, b, m, k, n);
}

extern "C" __global__ __launch_bounds__(GEMM_THREADS) void matmul_tt(float* c, const float* a, const float* b, i64 m, i64 k, i64 n) {
    matmul_tile<true, true>(c, a, b, m, k, n);
}

// C with a bias row added and an activation applied where it is stored: v + bias[c], then
// max(·, 0) when `relu` (the roundings of add_bias and relu).
struct BiasRows {
    float* p;
    const float* bias;
    int relu;
    i64 ld, m0, m_end;
    __device__ __forceinline__ float* row(int r) const {
        return m0 + r < m_end ? p + (m0 + r) * ld : nullptr;
    }
    __device__ __forceinline__ float finish(int, i64 c, float v) const {
        const float y = v + bias[c];
        return !relu || y > 0.0f ? y : 0.0f;
    }
};

// A fully connected layer: c[m, n] = act(a[m, k]·b[k, n] + bias[n]), the bias and the
// activation in the GEMM's epilogue. Launch as matmul_nn.
extern "C" __global__ __launch_bounds__(GEMM_THREADS) void linear_forward(float* c, const float* a, const float* b,
                                                                         const float* bias, int relu, i64 m, i64 k,
                                                                         i64 n) {
    i64 m0, n0;
    gemm_tile_origin(m, m0, n0);
    GemmMatrix<true> lhs{a, k, m0, m, k};
    GemmMatrix<false> rhs{b, n, n0, n, k};
    gemm_block(lhs, rhs, 0, k, BiasRows{c, bias, relu, n, m0, m}, n0, n);
}
