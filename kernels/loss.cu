// Per-row losses over [rows, cols] with one label per row (labels < classes, checked by the
// launcher); the formulas are those of src/backend/cpu/loss.rs.
//
// softmax_cross_entropy_forward   fused: row max m, Σ exp(z − m) (f32 exponentials summed in
//                                 f64 for the probabilities, f64 exponentials for the loss),
//                                 loss = ln Σ exp(z − m) − (z[label] − m), probs = softmax(z)
// softmax_cross_entropy_backward  dz = dloss·(probs − onehot(label))
// center_loss_forward             loss = ½‖e − centers[label]‖², summed in f64
// center_loss_backward            de = dloss·(e − centers[label])
// center_update                   c_j ← c_j − rest·(c_j − mean of the rows labelled j)
//
// Launch (all but center_update, a grid-stride loop over the centers): row groups, as in normalize.cu: block (group, rows_per_block), group a power of
// two ≤ 1024 threads per row, group · rows_per_block = max(group, 256); grid.x blocks step
// over rows; dynamic shared memory 32·rows_per_block doubles.
#include "common.cuh"

extern "C" __global__ void softmax_cross_entropy_forward(float* loss, float* probs, const float* logits,
                                                         const long long* labels, i64 rows, i64 cols) {
    CARI_DYNAMIC_SHARED(double, scratch);
    CARI_FOR_EACH_ROW_STEP(rows) {
        const i64 row = first + threadIdx.y, at = row * cols;
        const bool live = row < rows;
        const float max = cari_row_group_max(logits + at, cols, live, scratch);
        double sum = 0.0, sum_f64 = 0.0;
        if (live)
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
                const float shifted = logits[at + c] - max;
                sum += expf(shifted);
                sum_f64 += exp((double)shifted);
            }
        sum = cari_row_sum_f64(sum, scratch);
        sum_f64 = cari_row_sum_f64(sum_f64, scratch);
        if (live) {
            const float inv = (float)(1.0 / sum);
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) probs[at + c] = expf(logits[at + c] - max) * inv;
            // From the f64 sum, not −ln probs[label], which underflows for a hopeless label.
            if (threadIdx.x == 0) loss[row] = (float)(log(sum_f64) - (double)(logits[at + labels[row]] - max));
        }
    }
}

extern "C" __global__ void softmax_cross_entropy_backward(float* dlogits, const float* dloss, const float* probs,
                                                          const long long* labels, i64 rows, i64 cols) {
    CARI_FOR_EACH_ROW_STEP(rows) {
        const i64 row = first + threadIdx.y, at = row * cols;
        if (row < rows) {
            const float d = dloss[row];
            const i64 label = labels[row];
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x)
                dlogits[at + c] = c == label ? d * (probs[at + c] - 1.0f) : d * probs[at + c];
        }
    }
}

extern "C" __global__ void center_loss_forward(float* loss, const float* embeddings, const float* centers,
                                               const long long* labels, i64 rows, i64 cols) {
    CARI_DYNAMIC_SHARED(double, scratch);
    CARI_FOR_EACH_ROW_STEP(rows) {
        const i64 row = first + threadIdx.y;
        const bool live = row < rows;
        double sum_sq = 0.0;
        if (live) {
            const float* e = embeddings + row * cols;
            const float* center = centers + labels[row] * cols;
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
                const double d = (double)e[c] - (double)center[c];
                sum_sq += d * d;
            }
        }
        sum_sq = cari_row_sum_f64(sum_sq, scratch);
        if (live && threadIdx.x == 0) loss[row] = (float)(0.5 * sum_sq);
    }
}

extern "C" __global__ void center_loss_backward(float* dembeddings, const float* dloss, const float* embeddings,
                                                const float* centers, const long long* labels, i64 rows, i64 cols) {
    CARI_FOR_EACH_ROW_STEP(rows) {
        const i64 row = first + threadIdx.y;
        if (row < rows) {
            const float d = dloss[row];
            const float* e = embeddings + row * cols;
            const float* center = centers + labels[row] * cols;
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) dembeddings[row * cols + c] = d * (e[c] - center[c]);
        }
    }
}

// The center update: thread i of a grid-stride loop owns centers[i] (class j = i / cols,
// column i % cols), sums the rows labelled j in row order in f32 and moves the center by
// rest·(c − mean), each product rounded on its own, as the CPU does. O(len·rows): the
// centers are few and the batch small.
extern "C" __global__ void center_update(float* out, const float* centers, const float* embeddings,
                                         const long long* labels, float rest, i64 len, i64 rows, i64 cols) {
    for (i64 i = cari_global_id(); i < len; i += cari_grid_stride()) {
        const i64 j = i / cols, c = i % cols;
        float sum = 0.0f;
        i64 n = 0;
        for (i64 r = 0; r < rows; ++r) {
            if (labels[r] == j) {
                sum += embeddings[r * cols + c];
                ++n;
            }
        }
        float center = centers[i];
        if (n > 0) center -= cari_mul_rn(rest, center - sum / (float)n);
        out[i] = center;
    }
}
