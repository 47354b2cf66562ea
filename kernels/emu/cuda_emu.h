// CUDA device code as plain C++17, for running kernels on the CPU. build.rs force-includes
// this header (g++ -DCARI_EMU -include kernels/emu/cuda_emu.h) before every kernels/*.cu, so
// the very sources NVRTC compiles run here: each CUDA thread is a fiber (runtime.cpp), and
// the names below read that fiber's coordinates or call into its scheduler.
#pragma once

#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <math.h>  // the float overloads (isnan, exp, …) in the global namespace, as in CUDA
#include <type_traits>

#include "runtime.h"

// ---- Qualifiers -------------------------------------------------------------------------

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
// A GNU attribute, as in CUDA: alignas may not stand between `static thread_local` and the type.
#define __align__(n) __attribute__((aligned(n)))
#define __constant__ static
// Every fiber of a block runs on the launching OS thread, so a thread_local is exactly one
// copy per block in flight. Unlike the GPU, it is not reset between blocks: kernels must not
// read static shared memory before writing it (dynamic shared memory is poisoned instead).
#define __shared__ static thread_local

// ---- Built-in variables -----------------------------------------------------------------

#define threadIdx (*::cari_emu::cur_thread_idx)
#define blockIdx (::cari_emu::cur_block->block_idx)
#define blockDim (::cari_emu::cur_block->block_dim)
#define gridDim (::cari_emu::cur_block->grid_dim)
constexpr int warpSize = 32;

// ---- Vector types -----------------------------------------------------------------------

struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return {x, y, z}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

// ---- Barriers and warp collectives ------------------------------------------------------

namespace cari_emu {

// A call site; the macros below build one so errors can name the line of each barrier and
// collective. Shuffles carry any value of up to 8 bytes as raw bits.
struct At {
    Site site;

    void syncthreads() const { ::cari_emu::syncthreads(site); }

    template <class T>
    T shfl(Op op, unsigned mask, T v, long long arg, int width) const {
        static_assert(std::is_arithmetic<T>::value && sizeof(T) <= 8,
                      "warp shuffles take int, unsigned, long long, float or double");
        unsigned long long bits = 0;
        std::memcpy(&bits, &v, sizeof v);
        bits = warp_collective(site, op, mask, bits, arg, width);
        std::memcpy(&v, &bits, sizeof v);
        return v;
    }
    template <class T>
    T shfl_idx(unsigned mask, T v, int src_lane, int width = warpSize) const {
        return shfl(kShflIdx, mask, v, src_lane, width);
    }
    template <class T>
    T shfl_up(unsigned mask, T v, unsigned delta, int width = warpSize) const {
        return shfl(kShflUp, mask, v, delta, width);
    }
    template <class T>
    T shfl_down(unsigned mask, T v, unsigned delta, int width = warpSize) const {
        return shfl(kShflDown, mask, v, delta, width);
    }
    template <class T>
    T shfl_xor(unsigned mask, T v, int lane_mask, int width = warpSize) const {
        return shfl(kShflXor, mask, v, lane_mask, width);
    }

    unsigned ballot(unsigned mask, int pred) const {
        return (unsigned)warp_collective(site, kBallot, mask, pred != 0, 0, warpSize);
    }
    int any(unsigned mask, int pred) const {
        return (int)warp_collective(site, kAny, mask, pred != 0, 0, warpSize);
    }
    int all(unsigned mask, int pred) const {
        return (int)warp_collective(site, kAll, mask, pred != 0, 0, warpSize);
    }
    void syncwarp(unsigned mask = 0xffffffffu) const {
        warp_collective(site, kSyncwarp, mask, 0, 0, warpSize);
    }
    // Lanes count as active when they reach the same __activemask() in the same scheduling
    // round, as converged lanes do on the GPU.
    unsigned activemask() const {
        return (unsigned)warp_collective(site, kActivemask, 0xffffffffu, 0, 0, warpSize);
    }
};

}  // namespace cari_emu

#define CARI_EMU_AT (::cari_emu::At{{__FILE__, __LINE__}})
#define __syncthreads() CARI_EMU_AT.syncthreads()
#define __syncwarp CARI_EMU_AT.syncwarp
#define __shfl_sync CARI_EMU_AT.shfl_idx
#define __shfl_up_sync CARI_EMU_AT.shfl_up
#define __shfl_down_sync CARI_EMU_AT.shfl_down
#define __shfl_xor_sync CARI_EMU_AT.shfl_xor
#define __ballot_sync CARI_EMU_AT.ballot
#define __any_sync CARI_EMU_AT.any
#define __all_sync CARI_EMU_AT.all
#define __activemask() CARI_EMU_AT.activemask()

// ---- Atomics and fences -----------------------------------------------------------------
// Real atomic read-modify-writes (relaxed, as on the GPU), so they stay correct should blocks
// ever run on several OS threads. Float and double go through a compare-exchange loop that
// compares bits, so a NaN in memory cannot make it spin.

