// Pooling over NHWC activations; the formulas are those of src/backend/cpu/pool.rs.
//
// max_pool2d_forward   x[N, H, W, C] → y[N, OH, OW, C], VALID square windows
// max_pool2d_argmax    the window offset kh·k + kw of each output's first maximum
// max_pool2d_backward  dx as a gather: each input element sums, in (oh, ow) order, the dy
//                      of the windows whose first maximum it is (the CPU's scatter order,
//                      so the sums agree bit for bit; no atomics)
// global_avg_pool_forward   x[N, HW, C] → y[N, C] = Σ_p x / HW, summed in f64
// global_avg_pool_backward  dx[n, p, c] = dy[n, c]·(1/HW)
//
// Launch: the max-pool kernels take one thread per element of their output (1-D grid,
// grid-stride); channels are innermost, so a warp reads consecutive channels. The global
// pools use column tiles (common.cuh) of 256 threads: `tile` channels × 256 / tile spatial
// positions; grid [⌈C / tile⌉, images], images looped with stride gridDim.y.
#include "common.cuh"

#define POOL_THREADS 256

struct Pool {
    i64 in_h, in_w, channels, window, stride, out_h, out_w;
};

// The window offset (kh·window + kw) of the first maximum of output element i's window,
// scanning row-major and moving only on a strictly greater value; its value in `best`.
__device__ __forceinline__ int first_max(const float* x, const Pool& p, i64 i, float& best) {
    const i64 c = i % p.channels, pixel = i / p.channels;
    const i64 ow = pixel % p.out_w, oh = pixel / p.out_w % p.out_h, n = pixel / p.out_w / p.out_h;
    const float* corner = x + ((n * p.in_h + oh * p.stride) * p.in_w + ow * p.stride) * p.channels + c;
    best = corner[0];
    int arg = 0;
    for (i64 kh = 0; kh < p.window; ++kh) {
        const float* row = corner + kh * p.in_w * p.channels;
        for (i64 kw = 0; kw < p.window; ++kw) {
            const float v = row[kw * p.channels];
            if (v > best) {
                best = v;
                arg = (int)(kh * p.window + kw);
            }
        }
    }
    return arg;
}

extern "C" __global__ void max_pool2d_forward(float* y, const float* x, i64 in_h, i64 in_w, i64 channels, i64 window,
                                              i64 stride, i64 out_h, i64 out_w, i64 n) {
    const Pool p = {in_h, in_w, channels, window, stride, out_h, out_w};
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) {
        float best;
        first_max(x, p, i, best);
        y[i] = best;
    }
}

extern "C" __global__ void max_pool2d_argmax(int* arg, const float* x, i64 in_h, i64 in_w, i64 channels, i64 window,
                                             i64 stride, i64 out_h, i64 out_w, i64 n) {
    const Pool p = {in_h, in_w, channels, window, stride, out_h, out_w};
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) {
        float best;
        arg[i] = first_max(x, p, i, best);
    }
}

// The windows along one axis that contain input position `at`: o·stride ≤ at < o·stride + window.
__device__ __forceinline__ void covering(i64 at, i64 window, i64 stride, i64 outs, i64& first, i64& last) {
    first = at < window ? 0 : (at - window) / stride + 1;
    last = at / stride < outs - 1 ? at / stride : outs - 1;
}

// One thread per element of dx (n = its length); `arg` from max_pool2d_argmax.
extern "C" __global__ void max_pool2d_backward(float* dx, const float* dy, const int* arg, i64 in_h, i64 in_w,
                                               i64 channels, i64 window, i64 stride, i64 out_h, i64 out_w, i64 n) {
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) {
        const i64 c = i % channels, pixel = i / channels;
        const i64 iw = pixel % in_w, ih = pixel / in_w % in_h, image = pixel / in_w / in_h;
        i64 oh0, oh1, ow0, ow1;
        covering(ih, window, stride, out_h, oh0, oh1);
        covering(iw, window, stride, out_w, ow0, ow1);
        float sum = 0.0f;
        for (i64 oh = oh0; oh <= oh1; ++oh) {
            for (i64 ow = ow0; ow <= ow1; ++ow) {
                const i64 j = ((image * out_h + oh) * out_w + ow) * channels + c;
                if (arg[j] == (ih - oh * stride) * window + (iw - ow * stride)) sum += dy[j];
            }
        }
        dx[i] = sum;
    }
}

// Dynamic shared memory: 256 doubles.
extern "C" __global__ void global_avg_pool_forward(float* y, const float* x, i64 batch, i64 hw, i64 channels,
                                                   int tile) {
    CARI_DYNAMIC_SHARED(double, scratch);
    const i64 c = (i64)blockIdx.x * tile + threadIdx.x % tile;
    const int positions_per_step = POOL_THREADS / tile;
    for (i64 image = blockIdx.y; image < batch; image += gridDim.y) {
        double sum = 0.0;
        if (c < channels) {
            const float* col = x + image * hw * channels + c;
            for (i64 p = threadIdx.x / tile; p < hw; p += positions_per_step) sum += col[p * channels];
        }
        sum = cari_column_tile_sum_f64(sum, tile, scratch);
        if ((int)threadIdx.x < tile && c < channels) y[image * channels + c] = (float)(sum / (double)hw);
    }
}

// `scale` is 1/HW rounded to f32 (as the CPU multiplies by it).
extern "C" __global__ void global_avg_pool_backward(float* dx, const float* dy, i64 batch, i64 hw, i64 channels,
                                                    int tile, float scale) {
    const i64 c = (i64)blockIdx.x * tile + threadIdx.x % tile;
    const int positions_per_step = POOL_THREADS / tile;
    if (c < channels) {
        for (i64 image = blockIdx.y; image < batch; image += gridDim.y) {
            const float g = dy[image * channels + c] * scale;
            float* col = dx + image * hw * channels + c;
            for (i64 p = threadIdx.x / tile; p < hw; p += positions_per_step) col[p * channels] = g;
        }
    }
}
