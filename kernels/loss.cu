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
// task_loss_forward / _backward   a task's loss mean_r(CE_r + λ·center_r) and its backward,
//                                 one launch each (the ops above in one pass, same roundings)
// weighted_losses_forward / _backward   Σ_t w_t·L_t or Σ_t w_t/(L_t + σ) over a few scalars
//                                 and its backward, one thread each
//
// Launch (all but center_update, a grid-stride loop over the centers): row groups, as in normalize.cu: block (group, rows_per_block), group a power of
// two ≤ 1024 threads per row, group · rows_per_block = max(group, 256); grid.x blocks step
// over rows; dynamic shared memory 32·rows_per_block doubles.
#include "tensor_list.cuh"

// One row's cross-entropy: writes the row's probabilities and returns its loss (to thread
// 0 of the row; 0 for a row past the end). Every thread of the block calls it.
__device__ __forceinline__ float cross_entropy_row(float* probs, const float* logits, const long long* labels, i64 row,
                                                   bool live, i64 cols, double* scratch) {
    const i64 at = row * cols;
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
    if (!live) return 0.0f;
    const float inv = (float)(1.0 / sum);
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) probs[at + c] = expf(logits[at + c] - max) * inv;
    // From the f64 sum, not −ln probs[label], which underflows for a hopeless label.
    return (float)(log(sum_f64) - (double)(logits[at + labels[row]] - max));
}

// One row's ½‖e − centers[label]‖², summed in f64 (to every thread of the row; 0 past the
// end). Every thread of the block calls it.
__device__ __forceinline__ float center_row(const float* embeddings, const float* centers, const long long* labels,
                                            i64 row, bool live, i64 cols, double* scratch) {
    double sum_sq = 0.0;
    if (live) {
        const float* e = embeddings + row * cols;
        const float* center = centers + labels[row] * cols;
        for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
            const double d = (double)e[c] - (double)center[c];
            sum_sq += d * d;
        }
    }
    return (float)(0.5 * cari_row_sum_f64(sum_sq, scratch));
}

// The gradient of a row's cross-entropy: dz = d·(probs − onehot(label)).
__device__ __forceinline__ void cross_entropy_row_backward(float* dlogits, float d, const float* probs, i64 label,
                                                           i64 at, i64 cols) {
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x)
        dlogits[at + c] = c == label ? d * (probs[at + c] - 1.0f) : d * probs[at + c];
}

// The gradient of a row's center loss: de = d·(e − centers[label]).
__device__ __forceinline__ void center_row_backward(float* de, float d, const float* embeddings, const float* centers,
                                                    i64 label, i64 row, i64 cols) {
    const float* e = embeddings + row * cols;
    const float* center = centers + label * cols;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) de[row * cols + c] = d * (e[c] - center[c]);
}

extern "C" __global__ void softmax_cross_entropy_forward(float* loss, float* probs, const float* logits,
                                                         const long long* labels, i64 rows, i64 cols) {
    CARI_DYNAMIC_SHARED(double, scratch);
    CARI_FOR_EACH_ROW_STEP(rows) {
        const i64 row = first + threadIdx.y;
        const bool live = row < rows;
        const float ce = cross_entropy_row(probs, logits, labels, row, live, cols, scratch);
        if (live && threadIdx.x == 0) loss[row] = ce;
    }
}

extern "C" __global__ void softmax_cross_entropy_backward(float* dlogits, const float* dloss, const float* probs,
                                                          const long long* labels, i64 rows, i64 cols) {
    CARI_FOR_EACH_ROW_STEP(rows) {
        const i64 row = first + threadIdx.y;
        if (row < rows) cross_entropy_row_backward(dlogits, dloss[row], probs, labels[row], row * cols, cols);
    }
}

extern "C" __global__ void center_loss_forward(float* loss, const float* embeddings, const float* centers,
                                               const long long* labels, i64 rows, i64 cols) {
    CARI_DYNAMIC_SHARED(double, scratch);
    CARI_FOR_EACH_ROW_STEP(rows) {
        const i64 row = first + threadIdx.y;
        const bool live = row < rows;
        const float center = center_row(embeddings, centers, labels, row, live, cols, scratch);
        if (live && threadIdx.x == 0) loss[row] = center;
    }
}

extern "C" __global__ void center_loss_backward(float* dembeddings, const float* dloss, const float* embeddings,
                                                const float* centers, const long long* labels, i64 rows, i64 cols) {
    CARI_FOR_EACH_ROW_STEP(rows) {
        const i64 row = first + threadIdx.y;
        if (row < rows) center_row_backward(dembeddings, dloss[row], embeddings, centers, labels[row], row, cols);
    }
}

