// The CPU emulation of the CUDA execution model: the C API the host side calls, and the
// hooks through which cuda_emu.h gives device code its meaning. runtime.cpp implements both.
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// A kernel's entry as the generated registry wraps it: args[i] points at parameter i, as in
// CUDA's kernelParams.
typedef void (*cari_emu_entry)(void** args);

// The order in which the runnable threads of a block are resumed in each scheduling round.
enum { CARI_EMU_ORDER_FORWARD = 0, CARI_EMU_ORDER_REVERSE = 1, CARI_EMU_ORDER_RANDOM = 2 };

// Runs a whole grid on the calling thread, blocks in grid order (x fastest). Returns 0 on
// success; otherwise writes a NUL-terminated message into err (at most err_len bytes) and
// returns nonzero.
int cari_emu_launch(const char* kernel_name, cari_emu_entry entry, const unsigned grid[3],
                    const unsigned block[3], unsigned dynamic_shared_bytes, void** args, int order,
                    unsigned long long seed, char* err, size_t err_len);

// Emulated device memory, zero-filled. The end of the buffer is the start of an inaccessible
// guard region, so any access past the end faults (and the fault handler names the kernel,
// thread and offset). The start is aligned to the largest power of two dividing `bytes`
// (at most a page). Returns NULL on failure; 0 bytes gives a unique pointer to the guard.
void* cari_emu_alloc(size_t bytes);
void cari_emu_free(void* ptr);

// This block's dynamic shared memory (16-byte aligned, 0xFF-filled at each block start,
// guard region after its end). Used by CARI_DYNAMIC_SHARED in common.cuh.
void* cari_emu_dynamic_shared(void);

#ifdef __cplusplus
}

struct uint3 {
    unsigned x, y, z;
};

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};

namespace cari_emu {

// Where device code called a barrier or warp collective, for error messages and for telling
// apart barriers on different lines.
struct Site {
    const char* file;
    int line;
};

struct BlockInfo {
    uint3 block_idx;
    dim3 block_dim;
    dim3 grid_dim;
};

// Set by the scheduler before it resumes a thread; all threads of a block run on the OS
// thread that launched it.
extern __thread const uint3* cur_thread_idx;
extern __thread const BlockInfo* cur_block;

enum Op {
    kShflIdx,
    kShflUp,
    kShflDown,
    kShflXor,
    kBallot,
    kAny,
    kAll,
    kSyncwarp,
    kActivemask,
};

void syncthreads(Site site);
// Every warp collective: waits until all lanes named in `mask` arrive at one, then returns
// this lane's result (the shuffled bits, the vote, or the active mask).
unsigned long long warp_collective(Site site, Op op, unsigned mask, unsigned long long value,
                                   long long arg, int width);

}  // namespace cari_emu
#endif
