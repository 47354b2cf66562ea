// Fused optimizer updates, in place: one read of parameter, state and gradient and one
// write of parameter and state per element (CPU reference: src/backend/cpu/optim.rs, with
// the formulas). Every product is rounded on its own (cari_mul_rn), division and square
// root are IEEE (NVRTC's default --prec-div and --prec-sqrt), so each update repeats the
// CPU's roundings and matches it bit for bit.
//
// All three: 1-D grid of any size, grid-stride loop over n elements.
//   optim_sgd_momentum(param, velocity, grad, lr, momentum, grad_scale, n)
//   optim_rmsprop(param, ms, mom, grad, lr, decay, momentum, epsilon, grad_scale, n)
//   optim_adam(param, m, v, grad, lr_t, beta1, beta2, epsilon, grad_scale, n)   lr_t bias-corrected on the host
#include "common.cuh"

extern "C" __global__ void optim_sgd_momentum(float* __restrict__ param, float* __restrict__ velocity,
                                              const float* __restrict__ grad, float lr, float momentum,
                                              float grad_scale, i64 n) {
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) {
        const float v = cari_mul_rn(momentum, velocity[i]) + cari_mul_rn(grad_scale, grad[i]);
        velocity[i] = v;
        param[i] = param[i] - cari_mul_rn(lr, v);
    }
}

extern "C" __global__ void optim_rmsprop(float* __restrict__ param, float* __restrict__ ms, float* __restrict__ mom,
                                         const float* __restrict__ grad, float lr, float decay, float momentum,
                                         float epsilon, float grad_scale, i64 n) {
    const float rest = 1.0f - decay;
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) {
        const float g = cari_mul_rn(grad_scale, grad[i]);
        const float s = cari_mul_rn(decay, ms[i]) + cari_mul_rn(rest, cari_mul_rn(g, g));
        const float m = cari_mul_rn(momentum, mom[i]) + cari_mul_rn(lr, g) / sqrtf(s + epsilon);
        ms[i] = s;
        mom[i] = m;
        param[i] = param[i] - m;
    }
}

extern "C" __global__ void optim_adam(float* __restrict__ param, float* __restrict__ m, float* __restrict__ v,
                                      const float* __restrict__ grad, float lr_t, float beta1, float beta2,
                                      float epsilon, float grad_scale, i64 n) {
    const float rest1 = 1.0f - beta1, rest2 = 1.0f - beta2;
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) {
        const float g = cari_mul_rn(grad_scale, grad[i]);
        const float m1 = cari_mul_rn(beta1, m[i]) + cari_mul_rn(rest1, g);
        const float v1 = cari_mul_rn(beta2, v[i]) + cari_mul_rn(rest2, cari_mul_rn(g, g));
        m[i] = m1;
        v[i] = v1;
        param[i] = param[i] - cari_mul_rn(lr_t, m1) / (sqrtf(v1) + epsilon);
    }
}