// A task's loss in one launch: per row v = CE + λ·center (as add_scaled rounds it) into
// values[rows], then the grid's last block (counted on *done, zero before and after) adds
// them in row order in f64 and writes loss[0] = (float)Σv·scale + 0 (as sum_rows and affine
// round the mean). Row groups sized for the wider of classes and dim.
extern "C" __global__ void task_loss_forward(float* loss, float* probs, float* values, unsigned* done,
                                             const float* logits, const float* embeddings, const float* centers,
                                             const long long* labels, float lambda, float scale, i64 rows,
                                             i64 classes, i64 dim) {
    CARI_DYNAMIC_SHARED(double, scratch);
    CARI_FOR_EACH_ROW_STEP(rows) {
        const i64 row = first + threadIdx.y;
        const bool live = row < rows;
        const float ce = cross_entropy_row(probs, logits, labels, row, live, classes, scratch);
        const float center = center_row(embeddings, centers, labels, row, live, dim, scratch);
        if (live && threadIdx.x == 0) values[row] = ce + cari_mul_rn(lambda, center);
    }
    if (!cari_last_block(done) || threadIdx.x != 0 || threadIdx.y != 0) return;
    const volatile float* v = values;  // other blocks' writes, past the fence
    double total = 0.0;
    for (i64 r = 0; r < rows; ++r) total += (double)v[r];
    loss[0] = cari_mul_rn((float)total, scale) + 0.0f;
}

// Its backward from dloss[0]: each row's d = dloss·scale + 0, the center term's
// d·λ + 0 (as affine rounds them), then the two rows' gradients.
extern "C" __global__ void task_loss_backward(float* dlogits, float* dembeddings, const float* dloss,
                                              const float* probs, const float* embeddings, const float* centers,
                                              const long long* labels, float lambda, float scale, i64 rows,
                                              i64 classes, i64 dim) {
    const float d = cari_mul_rn(dloss[0], scale) + 0.0f;
    const float d_center = cari_mul_rn(d, lambda) + 0.0f;
    CARI_FOR_EACH_ROW_STEP(rows) {
        const i64 row = first + threadIdx.y;
        if (row < rows) {
            cross_entropy_row_backward(dlogits, d, probs, labels[row], row * classes, classes);
            center_row_backward(dembeddings, d_center, embeddings, centers, labels[row], row, dim);
        }
    }
}

// One term of a weighted sum of losses (term 0: w·L; 1: w/(L + σ), with b = L·1 + σ).
__device__ __forceinline__ float loss_term(float w, float loss, int inverse, float sigma, float* b) {
    if (!inverse) return cari_mul_rn(w, loss);
    *b = cari_mul_rn(loss, 1.0f) + sigma;
    return w / *b;
}

// out[0] = Σ_t term(w[idx_t], *loss_t), added left to right; table holds `count` loss
// addresses, then their `count` weight indices. One thread: the terms are a handful.
extern "C" __global__ void weighted_losses_forward(float* out, const float* w, const unsigned long long* table,
                                                   int count, int inverse, float sigma) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    float total = 0.0f, b = 0.0f;
    for (int t = 0; t < count; ++t) {
        const float term = loss_term(w[table[count + t]], *reinterpret_cast<const float*>(table[t]), inverse, sigma, &b);
        total = t == 0 ? term : total + term;
    }
    out[0] = total;
}

// Its backward from dy[0]: dw[w_len] (zero where no term reads a weight) and, where table's
// third run of `count` addresses is not 0, each loss's gradient there; the roundings of
// mul's and div's backward passes (div: da = dy/b, db = (da·y)·(−1) + 0).
extern "C" __global__ void weighted_losses_backward(float* dw, const float* dy, const float* w,
                                                    const unsigned long long* table, int count, int w_len,
                                                    int inverse, float sigma) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    for (int i = 0; i < w_len; ++i) dw[i] = 0.0f;
    const float d = dy[0];
    for (int t = 0; t < count; ++t) {
        const i64 i = (i64)table[count + t];
        const float loss = *reinterpret_cast<const float*>(table[t]);
        float d_w, d_l, b = 0.0f;
        if (!inverse) {
            d_w = cari_mul_rn(d, loss);
            d_l = cari_mul_rn(d, w[i]);
        } else {
            const float y = loss_term(w[i], loss, inverse, sigma, &b);
            d_w = d / b;
            d_l = cari_mul_rn(cari_mul_rn(d_w, y), -1.0f) + 0.0f;
        }
        bool seen = false;
        for (int u = 0; u < t; ++u) seen = seen || table[count + u] == (unsigned long long)i;
        dw[i] = seen ? dw[i] + d_w : d_w;
        if (table[2 * count + t] != 0) *reinterpret_cast<float*>(table[2 * count + t]) = d_l;
    }
}

// The center update: thread i of a grid-stride loop owns centers[i] (class j = i / cols,
// column i % cols), sums the rows labelled j in row order in f32 and moves the center by
// rest·(c − mean), each product rounded on its own, as the CPU does. O(len·rows): the
// centers are few and the batch small.
// In place, and only when gate[0] is finite (a group control: a step that failed keeps its
// centers).
extern "C" __global__ void center_update(float* centers, const float* embeddings, const long long* labels,
                                         const float* gate, float rest, i64 len, i64 rows, i64 cols) {
    if (!cari_is_finite(gate[0])) return;
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
        if (n > 0) centers[i] -= cari_mul_rn(rest, centers[i] - sum / (float)n);
    }
}
