// Batch normalisation with a shift β and no scale over x[rows, channels] (NHWC activations
// viewed as [N·H·W, C]), the following activation fused in; the formulas are those of
// src/backend/cpu/batch_norm.rs.
//
// Statistics:  batch_norm_stats → per (row split, channel) f64 Σx, Σx² into partials, then
//              (the last block) mean[C], var[C]
// Forward:     batch_norm_forward → y = act((x − mean)·inv + β), inv = 1/√(var + eps)
// Backward:    batch_norm_backward_sums → per (row split, channel) f64 Σg, Σg·x̂ into
//              partials, then (the last block) dβ[C], mean(g)[C], mean(g·x̂)[C]
//              (batch_norm_backward_sums_list: several batch norms' in one launch)
//              batch_norm_backward_dx → dx = inv·(g − mean(g) − x̂·mean(g·x̂))
// with x̂ = (x − mean)·inv and g = dy·act'(x̂ + β).
//
// Launch: column tiles (common.cuh) of 256 threads, `tile` channels × 256 / tile rows;
// grid [⌈C / tile⌉, row splits], block split y covering rows y·256/tile + k·256/tile·gridDim.y.
// The two reductions finish in their last block (cari_last_block: `done` is 0 at the
// launch and left 0), whose threads take a channel each. Sums accumulate in f64 (products
// of f32 values are exact there) and the row splits are combined in split order, so
// results do not depend on scheduling. f32 products are
// rounded on their own (cari_mul_rn) as on the CPU: the forward pass matches it bit for bit
// and the ReLU's mask in the backward pass is the forward pass's.
#include "batch_norm.cuh"
#include "tensor_list.cuh"

#define BN_THREADS 256

// This thread's channel and first row in a column-tile launch, and its row stride.
struct ColumnTile {
    i64 channel, first_row, row_step;
};

// Block (bx, by) of a launch of `splits` row splits.
__device__ __forceinline__ ColumnTile column_tile_at(int tile, i64 bx, i64 by, i64 splits) {
    const int rows_per_block = BN_THREADS / tile;
    return {bx * tile + threadIdx.x % tile, by * rows_per_block + threadIdx.x / tile, (i64)rows_per_block * splits};
}

__device__ __forceinline__ ColumnTile column_tile(int tile) {
    return column_tile_at(tile, blockIdx.x, blockIdx.y, gridDim.y);
}

// Writes block (bx, by)'s two column sums to partials[by][0 or 1][channels].
__device__ __forceinline__ void store_partials(double* partials, double a, double b, i64 channels, int tile,
                                               double* scratch, i64 bx, i64 by) {
    a = cari_column_tile_sum_f64(a, tile, scratch);
    b = cari_column_tile_sum_f64(b, tile, scratch);
    const i64 c = bx * tile + threadIdx.x;
    if ((int)threadIdx.x < tile && c < channels) {
        double* out = partials + by * 2 * channels;
        out[c] = a;
        out[channels + c] = b;
    }
}

// The channels' two sums over the row splits' partials, in split order.
struct SplitSums {
    double a, b;
};

__device__ __forceinline__ SplitSums sum_splits(const double* partial, i64 c, i64 channels, i64 splits) {
    const volatile double* partials = partial;  // other blocks' writes, past the fence
    SplitSums s = {0.0, 0.0};
    for (i64 k = 0; k < splits; ++k) {
        s.a += partials[2 * k * channels + c];
        s.b += partials[(2 * k + 1) * channels + c];
    }
    return s;
}

// Dynamic shared memory: 256 doubles. mean = Σx / R, var = max(Σx² / R − mean², 0)
// (biased), as the CPU computes them.
extern "C" __global__ void batch_norm_stats(float* mean, float* var, double* partials, unsigned* done, const float* x,
                                            i64 rows, i64 channels, int tile) {
    CARI_DYNAMIC_SHARED(double, scratch);
    const ColumnTile t = column_tile(tile);
    double sum = 0.0, sum_sq = 0.0;
    if (t.channel < channels) {
        const float* col = x + t.channel;
        i64 r = t.first_row;
        // Four independent loads in flight per thread before the dependent adds.
        for (; r + 3 * t.row_step < rows; r += 4 * t.row_step) {
            const double v0 = col[r * channels], v1 = col[(r + t.row_step) * channels];
            const double v2 = col[(r + 2 * t.row_step) * channels], v3 = col[(r + 3 * t.row_step) * channels];
            sum += v0 + v1 + v2 + v3;
            sum_sq += v0 * v0 + v1 * v1 + v2 * v2 + v3 * v3;
        }
        for (; r < rows; r += t.row_step) {
            const double v = col[r * channels];
            sum += v;
            sum_sq += v * v;
        }
    }
    store_partials(partials, sum, sum_sq, channels, tile, scratch, blockIdx.x, blockIdx.y);
    if (!cari_last_block(done)) return;
    const double n = (double)rows;
    for (i64 c = threadIdx.x; c < channels; c += blockDim.x) {
        const SplitSums s = sum_splits(partials, c, channels, gridDim.y);
        const double m = s.a / n;
        mean[c] = (float)m;
        var[c] = (float)fmax(s.b / n - m * m, 0.0);
    }
}

