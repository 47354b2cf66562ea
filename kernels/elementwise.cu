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
//   elementwise_residual_tail(out, x, up, bias[cols], scale, relu, n, cols)  out = act(x + scale·(up + bias))
//   elementwise_broadcast_rows(out[rows, cols], x[cols])
//   elementwise_column_sums                          sum_rows: x[rows, cols] → [cols] in f64, or the
//                                                    residual tail's backward with its bias gradient
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

// n = rows·cols > 0 (cols > 0). The roundings of add_bias, add_scaled and relu in turn.
extern "C" __global__ void elementwise_residual_tail(float* __restrict__ out, const float* __restrict__ x,
                                                     const float* __restrict__ up, const float* __restrict__ bias,
                                                     float scale, int relu, i64 n, i64 cols) {
    for (CariMatrixWalk w(cols); w.i < n; w.next()) {
        const float v = x[w.i] + cari_mul_rn(scale, up[w.i] + bias[w.col]);
        out[w.i] = !relu || v > 0.0f ? v : 0.0f;
    }
}

// The roundings of relu_backward and affine(·, scale, 0) in turn.
// n = rows·cols > 0 (cols > 0).
extern "C" __global__ void elementwise_broadcast_rows(float* __restrict__ out, const float* __restrict__ x, i64 n,
                                                      i64 cols) {
    for (CariMatrixWalk w(cols); w.i < n; w.next()) out[w.i] = x[w.col];
}

// Column sums. Block (32, R); grid (⌈cols/32⌉, chunks); dynamic shared memory 32·R
// doubles. Block (bx, by) sums columns 32·bx + tx over rows by·chunk_rows ..
// min(rows, (by + 1)·chunk_rows): thread row ty takes every R-th row from ty, so a warp
// reads 32 consecutive floats of one row (coalesced when cols ≥ 32). The R partials are
// added in ty order; with one chunk the column total goes straight to `out`, else to
// `partial[by, col]`, and the last chunk of column tile bx to finish (counted on
// counters[bx], zero before, left zero) adds the tile's partials, a warp per column: lane l
// adds chunks l, l + 32, … in order, then the warp's fixed shuffle tree adds the lanes.
// With `dx` given, x is a residual tail's dy and each element is first taken through the
// tail's backward (dx = act'·dy, the ReLU's mask from the output y, and dup = dx·scale + 0,
// rounded as the CPU's residual_tail_backward; both written), and the sums are dup's: the
// bias gradient.
extern "C" __global__ void elementwise_column_sums(float* __restrict__ out, double* __restrict__ partial,
                                                   unsigned* __restrict__ counters, const float* __restrict__ x,
                                                   float* __restrict__ dx, float* __restrict__ dup,
                                                   const float* __restrict__ y, float scale, int relu, i64 rows,
                                                   i64 cols, i64 chunk_rows) {
    CARI_DYNAMIC_SHARED(double, sums);
    const int tx = threadIdx.x, ty = threadIdx.y, row_threads = blockDim.y;
    const i64 col = (i64)blockIdx.x * 32 + tx;
    const i64 first = (i64)blockIdx.y * chunk_rows;
    const i64 end = first + chunk_rows < rows ? first + chunk_rows : rows;
    double acc = 0.0;
    if (col < cols && dx == nullptr) {
        for (i64 r = first + ty; r < end; r += row_threads) acc += (double)x[r * cols + col];
    } else if (col < cols) {
        for (i64 r = first + ty; r < end; r += row_threads) {
            const i64 i = r * cols + col;
            const float g = !relu || y[i] > 0.0f ? x[i] : 0.0f;
            const float d = cari_mul_rn(g, scale) + 0.0f;
            dx[i] = g;
            dup[i] = d;
            acc += (double)d;
        }
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
    if (gridDim.y == 1 || !cari_last_arrival(counters + blockIdx.x, gridDim.y)) return;
    const volatile double* partials = partial;  // other blocks' writes, past the fence
    const i64 chunks = gridDim.y;
    for (int c = ty; c < 32; c += row_threads) {
        const i64 column = (i64)blockIdx.x * 32 + c;
        if (column >= cols) break;  // uniform across the warp
        double total = 0.0;
        for (i64 k = tx; k < chunks; k += 32) total += partials[k * cols + column];
        total = cari_warp_sum_f64(total);
        if (tx == 0) out[column] = (float)total;
    }
}
