// Row-wise normalisations of x[rows, cols]; the formulas are those of
// src/backend/cpu/normalize.rs.
//
// l2_normalize_forward    y = x / √max(Σx², eps)
// l2_normalize_backward   dx = dy/√eps where Σx² < eps, else (dy − x·⟨x, dy⟩/Σx²)/‖x‖
// softmax_forward         y = exp(x − max) / Σ exp(x − max)
// softmax_backward        dx = y ⊙ (dy − ⟨dy, y⟩)
// weight_head_forward     π = softmax(l2_normalize(a + bias)·scale + 0): the dynamic weight
//                         module's per-sample weights (eq. 5, 8) in one pass
// weight_head_backward    its backward from dπ: softmax's, affine's, l2_normalize's in turn
//                         (the bias gradient is the column sum of the result)
//
// Launch: row groups (common.cuh): block (group, rows_per_block) with group a power of
// two ≤ 1024 threads per row and group · rows_per_block = max(group, 256); grid.x blocks
// take rows blockIdx.x·rows_per_block + threadIdx.y, looping with stride
// gridDim.x·rows_per_block. Dynamic shared memory: 32·rows_per_block doubles. Each thread
// walks its row with stride `group` (coalesced); sums and dot products accumulate in f64
// and meet in warp shuffles (and shared memory across the warps of a wider group).
#include "common.cuh"

// 1/√max(Σx², eps): l2_normalize's factor.
__device__ __forceinline__ float l2_inv(double sum_sq, float eps) {
    return (float)(1.0 / sqrt(fmax(sum_sq, (double)eps)));
}

// l2_normalize's backward for one row from Σx² and ⟨x, dy⟩: below eps the denominator is the
// constant √eps; otherwise x is projected out.
struct L2Backward {
    bool flat;
    float inv, proj;
    __device__ __forceinline__ L2Backward(double sum_sq, double dot, float eps) {
        flat = sum_sq < (double)eps;
        inv = (float)(1.0 / sqrt(flat ? (double)eps : sum_sq));
        proj = flat ? 0.0f : (float)(dot / sum_sq);
    }
    __device__ __forceinline__ float dx(float dy, float x) const {
        return flat ? dy * inv : (dy - cari_mul_rn(x, proj)) * inv;
    }
};

// softmax's ⟨dy, y⟩ over a row, in f64 (every thread of the block calls it).
__device__ __forceinline__ float softmax_row_dot(const float* dy, const float* y, i64 at, i64 cols, bool live,
                                                 double* scratch) {
    double dot = 0.0;
    if (live)
        for (i64 c = threadIdx.x; c < cols; c += blockDim.x) dot += (double)dy[at + c] * (double)y[at + c];
    return (float)cari_row_sum_f64(dot, scratch);
}

extern "C" __global__ void l2_normalize_forward(float* y, const float* x, i64 rows, i64 cols, float eps) {
    CARI_DYNAMIC_SHARED(double, scratch);
    CARI_FOR_EACH_ROW_STEP(rows) {
        const i64 row = first + threadIdx.y, at = row * cols;
        const bool live = row < rows;
        double sum_sq = 0.0;
        if (live)
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
                const double v = x[at + c];
                sum_sq += v * v;
            }
        sum_sq = cari_row_sum_f64(sum_sq, scratch);
        if (live) {
            const float inv = l2_inv(sum_sq, eps);
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) y[at + c] = x[at + c] * inv;
        }
    }
}

extern "C" __global__ void l2_normalize_backward(float* dx, const float* dy, const float* x, i64 rows, i64 cols,
                                                 float eps) {
    CARI_DYNAMIC_SHARED(double, scratch);
    CARI_FOR_EACH_ROW_STEP(rows) {
        const i64 row = first + threadIdx.y, at = row * cols;
        const bool live = row < rows;
        double sum_sq = 0.0, dot = 0.0;
        if (live)
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
                const double v = x[at + c];
                sum_sq += v * v;
                dot += v * (double)dy[at + c];
            }
        sum_sq = cari_row_sum_f64(sum_sq, scratch);
        dot = cari_row_sum_f64(dot, scratch);
        if (live) {
            const L2Backward back(sum_sq, dot, eps);
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) dx[at + c] = back.dx(dy[at + c], x[at + c]);
        }
    }
}

