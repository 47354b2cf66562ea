// The per-element formulas of the batch norm (shift only, the activation fused in) that
// kernels outside batch_norm.cu repeat: the convolution's backward pass computes the
// batch norm's dx where it loads its dy (conv2d.cu), with the very roundings of
// batch_norm_backward_dx. CPU reference: src/backend/cpu/batch_norm.rs.
#pragma once
#include "common.cuh"

__device__ __forceinline__ float bn_inv_std(float var, float eps) {
    return 1.0f / sqrtf(var + eps);
}

// The batch norm's output act((x − mean)·inv + β), rounded as batch_norm_forward writes it.
struct BnChannel {
    float mean, inv, beta, floor;
    __device__ __forceinline__ float operator()(float x) const {
        return fmaxf(cari_mul_rn(x - mean, inv) + beta, floor);
    }
};

__device__ __forceinline__ BnChannel bn_channel(float mean, float var, float beta, float eps, int relu) {
    return {mean, bn_inv_std(var, eps), beta, relu ? 0.0f : -INFINITY};
}

// An operand given as a batch norm's input (src/backend/batch_norm.rs, `Values::Normalized`):
// its consumer normalises each value it loads, so the batch norm's output is never stored.
// mean == nullptr: the values as stored.
struct BnInput {
    const float *mean, *var, *beta;
    float eps;
    int relu;

    __device__ __forceinline__ bool active() const {
        return mean != nullptr;
    }
    __device__ __forceinline__ BnChannel channel(i64 c) const {
        return bn_channel(mean[c], var[c], beta[c], eps, relu);
    }
};

// x̂ and the gradient through the activation, its derivative taken from x̂ + β exactly as
// the forward pass (and the CPU) computes the pre-activation.
struct Normalized {
    float xhat, g;
};

__device__ __forceinline__ Normalized bn_normalized(float dy, float x, float m, float inv, float b, int relu) {
    const float xhat = cari_mul_rn(x - m, inv);
    return {xhat, relu && xhat + b <= 0.0f ? 0.0f : dy};
}

// dx = inv·(g − mean(g) − x̂·mean(g·x̂)), from x̂ and g.
__device__ __forceinline__ float bn_dx(const Normalized& n, float inv, float mean_g, float mean_g_xhat) {
    return inv * (n.g - mean_g - cari_mul_rn(n.xhat, mean_g_xhat));
}

// A batch norm's backward as its input's producer sees it: x the batch norm's input (the
// convolution's output), its statistics and shift, `means` = [mean(g), mean(g·x̂)] from
// batch_norm_backward_sums; `x == nullptr` for none (the gradient passes unchanged).
struct BnThrough {
    const float* x;
    const float *mean, *var, *beta, *means;
    i64 channels;
    float eps;
    int relu;

    // The batch norm's dx at element i of channel c, from its dy there.
    __device__ __forceinline__ float dx(i64 i, i64 c, float dy) const {
        const float inv = bn_inv_std(var[c], eps);
        return bn_dx(bn_normalized(dy, x[i], mean[c], inv, beta[c], relu), inv, means[c], means[channels + c]);
    }
};
