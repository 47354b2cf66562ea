// Filling, copying and converting buffers.
#include "common.cuh"

extern "C" __global__ void fill_f32(float* out, float value, i64 n) {
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) out[i] = value;
}

// Copies `n` 16-bit words: any dtype's buffer is a whole number of them.
extern "C" __global__ void copy_u16(unsigned short* dst, const unsigned short* src, i64 n) {
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) dst[i] = src[i];
}

extern "C" __global__ void f32_to_bf16(unsigned short* out, const float* x, i64 n) {
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) out[i] = cari_f32_to_bf16(x[i]);
}

extern "C" __global__ void bf16_to_f32(float* out, const unsigned short* x, i64 n) {
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) out[i] = cari_bf16_to_f32(x[i]);
}

extern "C" __global__ void f32_to_f16(unsigned short* out, const float* x, i64 n) {
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) out[i] = cari_f32_to_f16(x[i]);
}

extern "C" __global__ void f16_to_f32(float* out, const unsigned short* x, i64 n) {
    for (i64 i = cari_global_id(); i < n; i += cari_grid_stride()) out[i] = cari_f16_to_f32(x[i]);
}