extern "C" __global__ void softmax_forward(float* y, const float* x, i64 rows, i64 cols) {
    CARI_DYNAMIC_SHARED(double, scratch);
    CARI_FOR_EACH_ROW_STEP(rows) {
        const i64 row = first + threadIdx.y, at = row * cols;
        const bool live = row < rows;
        const float max = cari_row_group_max(x + at, cols, live, scratch);
        double sum = 0.0;
        if (live)
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) sum += expf(x[at + c] - max);
        sum = cari_row_sum_f64(sum, scratch);
        if (live) {
            // exp recomputed rather than stored and reread: the row is read twice, written once.
            const float inv = (float)(1.0 / sum);
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) y[at + c] = expf(x[at + c] - max) * inv;
        }
    }
}

extern "C" __global__ void softmax_backward(float* dx, const float* dy, const float* y, i64 rows, i64 cols) {
    CARI_DYNAMIC_SHARED(double, scratch);
    CARI_FOR_EACH_ROW_STEP(rows) {
        const i64 row = first + threadIdx.y, at = row * cols;
        const bool live = row < rows;
        const float d = softmax_row_dot(dy, y, at, cols, live, scratch);
        if (live)
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) dx[at + c] = y[at + c] * (dy[at + c] - d);
    }
}

// The weight module's logits of row element c after its normalisation: the roundings of
// add_bias, l2_normalize (by `inv`) and affine(·, scale, 0) in turn.
__device__ __forceinline__ float weight_head_logit(const float* a, const float* bias, i64 at, i64 c, float inv,
                                                   float scale) {
    return cari_mul_rn((a[at + c] + bias[c]) * inv, scale) + 0.0f;
}

extern "C" __global__ void weight_head_forward(float* pi, const float* a, const float* bias, i64 rows, i64 cols,
                                               float scale, float eps) {
    CARI_DYNAMIC_SHARED(double, scratch);
    CARI_FOR_EACH_ROW_STEP(rows) {
        const i64 row = first + threadIdx.y, at = row * cols;
        const bool live = row < rows;
        double sum_sq = 0.0;
        if (live)
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
                const double v = a[at + c] + bias[c];
                sum_sq += v * v;
            }
        sum_sq = cari_row_sum_f64(sum_sq, scratch);
        const float inv = l2_inv(sum_sq, eps);
        float max = -INFINITY;
        if (live)
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) max = fmaxf(max, weight_head_logit(a, bias, at, c, inv, scale));
        max = cari_row_max(max, reinterpret_cast<float*>(scratch));
        double sum = 0.0;
        if (live)
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) sum += expf(weight_head_logit(a, bias, at, c, inv, scale) - max);
        sum = cari_row_sum_f64(sum, scratch);
        if (live) {
            const float inv_sum = (float)(1.0 / sum);
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x)
                pi[at + c] = expf(weight_head_logit(a, bias, at, c, inv, scale) - max) * inv_sum;
        }
    }
}

extern "C" __global__ void weight_head_backward(float* da, const float* dpi, const float* pi, const float* a,
                                                const float* bias, i64 rows, i64 cols, float scale, float eps) {
    CARI_DYNAMIC_SHARED(double, scratch);
    CARI_FOR_EACH_ROW_STEP(rows) {
        const i64 row = first + threadIdx.y, at = row * cols;
        const bool live = row < rows;
        const float d = softmax_row_dot(dpi, pi, at, cols, live, scratch);
        // dn = affine(softmax's dx, scale, 0), then l2_normalize's backward with x = a + bias.
        double sum_sq = 0.0, dot_n = 0.0;
        if (live)
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
                const double u = a[at + c] + bias[c];
                const float dn = cari_mul_rn(pi[at + c] * (dpi[at + c] - d), scale) + 0.0f;
                sum_sq += u * u;
                dot_n += u * (double)dn;
            }
        sum_sq = cari_row_sum_f64(sum_sq, scratch);
        dot_n = cari_row_sum_f64(dot_n, scratch);
        if (live) {
            const L2Backward back(sum_sq, dot_n, eps);
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
                const float dn = cari_mul_rn(pi[at + c] * (dpi[at + c] - d), scale) + 0.0f;
                da[at + c] = back.dx(dn, a[at + c] + bias[c]);
            }
        }
    }
}
