// Multi-tensor launches: one 1-D grid serves a list of tensors, each with its own run of
// blocks, so an update or a reduction over a parameter group is one launch instead of one
// per tensor. The host writes the list into device memory (`TensorList` in
// src/backend/cuda/tensor_list.rs, the same layout) in the order of the tensors, the first
// entry at block 0 and each entry's blocks following the previous entry's.
#pragma once
#include "common.cuh"

struct CariTensorEntry {
    unsigned long long ptr[5];  // the tensor's operands, in the order the kernel names (unused: 0)
    i64 n;                      // elements of each operand
    i64 first_block;            // the grid's first block serving this tensor
    i64 blocks;                 // how many blocks serve it
    i64 size[3];                // per-tensor sizes the kernel names (unused: 0)
    float scalar[2];            // per-tensor numbers the kernel names (unused: 0)
};

// The entry of `count` (each with its `first_block`, in increasing order) that block
// blockIdx.x serves: the last whose first block is at or before it.
template <class Entry>
__device__ __forceinline__ const Entry& cari_entry_of_block(const Entry* list, int count) {
    const i64 b = blockIdx.x;
    int lo = 0, hi = count - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) >> 1;
        if (list[mid].first_block <= b)
            lo = mid;
        else
            hi = mid - 1;
    }
    return list[lo];
}

__device__ __forceinline__ CariTensorEntry cari_tensor_entry(const CariTensorEntry* list, int count) {
    return cari_entry_of_block(list, count);
}

// A grid-stride walk over one entry's elements by the blocks serving it:
// `for (i64 i = cari_entry_first(e); i < e.n; i += cari_entry_stride(e))`.
__device__ __forceinline__ i64 cari_entry_first(const CariTensorEntry& e) {
    return ((i64)blockIdx.x - e.first_block) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ i64 cari_entry_stride(const CariTensorEntry& e) {
    return e.blocks * blockDim.x;
}

// Whether `v` is neither infinite nor NaN (a bit test: no math header, no fast-math folding).
__device__ __forceinline__ bool cari_is_finite(float v) {
    return (__float_as_uint(v) & 0x7f800000u) != 0x7f800000u;
}

// A step's control of an in-place update (src/backend/optim.rs, `GroupControl`): three
// floats [gate, norm, factor]. The update runs only when gate[0] is finite; it scales its
// gradients by factor.
__device__ __forceinline__ bool cari_gate_open(const float* gate) {
    return cari_is_finite(gate[0]);
}