extern "C" __global__ void batch_norm_forward(float* __restrict__ y, const float* __restrict__ x, const float* mean,
                                              const float* var, const float* beta, i64 rows, i64 channels, int tile, float eps,
                                              int relu) {
    const ColumnTile t = column_tile(tile);
    if (t.channel < channels) {
        const BnChannel bn = bn_channel(mean[t.channel], var[t.channel], beta[t.channel], eps, relu);
        for (i64 r = t.first_row; r < rows; r += t.row_step) {
            const i64 i = r * channels + t.channel;
            y[i] = bn(x[i]);
        }
    }
}


// One batch norm's backward sums (src/backend/cuda/batch_norm.rs, `SumsJob`, field for
// field): over dy and x [rows, channels], into dβ and means; its column-tile launch has
// `tiles` × `splits` blocks, taking blocks first_block .. of a list launch.
struct BnSumsJob {
    const float *dy, *x, *mean, *var, *beta;
    float *dbeta, *means;
    double* partials;
    unsigned* done;
    i64 rows, channels, tiles, splits, first_block;
    int tile, relu;
    float eps;
    int unused;
};

// Block (bx, by) of job j: dβ = Σg; means[0][c] = Σg / R and means[1][c] = Σg·x̂ / R,
// rounded to f32 like the CPU, written by the job's last block. `scratch`: 256 doubles.
__device__ __forceinline__ void backward_sums_block(const BnSumsJob& j, i64 bx, i64 by, double* scratch) {
    const ColumnTile t = column_tile_at(j.tile, bx, by, j.splits);
    const i64 rows = j.rows, channels = j.channels;
    double sum_g = 0.0, sum_g_xhat = 0.0;
    if (t.channel < channels) {
        const float* dy = j.dy;
        const float* x = j.x;
        const float m = j.mean[t.channel], inv = bn_inv_std(j.var[t.channel], j.eps), b = j.beta[t.channel];
        i64 r = t.first_row;
        for (; r + t.row_step < rows; r += 2 * t.row_step) {
            const i64 i0 = r * channels + t.channel, i1 = i0 + t.row_step * channels;
            const float dy0 = dy[i0], x0 = x[i0], dy1 = dy[i1], x1 = x[i1];
            const Normalized n0 = bn_normalized(dy0, x0, m, inv, b, j.relu);
            const Normalized n1 = bn_normalized(dy1, x1, m, inv, b, j.relu);
            sum_g += (double)n0.g + (double)n1.g;
            sum_g_xhat += (double)(n0.g * n0.xhat) + (double)(n1.g * n1.xhat);
        }
        if (r < rows) {
            const i64 i = r * channels + t.channel;
            const Normalized n = bn_normalized(dy[i], x[i], m, inv, b, j.relu);
            sum_g += n.g;
            sum_g_xhat += n.g * n.xhat;
        }
    }
    store_partials(j.partials, sum_g, sum_g_xhat, channels, j.tile, scratch, bx, by);
    if (!cari_last_arrival(j.done, (unsigned)(j.tiles * j.splits))) return;
    const double n = (double)rows;
    for (i64 c = threadIdx.x; c < channels; c += blockDim.x) {
        const SplitSums s = sum_splits(j.partials, c, channels, j.splits);
        j.dbeta[c] = (float)s.a;
        j.means[c] = (float)(s.a / n);
        j.means[channels + c] = (float)(s.b / n);
    }
}

// Dynamic shared memory: 256 doubles. One batch norm, grid [tiles, splits].
extern "C" __global__ void batch_norm_backward_sums(float* dbeta, float* means, double* partials, unsigned* done,
                                                    const float* dy, const float* x, const float* mean,
                                                    const float* var, const float* beta, i64 rows, i64 channels,
                                                    int tile, float eps, int relu) {
    CARI_DYNAMIC_SHARED(double, scratch);
    const BnSumsJob j{dy, x, mean, var, beta, dbeta, means, partials, done, rows, channels, gridDim.x, gridDim.y, 0,
                      tile, relu, eps, 0};
    backward_sums_block(j, blockIdx.x, blockIdx.y, scratch);
}

// Dynamic shared memory: 256 doubles. `count` batch norms in one 1-D grid, job i's
// tiles × splits blocks from its first_block on (each job its own `done` counter).
extern "C" __global__ void batch_norm_backward_sums_list(const BnSumsJob* jobs, int count) {
    CARI_DYNAMIC_SHARED(double, scratch);
    const BnSumsJob j = cari_entry_of_block(jobs, count);
    const i64 local = (i64)blockIdx.x - j.first_block;
    backward_sums_block(j, local % j.tiles, local / j.tiles, scratch);
}

extern "C" __global__ void batch_norm_backward_dx(float* __restrict__ dx, const float* means,
                                                  const float* __restrict__ dy, const float* __restrict__ x,
                                                  const float* mean, const float* var, const float* beta,
                                                  i64 rows, i64 channels, int tile, float eps, int relu) {
    const ColumnTile t = column_tile(tile);
    if (t.channel < channels) {
        const float m = mean[t.channel], inv = bn_inv_std(var[t.channel], eps), b = beta[t.channel];
        const float mean_g = means[t.channel], mean_g_xhat = means[channels + t.channel];
        for (i64 r = t.first_row; r < rows; r += t.row_step) {
            const i64 i = r * channels + t.channel;
            dx[i] = bn_dx(bn_normalized(dy[i], x[i], m, inv, b, relu), inv, mean_g, mean_g_xhat);
        }
    }
}
