// The in-place updates of a training step, each one launch over a whole group of tensors
// (tensor_list.cuh): the group's gradient norm and clip factor, the fused optimizer
// updates, and the blends of the moving averages (CPU reference: src/backend/cpu/optim.rs,
// with the formulas). Every product is rounded on its own (cari_mul_rn), division and
// square root are IEEE (NVRTC's default --prec-div and --prec-sqrt), so each update repeats
// the CPU's roundings and matches it bit for bit.
//
// The updates read their numbers from two controls on the device ([gate, norm, factor],
// written by optim_group_control): they scale the gradients by `control`'s factor and run
// only when `gate`'s gate is finite, so a step whose loss or gradients are not finite
// changes nothing and no host read sits between the backward pass and the updates.
//
//   optim_group_control(list, count, control[3], partial[grid], done, guard, max_norm)
//       entries {grad}; THREADS-thread blocks, shared 32 doubles. ‖g‖ over the list, in
//       f64 per block, added by the last block in list order; gate = 1 when the norm and
//       guard[0] (if guard is not null) are finite, else NaN; *done must be 0 and is left 0.
//   optim_sgd_momentum(list, count, control, gate, lr, momentum)          entries {param, velocity, grad}
//   optim_rmsprop(list, count, control, gate, lr, decay, momentum, epsilon)  entries {param, ms, mom, grad}
//   optim_adam(list, count, control, gate, lr_t, beta1, beta2, epsilon)   entries {param, m, v, grad}; lr_t bias-corrected on the host
//   optim_blend(list, count, gate)       entries {target, source}, scalar {keep, take}: target ← keep·target + take·source
#include "tensor_list.cuh"

extern "C" __global__ void optim_group_control(const CariTensorEntry* __restrict__ list, int count,
                                               float* __restrict__ control, double* __restrict__ partial,
                                               unsigned* __restrict__ done, const float* __restrict__ guard,
                                               float max_norm) {
    CARI_DYNAMIC_SHARED(double, scratch);
    const CariTensorEntry e = cari_tensor_entry(list, count);
    const float* x = reinterpret_cast<const float*>(e.ptr[0]);
    double acc = 0.0;
    for (i64 i = cari_entry_first(e); i < e.n; i += cari_entry_stride(e)) {
        const double v = (double)x[i];
        acc += v * v;
    }
    acc = cari_row_sum_f64(acc, scratch);  // one row group: the whole block
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
    if (!cari_last_block(done) || threadIdx.x != 0) return;
    // Each tensor's partials in order, then the tensors in order: the CPU's additions.
    const volatile double* partials = partial;
    double total = 0.0;
    for (int t = 0; t < count; ++t) {
        double sum = 0.0;
        for (i64 b = 0; b < list[t].blocks; ++b) sum += partials[list[t].first_block + b];
        total += sum;
    }
    const float norm = (float)sqrt(total);
    const bool good = cari_is_finite(norm) && (guard == nullptr || cari_is_finite(guard[0]));
    control[0] = good ? 1.0f : __int_as_float(0x7fc00000);
    control[1] = norm;
    control[2] = norm > max_norm ? max_norm / norm : 1.0f;
}

extern "C" __global__ void optim_sgd_momentum(const CariTensorEntry* __restrict__ list, int count,
                                              const float* __restrict__ control, const float* __restrict__ gate,
                                              float lr, float momentum) {
    if (!cari_gate_open(gate)) return;
    const float grad_scale = control[2];
    const CariTensorEntry e = cari_tensor_entry(list, count);
    float* param = reinterpret_cast<float*>(e.ptr[0]);
    float* velocity = reinterpret_cast<float*>(e.ptr[1]);
    const float* grad = reinterpret_cast<const float*>(e.ptr[2]);
    for (i64 i = cari_entry_first(e); i < e.n; i += cari_entry_stride(e)) {
        const float v = cari_mul_rn(momentum, velocity[i]) + cari_mul_rn(grad_scale, grad[i]);
        velocity[i] = v;
        param[i] = param[i] - cari_mul_rn(lr, v);
    }
}

extern "C" __global__ void optim_rmsprop(const CariTensorEntry* __restrict__ list, int count,
                                         const float* __restrict__ control, const float* __restrict__ gate, float lr,
                                         float decay, float momentum, float epsilon) {
    if (!cari_gate_open(gate)) return;
    const float grad_scale = control[2], rest = 1.0f - decay;
    const CariTensorEntry e = cari_tensor_entry(list, count);
    float* param = reinterpret_cast<float*>(e.ptr[0]);
    float* ms = reinterpret_cast<float*>(e.ptr[1]);
    float* mom = reinterpret_cast<float*>(e.ptr[2]);
    const float* grad = reinterpret_cast<const float*>(e.ptr[3]);
    for (i64 i = cari_entry_first(e); i < e.n; i += cari_entry_stride(e)) {
        const float g = cari_mul_rn(grad_scale, grad[i]);
        const float s = cari_mul_rn(decay, ms[i]) + cari_mul_rn(rest, cari_mul_rn(g, g));
        const float m = cari_mul_rn(momentum, mom[i]) + cari_mul_rn(lr, g) / sqrtf(s + epsilon);
        ms[i] = s;
        mom[i] = m;
        param[i] = param[i] - m;
    }
}

extern "C" __global__ void optim_adam(const CariTensorEntry* __restrict__ list, int count,
                                      const float* __restrict__ control, const float* __restrict__ gate, float lr_t,
                                      float beta1, float beta2, float epsilon) {
    if (!cari_gate_open(gate)) return;
    const float grad_scale = control[2], rest1 = 1.0f - beta1, rest2 = 1.0f - beta2;
    const CariTensorEntry e = cari_tensor_entry(list, count);
    float* param = reinterpret_cast<float*>(e.ptr[0]);
    float* m = reinterpret_cast<float*>(e.ptr[1]);
    float* v = reinterpret_cast<float*>(e.ptr[2]);
    const float* grad = reinterpret_cast<const float*>(e.ptr[3]);
    for (i64 i = cari_entry_first(e); i < e.n; i += cari_entry_stride(e)) {
        const float g = cari_mul_rn(grad_scale, grad[i]);
        const float m1 = cari_mul_rn(beta1, m[i]) + cari_mul_rn(rest1, g);
        const float v1 = cari_mul_rn(beta2, v[i]) + cari_mul_rn(rest2, cari_mul_rn(g, g));
        m[i] = m1;
        v[i] = v1;
        param[i] = param[i] - cari_mul_rn(lr_t, m1) / (sqrtf(v1) + epsilon);
    }
}

extern "C" __global__ void optim_blend(const CariTensorEntry* __restrict__ list, int count,
                                       const float* __restrict__ gate) {
    if (!cari_gate_open(gate)) return;
    const CariTensorEntry e = cari_tensor_entry(list, count);
    float* target = reinterpret_cast<float*>(e.ptr[0]);
    const float* source = reinterpret_cast<const float*>(e.ptr[1]);
    const float keep = e.scalar[0], take = e.scalar[1];
    for (i64 i = cari_entry_first(e); i < e.n; i += cari_entry_stride(e))
        target[i] = cari_mul_rn(keep, target[i]) + cari_mul_rn(take, source[i]);
}
