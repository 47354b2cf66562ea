// Element-wise and per-column ops on f32 (CPU reference: src/backend/cpu/elementwise.rs).
//
// Entry points, all row-major, n = element count:
//   elementwise_binary(out[n], a[n], b[n], op)       out = a ∘ b, op 0..3 = + − × ÷
//   elementwise_affine(out[n], x[n], mul, add)       out = x·mul + add
//   elementwise_exp(out[n], x[n])                    out = eˣ
//   elementwise_add_scaled(out[n], a[n], b[n], α)    out = a + α·b
//   elementwise_sum_list(out[n], xs[count], count, n) out = xs[0] + xs[1] + …, left to right
//   elementwise_relu / elementwise_relu_backward
//   elementwise_add_bias(out, x[rows, cols], bias[cols])
//   elementwise_broadcast_rows(out[rows, cols], x[cols])
//   elementwise_column_partials + elementwise_column_totals   sum_rows: x[rows, cols] → [cols] in f64
//
// The maps are grid-stride loops over a 1-D grid of any size (Launch::linear). Every
// product is rounded on its own (cari_mul_rn) and division is IEEE (NVRTC's default
// --prec-div), so each map repeats the CPU's roundings exactly and matches it bit for bit.
// The reductions accumulate in f64 over a fixed partition of the input that depends on
// the shape alone, so their results are the same run to run.
#include "common.cuh"

extern "C" __global__ void elementwise_binary(float* __restrict__ out, const float* __restrict__ a,
                                              const float* __restrict__ b, int op, i64 n) {
    // One branch per launch, not per element: `op` is uniform.
    switch (op) {
        case 0:
            for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) out[i] = a[i] + b[i];
            break;
        case 1:
            for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) out[i] = a[i] - b[i];
            break;
        case 2:
            for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) out[i] = a[i] * b[i];
            break;
        default:
            for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) out[i] = a[i] / b[i];
            break;
    }
}

extern "C" __global__ void elementwise_affine(float* __restrict__ out, const float* __restrict__ x, float mul,
                                              float add, i64 n) {
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) out[i] = cari_mul_rn(x[i], mul) + add;
}

// Full-precision expf (not __expf): within 2 ulp of the CPU's.
extern "C" __global__ void elementwise_exp(float* __restrict__ out, const float* __restrict__ x, i64 n) {
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) out[i] = expf(x[i]);
}

extern "C" __global__ void elementwise_add_scaled(float* __restrict__ out, const float* __restrict__ a,
                                                  const float* __restrict__ b, float alpha, i64 n) {
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) out[i] = a[i] + cari_mul_rn(alpha, b[i]);
}

// `xs` holds `count` ≥ 1 addresses of n floats each.
extern "C" __global__ void elementwise_sum_list(float* __restrict__ out, const unsigned long long* __restrict__ xs,
                                                int count, i64 n) {
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) {
        float acc = reinterpret_cast<const float*>(xs[0])[i];
        for (int j = 1; j < count; ++j) acc += reinterpret_cast<const float*>(xs[j])[i];
        out[i] = acc;
    }
}

// `v > 0 ? v : 0`, as the CPU writes it: NaN and −0 give +0.
extern "C" __global__ void elementwise_relu(float* __restrict__ out, const float* __restrict__ x, i64 n) {
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) {
        const float v = x[i];
        out[i] = v > 0.0f ? v : 0.0f;
    }
}

extern "C" __global__ void elementwise_relu_backward(float* __restrict__ out, const float* __restrict__ dy,
                                                     const float* __restrict__ y, i64 n) {
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) out[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

// n = rows·cols > 0 (cols > 0).
extern "C" __global__ void elementwise_add_bias(float* __restrict__ out, const float* __restrict__ x,
                                                const float* __restrict__ bias, i64 n, i64 cols) {
    for (CariMatrixWalk w(cols); w.i < n; w.next()) out[w.i] = x[w.i] + bias[w.col];
}

// n = rows·cols > 0 (cols > 0).
extern "C" __global__ void elementwise_broadcast_rows(float* __restrict__ out, const float* __restrict__ x, i64 n,
                                                      i64 cols) {
    for (CariMatrixWalk w(cols); w.i < n; w.next()) out[w.i] = x[w.col];
}

// Column sums, pass 1. Block (32, R); grid (⌈cols/32⌉, chunks); dynamic shared memory
// 32·R doubles. Block (bx, by) sums columns 32·bx + tx over rows by·chunk_rows ..
// min(rows, (by + 1)·chunk_rows): thread row ty takes every R-th row from ty, so a warp
// reads 32 consecutive floats of one row (coalesced when cols ≥ 32). The R partials are
// added in ty order; with one chunk the column total goes straight to `out`, else to
// `partial[by, col]` for pass 2.
extern "C" __global__ void elementwise_column_partials(float* __restrict__ out, double* __restrict__ partial,
                                                       const float* __restrict__ x, i64 rows, i64 cols,
                                                       i64 chunk_rows) {
    CARI_DYNAMIC_SHARED(double, sums);
    const int tx = threadIdx.x, ty = threadIdx.y, row_threads = blockDim.y;
    const i64 col = (i64)blockIdx.x * 32 + tx;
    const i64 first = (i64)blockIdx.y * chunk_rows;
    const i64 end = first + chunk_rows < rows ? first + chunk_rows : rows;
    double acc = 0.0;
    if (col < cols) {
        for (i64 r = first + ty; r < end; r += row_threads) acc += (double)x[r * cols + col];
    }
    sums[ty * 32 + tx] = acc;
    __syncthreads();
    if (ty == 0 && col < cols) {
        double total = sums[tx];
        for (int k = 1; k < row_threads; ++k) total += sums[k * 32 + tx];
        if (gridDim.y == 1) {
            out[col] = (float)total;
        } else {
            partial[(i64)blockIdx.y * cols + col] = total;
        }
    }
}

// Column sums, pass 2: out[c] = Σ_chunk partial[chunk, c], one warp per column: lane l
// adds chunks l, l + 32, … in order, then the warp's fixed shuffle tree adds the lanes, so
// each addition chain is chunks/32 long. Block 32·W threads (W warps, W columns); 1-D
// grid of ⌈cols/W⌉ blocks. No barriers: a warp whose column is past the end skips whole.
extern "C" __global__ void elementwise_column_totals(float* __restrict__ out, const double* __restrict__ partial,
                                                     i64 chunks, i64 cols) {
    const int lane = threadIdx.x & 31;
    const i64 col = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (col < cols) {
        double total = 0.0;
        for (i64 k = lane; k < chunks; k += 32) total += partial[k * cols + col];
        total = cari_warp_sum_f64(total);
        if (lane == 0) out[col] = (float)total;
    }
}