namespace cari_emu {
template <class T, class F>
inline T atomic_update(T* p, F f) {
    T old;
    __atomic_load(p, &old, __ATOMIC_RELAXED);
    T desired = f(old);
    while (!__atomic_compare_exchange(p, &old, &desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        desired = f(old);
    return old;
}
}  // namespace cari_emu

inline float atomicAdd(float* p, float v) {
    return ::cari_emu::atomic_update(p, [v](float old) { return old + v; });
}
inline double atomicAdd(double* p, double v) {
    return ::cari_emu::atomic_update(p, [v](double old) { return old + v; });
}
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
inline int atomicSub(int* p, int v) { return __atomic_fetch_sub(p, v, __ATOMIC_RELAXED); }
inline unsigned atomicSub(unsigned* p, unsigned v) { return __atomic_fetch_sub(p, v, __ATOMIC_RELAXED); }
inline int atomicMax(int* p, int v) {
    return ::cari_emu::atomic_update(p, [v](int old) { return old > v ? old : v; });
}
inline unsigned atomicMax(unsigned* p, unsigned v) {
    return ::cari_emu::atomic_update(p, [v](unsigned old) { return old > v ? old : v; });
}
inline int atomicMin(int* p, int v) {
    return ::cari_emu::atomic_update(p, [v](int old) { return old < v ? old : v; });
}
inline unsigned atomicMin(unsigned* p, unsigned v) {
    return ::cari_emu::atomic_update(p, [v](unsigned old) { return old < v ? old : v; });
}
namespace cari_emu {
template <class T>
inline T atomic_cas(T* p, T compare, T value) {
    __atomic_compare_exchange_n(p, &compare, value, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return compare;  // the old value, whether or not the exchange happened
}
}  // namespace cari_emu
inline int atomicCAS(int* p, int compare, int value) { return ::cari_emu::atomic_cas(p, compare, value); }
inline unsigned atomicCAS(unsigned* p, unsigned compare, unsigned value) {
    return ::cari_emu::atomic_cas(p, compare, value);
}
inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long compare,
                                    unsigned long long value) {
    return ::cari_emu::atomic_cas(p, compare, value);
}
inline float atomicExch(float* p, float v) {
    float old;
    __atomic_exchange(p, &v, &old, __ATOMIC_RELAXED);
    return old;
}
inline int atomicExch(int* p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }
inline unsigned atomicExch(unsigned* p, unsigned v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }

inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// ---- Math and bit intrinsics ------------------------------------------------------------
// Fast-math intrinsics compute the exact function here; the GPU's approximations differ in
// the last bits. glibc's math.h already declares (but does not export) __expf, __logf and
// __powf, and C23 adds rsqrtf, so those four are macros onto our own functions.

namespace cari_emu {
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float expf(float x) { return std::exp(x); }
inline float logf(float x) { return std::log(x); }
inline float powf(float x, float y) { return std::pow(x, y); }
}  // namespace cari_emu
#define rsqrtf(x) ::cari_emu::rsqrtf(x)
#define __expf(x) ::cari_emu::expf(x)
#define __logf(x) ::cari_emu::logf(x)
#define __powf(x, y) ::cari_emu::powf(x, y)

inline float __fdividef(float x, float y) { return x / y; }
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }  // NaN → 0
inline float __fmaf_rn(float x, float y, float z) { return std::fma(x, y, z); }
inline float __fadd_rn(float x, float y) { return x + y; }
inline float __fmul_rn(float x, float y) { return x * y; }

inline int __float_as_int(float x) {
    int i;
    std::memcpy(&i, &x, sizeof i);
    return i;
}
inline unsigned __float_as_uint(float x) {
    unsigned u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}
inline float __int_as_float(int i) {
    float x;
    std::memcpy(&x, &i, sizeof x);
    return x;
}
inline float __uint_as_float(unsigned u) {
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }

template <class T>
inline T __ldg(const T* p) {
    return *p;
}

// CUDA's min/max overloads, mixed signedness included (std's are templates in namespace std,
// so nothing clashes).
#define CARI_EMU_MIN_MAX(R, A, B)                                              \
    inline R min(A a, B b) { return (R)a < (R)b ? (R)a : (R)b; }              \
    inline R max(A a, B b) { return (R)a > (R)b ? (R)a : (R)b; }
CARI_EMU_MIN_MAX(int, int, int)
CARI_EMU_MIN_MAX(unsigned, unsigned, unsigned)
CARI_EMU_MIN_MAX(unsigned, int, unsigned)
CARI_EMU_MIN_MAX(unsigned, unsigned, int)
CARI_EMU_MIN_MAX(long, long, long)
CARI_EMU_MIN_MAX(unsigned long, unsigned long, unsigned long)
CARI_EMU_MIN_MAX(unsigned long, long, unsigned long)
CARI_EMU_MIN_MAX(unsigned long, unsigned long, long)
CARI_EMU_MIN_MAX(long long, long long, long long)
CARI_EMU_MIN_MAX(unsigned long long, unsigned long long, unsigned long long)
CARI_EMU_MIN_MAX(unsigned long long, long long, unsigned long long)
CARI_EMU_MIN_MAX(unsigned long long, unsigned long long, long long)
#undef CARI_EMU_MIN_MAX
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
inline double min(float a, double b) { return std::fmin(a, b); }
inline double max(float a, double b) { return std::fmax(a, b); }
inline double min(double a, float b) { return std::fmin(a, b); }
inline double max(double a, float b) { return std::fmax(a, b); }
