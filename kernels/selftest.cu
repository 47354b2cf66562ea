// Kernels that exercise the CPU emulation of the CUDA execution model (kernels/emu/): each
// proves one part of it works, or that it catches one kind of kernel bug. Valid CUDA too, so
// NVRTC compiles them with the rest.
//
//   selftest_block_sum         grid ceil(n/256), block 256
//   selftest_missing_barrier   grid 1, block ≤ 1024, blockDim.x·4 bytes of dynamic shared memory
//   selftest_divergent_barrier grid 1, block 64 (fails by design)
//   selftest_warp_reduce       block a multiple of 32; out holds 1 + n floats, out[0] zeroed
//   selftest_dynamic_shared    grid 1, any block, n·4 bytes of dynamic shared memory
//   selftest_atomics           any grid and block; counters[0..2] and maxes[0] zeroed
//   selftest_out_of_bounds     any grid and block covering n (faults by design)
//   selftest_partial_warp      grid 1, block 40; out holds 5 floats
//   selftest_mma_tf32          grid 1, block 32; d, a, c hold 16·8 floats, b 8·8
//   selftest_to_tf32           any grid and block covering n
#include "common.cuh"
#include "mma.cuh"

// Shared-memory tree reduction with __syncthreads between levels: out[b] is the sum of the
// b-th chunk of 256 elements of x, whatever order the threads run in.
extern "C" __global__ void selftest_block_sum(float* out, const float* x, int n) {
    __shared__ float partial[256];
    const int t = threadIdx.x;
    const int i = blockIdx.x * 256 + t;
    partial[t] = i < n ? x[i] : 0.0f;
    __syncthreads();
    for (int stride = 128; stride > 0; stride /= 2) {
        if (t < stride) partial[t] += partial[t + stride];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = partial[0];
}

// Reads a neighbour's shared-memory write with no barrier in between (the bug under test):
// what thread t sees depends on whether thread t+1 ran first, so forward and reverse order
// give different out. Dynamic shared memory, so an unwritten slot reads NaN in emulation.
extern "C" __global__ void selftest_missing_barrier(float* out, int n) {
    CARI_DYNAMIC_SHARED(float, slots);
    const unsigned t = threadIdx.x;
    slots[t] = (float)t;
    const float next = slots[(t + 1) % blockDim.x];
    if ((int)t < n) out[t] = next;
}

// Threads from 32 on return while the rest wait at __syncthreads: the emulator must report a
// divergent barrier instead of hanging.
extern "C" __global__ void selftest_divergent_barrier(float* out) {
    if (threadIdx.x >= 32) return;
    __syncthreads();
    out[threadIdx.x] = 1.0f;
}

// Warp shuffles: a shuffle-down tree leaves each warp's sum in lane 0, which adds it to out[0]
// atomically; a butterfly (xor) leaves the warp's sum in every lane, written to out[1 + i].
extern "C" __global__ void selftest_warp_reduce(float* out, const float* x, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const float v = i < n ? x[i] : 0.0f;
    float down = v, butterfly = v;
    for (int offset = 16; offset > 0; offset /= 2) {
        down += __shfl_down_sync(0xffffffffu, down, offset);
        butterfly += __shfl_xor_sync(0xffffffffu, butterfly, offset);
    }
    if ((threadIdx.x & 31) == 0) atomicAdd(&out[0], down);
    if (i < n) out[1 + i] = butterfly;
}

// Dynamic shared memory: x is staged in it, and after a barrier written back reversed.
extern "C" __global__ void selftest_dynamic_shared(float* out, const float* x, int n) {
    CARI_DYNAMIC_SHARED(float, staged);
    for (int i = threadIdx.x; i < n; i += blockDim.x) staged[i] = x[i];
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = staged[n - 1 - i];
}

// Atomics from every thread of the grid: counters[0] counts the threads, exactly one thread
// wins the compare-and-swap on counters[1] (storing its id + 1) and counts itself in
// counters[2], and maxes[0] ends as the largest thread id.
extern "C" __global__ void selftest_atomics(int* counters, unsigned* maxes) {
    const unsigned id = blockIdx.x * blockDim.x + threadIdx.x;
    atomicAdd(&counters[0], 1);
    if (atomicCAS(&counters[1], 0, (int)id + 1) == 0) atomicAdd(&counters[2], 1);
    atomicMax(&maxes[0], id);
}

// Writes one element past the end of out from the last thread (the bug under test): the
// emulator's guard page must stop it with a message naming the kernel and thread.
extern "C" __global__ void selftest_out_of_bounds(float* out, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = 1.0f;
    if (i == n - 1) out[n] = 1.0f;
}

// A block of 40 threads has a second warp of 8 lanes. A full mask names only the lanes that
// exist, so full-mask collectives complete there: lane 0 of each warp writes its first 8
// lanes' sum of t + 1 (out[0] = 36, out[2] = 292) and how many lanes the ballot and
// __activemask saw (out[1] = 32, out[3] = 8); out[4] = 1 if a shuffle from lane 3 to the
// 8 lanes of warp 1 reached them all.
extern "C" __global__ void selftest_partial_warp(float* out) {
    const unsigned t = threadIdx.x, lane = t % 32, warp = t / 32;
    float v = (float)(t + 1);
    for (int offset = 4; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
    const unsigned voted = __ballot_sync(0xffffffffu, 1);
    const unsigned active = __activemask();
    const float from3 = __shfl_sync(0xffffffffu, (float)t, 3);
    if (lane == 0) {
        out[2 * warp] = v;
        out[2 * warp + 1] = voted == active ? (float)__popc(voted) : -1.0f;
    }
    if (warp == 1 && __all_sync(0xffffffffu, from3 == 35.0f) && lane == 0) out[4] = 1.0f;
}

// The TF32 tensor-core MMA helper (mma.cuh) on one warp: D = A·B + C with A (16×8), B (8×8,
// element (k, n) at b[k·8 + n]) and C, D (16×8) row-major, A and B rounded to TF32, every
// lane loading and storing its fragments in the PTX ISA's layout for m16n8k8. Under the
// emulation this proves the shuffle fallback; on a GPU the same kernel runs mma.sync.
extern "C" __global__ void selftest_mma_tf32(float* d, const float* a, const float* b, const float* c) {
    const unsigned lane = threadIdx.x & 31u, g = lane >> 2, t = lane & 3u;
    unsigned af[4], bf[2];
    float cf[4], df[4];
    for (int i = 0; i < 4; ++i) af[i] = cari_to_tf32(a[(g + 8 * (i & 1)) * 8 + t + 4 * (i >> 1)]);
    for (int i = 0; i < 2; ++i) bf[i] = cari_to_tf32(b[(t + 4 * i) * 8 + g]);
    for (int i = 0; i < 4; ++i) cf[i] = c[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)];
    cari_mma_tf32_m16n8k8(df, af, bf, cf);
    for (int i = 0; i < 4; ++i) d[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)] = df[i];
}

// cari_to_tf32 on each element: out[i] is the bit pattern of x[i] rounded to TF32.
extern "C" __global__ void selftest_to_tf32(unsigned* out, const float* x, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = cari_to_tf32(x[i]);
}
