// The CPU emulation of the CUDA execution model: device memory with guard regions, and a
// scheduler that runs every CUDA thread of a block as a fiber on the launching OS thread.
//
// A block runs in rounds: each round resumes every runnable fiber once (forward, reverse or a
// seeded random order), and each runs until it exits, reaches __syncthreads or reaches a warp
// collective. Between rounds the scheduler completes the warp collectives whose lanes have
// all arrived, then releases the barrier once every thread waits at it; a state in which
// nothing can progress is reported as an error naming who waits where. All scheduler state
// belongs to one launch on one OS thread, so launches on different threads are independent.
#include "runtime.h"

#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#if !defined(__x86_64__)
#error "the CUDA emulation's fiber switch is written for x86-64"
#endif

namespace cari_emu {
__thread const uint3* cur_thread_idx;
__thread const BlockInfo* cur_block;
}  // namespace cari_emu

using cari_emu::BlockInfo;
using cari_emu::Op;
using cari_emu::Site;

// ---- Fiber switch ---------------------------------------------------------------------------
// Saves the callee-saved registers, MXCSR and the x87 control word on the current stack,
// stores the stack pointer in *save_sp, then loads load_sp and restores the same from there.
// A new fiber's stack is laid out so that the first switch "returns" into
// cari_emu_fiber_start with its Fiber in r12.
extern "C" void cari_emu_switch(void** save_sp, void* load_sp);
extern "C" void cari_emu_fiber_start();

asm(R"(
    .text
    .globl cari_emu_switch
    .hidden cari_emu_switch
    .type cari_emu_switch, @function
    .p2align 4
cari_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cari_emu_switch, .-cari_emu_switch

    .globl cari_emu_fiber_start
    .hidden cari_emu_fiber_start
    .type cari_emu_fiber_start, @function
    .p2align 4
cari_emu_fiber_start:
    movq %r12, %rdi
    call cari_emu_fiber_main@PLT
    ud2
    .size cari_emu_fiber_start, .-cari_emu_fiber_start
)");

namespace {

constexpr size_t kPage = 4096;  // x86-64
// Inaccessible bytes after every buffer and shared memory, and below every fiber stack.
constexpr size_t kGuardBytes = 64 << 10;
constexpr size_t kStackBytes = 256 << 10;
constexpr unsigned kMaxBlockThreads = 1024;
constexpr unsigned kMaxDynamicShared = 227 << 10;
constexpr size_t kSmemArea = (kMaxDynamicShared + kPage - 1) / kPage * kPage;
constexpr size_t kAltstackBytes = 64 << 10;
constexpr unsigned kFullMask = 0xffffffffu;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// ---- Device buffers -------------------------------------------------------------------------
// Each buffer is its own mapping: data pages, then the guard region; the data ends exactly
// where the guard begins. The slots tell the fault handler (which cannot lock) where the
// guards of live buffers are; the map finds a buffer's slot again when it is freed.

struct Slot {
    std::atomic<uintptr_t> end{0};  // 0: free
    std::atomic<size_t> bytes{0};
};
constexpr size_t kMaxBuffers = 1 << 17;
Slot g_slots[kMaxBuffers];
std::atomic<size_t> g_slots_used{0};

struct Buffers {
    std::mutex mutex;
    std::vector<uint32_t> free_slots;
    std::unordered_map<uintptr_t, uint32_t> slot_of;
};

Buffers& buffers() {
    static Buffers* b = new Buffers;  // never destroyed: other threads may free at exit
    return *b;
}

// ---- Fibers and launches --------------------------------------------------------------------

enum State : uint8_t { kRunnable, kAtBarrier, kAtWarp, kExited, kFailed };

struct Fiber {
    void* sp;     // saved stack pointer while suspended
    char* stack;  // lowest address of its mapping: the guard, then kStackBytes of stack
    uint3 idx;
    State state;
    // Where and why it waits (kAtBarrier, kAtWarp), and the collective's operands.
    Site site;
    Op op;
    unsigned mask;
    int width;
    long long arg;
    unsigned long long value;
    unsigned long long result;
};

struct Launch {
    const char* name;
    cari_emu_entry entry;
    void** args;
    BlockInfo block;
    unsigned threads;
    Fiber* fibers;
    Fiber* current;  // the running fiber; null while the scheduler runs
    void* sched_sp;
    char* smem;
    size_t smem_bytes;
    uintptr_t smem_end;  // where the guard after the dynamic shared memory begins
    bool failed;
    char error[1024];
};

thread_local Launch* t_launch;

// What each OS thread keeps between launches.
struct ThreadResources {
    std::vector<Fiber> fibers;
    std::vector<uint32_t> round;
    std::vector<char*> stacks;  // back to the shared pool when the thread ends
    char* smem_map = nullptr;   // dynamic shared memory area, then its guard
    char* altstack = nullptr;   // the signal stack, if we had to install one
    bool altstack_checked = false;
    ~ThreadResources();
};
thread_local ThreadResources t_res;

struct StackPool {
    std::mutex mutex;
    std::vector<char*> free;
};

StackPool& stack_pool() {
    static StackPool* p = new StackPool;
    return *p;
}

ThreadResources::~ThreadResources() {
    if (!stacks.empty()) {
        StackPool& pool = stack_pool();
        std::lock_guard<std::mutex> lock(pool.mutex);
        pool.free.insert(pool.free.end(), stacks.begin(), stacks.end());
    }
    if (smem_map) munmap(smem_map, kSmemArea + kGuardBytes);
    if (altstack) {
        stack_t off{};
        off.ss_flags = SS_DISABLE;
        sigaltstack(&off, nullptr);
        munmap(altstack, kAltstackBytes);
    }
}

// Grows this thread's stacks to n, from the shared pool first.
bool ensure_stacks(size_t n) {
    std::vector<char*>& stacks = t_res.stacks;
    if (stacks.size() >= n) return true;
    {
        StackPool& pool = stack_pool();
        std::lock_guard<std::mutex> lock(pool.mutex);
        while (stacks.size() < n && !pool.free.empty()) {
            stacks.push_back(pool.free.back());
            pool.free.pop_back();
        }
    }
    while (stacks.size() < n) {
        void* m = mmap(nullptr, kGuardBytes + kStackBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (m == MAP_FAILED) return false;
        if (mprotect(m, kGuardBytes, PROT_NONE) != 0) {
            munmap(m, kGuardBytes + kStackBytes);
            return false;
        }
        stacks.push_back(static_cast<char*>(m));
    }
    return true;
}

bool ensure_smem_map() {
    if (t_res.smem_map) return true;
    void* m = mmap(nullptr, kSmemArea + kGuardBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return false;
    if (mprotect(static_cast<char*>(m) + kSmemArea, kGuardBytes, PROT_NONE) != 0) {
        munmap(m, kSmemArea + kGuardBytes);
        return false;
    }
    t_res.smem_map = static_cast<char*>(m);
    return true;
}

// ---- Fault handler --------------------------------------------------------------------------
// Runs on the alternate signal stack (a fault may be a fiber's stack overflow) and uses only
// async-signal-safe calls. A fault in one of our guard regions is reported and ends the
// process; any other fault is passed on to the handler that was installed before ours.

struct sigaction g_prev_segv, g_prev_bus;
std::once_flag g_handler_once;

struct SignalText {
    char buf[768];
    size_t len = 0;
    SignalText& str(const char* s) {
        while (*s && len < sizeof buf) buf[len++] = *s++;
        return *this;
    }
    SignalText& num(unsigned long long v) {
        char digits[24];
        int n = 0;
        do digits[n++] = char('0' + v % 10); while ((v /= 10) != 0);
        while (n > 0 && len < sizeof buf) buf[len++] = digits[--n];
        return *this;
    }
    SignalText& hex(unsigned long long v) {
        str("0x");
        for (int shift = 60; shift >= 0; shift -= 4)
            if (len < sizeof buf) buf[len++] = "0123456789abcdef"[(v >> shift) & 15];
        return *this;
    }
    SignalText& dims(uint3 d) { return str("(").num(d.x).str(",").num(d.y).str(",").num(d.z).str(")"); }
    void flush() {
        size_t done = 0;
        while (done < len) {
            ssize_t w = write(2, buf + done, len - done);
            if (w <= 0) break;
            done += (size_t)w;
        }
    }
};

void on_fault(int sig, siginfo_t* info, void*) {
    const uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
    const Launch* l = t_launch;
    const Fiber* f = l ? l->current : nullptr;
    SignalText t;
    t.str("cari emu: ");
    if (f) {
        t.str("kernel `").str(l->name).str("`, block ").dims(l->block.block_idx);
        t.str(", thread ").dims(f->idx).str(": ");
    } else if (l) {
        t.str("kernel `").str(l->name).str("` (emulator scheduler): ");
    } else {
        t.str("host code: ");
    }

    const size_t used = g_slots_used.load(std::memory_order_acquire);
    for (size_t i = 0; i < used; ++i) {
        const uintptr_t end = g_slots[i].end.load(std::memory_order_acquire);
        if (end == 0 || addr < end || addr - end >= kGuardBytes) continue;
        const size_t bytes = g_slots[i].bytes.load(std::memory_order_relaxed);
        t.str("out-of-bounds access at byte ").num(bytes + (addr - end)).str(" of a ").num(bytes);
        t.str("-byte device buffer (").num(addr - end).str(" bytes past its end)\n").flush();
        _exit(134);
    }
    if (l && addr >= l->smem_end && addr - l->smem_end < kGuardBytes) {
        t.str("out-of-bounds access at byte ").num(addr - (uintptr_t)l->smem).str(" of the block's ");
        t.str("dynamic shared memory of ").num(l->smem_bytes).str(" bytes\n").flush();
        _exit(134);
    }
    if (f && addr >= (uintptr_t)f->stack && addr - (uintptr_t)f->stack < kGuardBytes) {
        t.str("stack overflow (each emulated thread has a stack of ").num(kStackBytes >> 10);
        t.str(" KiB)\n").flush();
        _exit(134);
    }
    if (l) {
        t.str(sig == SIGSEGV ? "SIGSEGV" : "SIGBUS").str(" at address ").hex(addr);
        t.str(", outside the guard regions of the emulated buffers\n").flush();
    }
    // Not ours to explain further: the faulting instruction runs again under the old handler.
    sigaction(sig, sig == SIGSEGV ? &g_prev_segv : &g_prev_bus, nullptr);
}

void install_fault_handler() {
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_prev_segv);
    sigaction(SIGBUS, &sa, &g_prev_bus);
}

// The handler needs an alternate stack on every thread that runs fibers; keep one that is
// already there (Rust installs one on its threads).
bool ensure_altstack() {
    if (t_res.altstack_checked) return true;
    stack_t cur{};
    if (sigaltstack(nullptr, &cur) != 0) return false;
    if (cur.ss_flags & SS_DISABLE) {
        void* m = mmap(nullptr, kAltstackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return false;
        stack_t ss{};
        ss.ss_sp = m;
        ss.ss_size = kAltstackBytes;
        if (sigaltstack(&ss, nullptr) != 0) {
            munmap(m, kAltstackBytes);
            return false;
        }
        t_res.altstack = static_cast<char*>(m);
    }
    t_res.altstack_checked = true;
    return true;
}

// ---- Scheduler ------------------------------------------------------------------------------

const char* op_name(Op op) {
    switch (op) {
        case cari_emu::kShflIdx: return "__shfl_sync";
        case cari_emu::kShflUp: return "__shfl_up_sync";
        case cari_emu::kShflDown: return "__shfl_down_sync";
        case cari_emu::kShflXor: return "__shfl_xor_sync";
        case cari_emu::kBallot: return "__ballot_sync";
        case cari_emu::kAny: return "__any_sync";
        case cari_emu::kAll: return "__all_sync";
        case cari_emu::kSyncwarp: return "__syncwarp";
        case cari_emu::kActivemask: return "__activemask";
    }
    return "?";
}

// Collectives that may complete together: any shuffles, any votes, or __syncwarp.
int op_class(Op op) {
    if (op <= cari_emu::kShflXor) return 0;
    if (op <= cari_emu::kAll) return 1;
    return 2;
}

bool same_site(Site a, Site b) {
    return a.line == b.line && (a.file == b.file || std::strcmp(a.file, b.file) == 0);
}

struct SplitMix64 {
    unsigned long long state;
    unsigned long long next() {
        unsigned long long z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
};

// Formats `thread (x,y,z)`-style coordinates into a small buffer.
struct Dims {
    char text[40];
    explicit Dims(uint3 d) { std::snprintf(text, sizeof text, "(%u,%u,%u)", d.x, d.y, d.z); }
};

__attribute__((format(printf, 2, 3))) void fail(Launch& l, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(l.error, sizeof l.error, fmt, ap);
    va_end(ap);
    l.failed = true;
}

void resume(Launch& l, Fiber& f) {
    l.current = &f;
    cari_emu::cur_thread_idx = &f.idx;
    cari_emu_switch(&l.sched_sp, f.sp);
}

void suspend(Launch& l, Fiber& f, State state) {
    f.state = state;
    cari_emu_switch(&f.sp, l.sched_sp);
}

// Ends the running fiber after fail(); the scheduler abandons the launch.
[[noreturn]] void fail_in_fiber(Launch& l, Fiber& f) {
    suspend(l, f, kFailed);
    __builtin_unreachable();
}

// Lays out a fresh stack for cari_emu_switch to pop: FPU control words, r15..r12 (r12 is the
// Fiber), rbx, rbp, then cari_emu_fiber_start as the return address, leaving the stack
// 16-byte aligned for its call. The top is offset by 64 bytes per colour, so the hot top
// frames of neighbouring fibers don't all fall into the same cache sets.
void prepare(Fiber& f, unsigned colour, unsigned long long fpu_control) {
    char* end = f.stack + kGuardBytes + kStackBytes - (colour % 64) * 64;
    auto* top = reinterpret_cast<unsigned long long*>(end);
    unsigned long long* sp = top - 10;
    std::memset(sp, 0, 10 * sizeof *sp);
    sp[0] = fpu_control;
    sp[4] = reinterpret_cast<uintptr_t>(&f);
    sp[7] = reinterpret_cast<uintptr_t>(&cari_emu_fiber_start);
    f.sp = sp;
    f.state = kRunnable;
}

// The lane a shuffle reads, as PTX's shfl.sync defines it for CUDA's width argument; its own
// lane when the source falls outside its segment.
unsigned source_lane(Op op, unsigned lane, long long arg, int width) {
    const long long first = lane & ~unsigned(width - 1), last = first + width - 1;
    long long j;
    switch (op) {
        case cari_emu::kShflIdx: return unsigned(first + (arg & (width - 1)));
        case cari_emu::kShflUp: j = lane - arg; return j >= first ? unsigned(j) : lane;
        case cari_emu::kShflDown: j = lane + arg; return j <= last ? unsigned(j) : lane;
        default: j = lane ^ (unsigned)arg; return j <= last ? unsigned(j) : lane;
    }
}

// Completes a collective among the lanes in `group`, all waiting at it.
void complete(Fiber* lanes, unsigned group) {
    unsigned votes = 0;
    for (unsigned g = group; g; g &= g - 1) {
        const unsigned i = __builtin_ctz(g);
        if (lanes[i].value) votes |= 1u << i;
    }
    for (unsigned g = group; g; g &= g - 1) {
        const unsigned i = __builtin_ctz(g);
        Fiber& f = lanes[i];
        switch (f.op) {
            case cari_emu::kShflIdx:
            case cari_emu::kShflUp:
            case cari_emu::kShflDown:
            case cari_emu::kShflXor: {
                // A lane outside the group has no value to give: the GPU leaves the result
                // undefined, we make it all ones bits (NaN, -1) so it shows.
                const unsigned j = source_lane(f.op, i, f.arg, f.width);
                f.result = (group >> j & 1) ? lanes[j].value : ~0ull;
                break;
            }
            case cari_emu::kBallot: f.result = votes; break;
            case cari_emu::kAny: f.result = votes != 0; break;
            case cari_emu::kAll: f.result = votes == group; break;
            case cari_emu::kSyncwarp: f.result = 0; break;
            case cari_emu::kActivemask: f.result = group; break;
        }
        f.state = kRunnable;
    }
}

enum Resolution { kProgress, kBlockDone, kStuck };

// The lanes that exist in the warp starting at thread `base`: a partial last warp has fewer.
unsigned existing_lanes(unsigned threads, unsigned base) {
    return threads - base >= 32 ? kFullMask : (1u << (threads - base)) - 1;
}

// Completes what the last round made complete. Every fiber is suspended here: exited, at a
// barrier or at a warp collective.
Resolution resolve(Launch& l) {
    const unsigned n = l.threads;
    const char* kernel = l.name;
    bool progress = false, at_collective = false;

    for (unsigned base = 0; base < n; base += 32) {
        Fiber* lanes = l.fibers + base;
        const unsigned exist = existing_lanes(n, base);
        unsigned waiting = 0, at_activemask = 0;
        for (unsigned i = 0; base + i < n && i < 32; ++i) {
            if (lanes[i].state != kAtWarp) continue;
            if (lanes[i].op == cari_emu::kActivemask) at_activemask |= 1u << i;
            else waiting |= 1u << i;
        }
        // __activemask: the lanes that reached the same one together.
        while (at_activemask) {
            const Fiber& first = lanes[__builtin_ctz(at_activemask)];
            unsigned group = 0;
            for (unsigned g = at_activemask; g; g &= g - 1)
                if (same_site(lanes[__builtin_ctz(g)].site, first.site)) group |= 1u << __builtin_ctz(g);
            complete(lanes, group);
            at_activemask &= ~group;
            progress = true;
        }
        if (waiting) at_collective = true;
        for (unsigned pending = waiting; pending;) {
            const unsigned i = __builtin_ctz(pending);
            const Fiber& f = lanes[i];
            const unsigned group = f.mask & exist;
            if ((group & waiting) != group) {
                pending &= ~(1u << i);  // a named lane has not arrived
                continue;
            }
            for (unsigned g = group; g; g &= g - 1) {
                const Fiber& o = lanes[__builtin_ctz(g)];
                if ((o.mask & exist) != group || op_class(o.op) != op_class(f.op)) {
                    fail(l,
                         "warp collectives that do not match in kernel `%s`, block %s: thread %s "
                         "calls %s at %s:%d with mask 0x%08x, thread %s calls %s at %s:%d with "
                         "mask 0x%08x",
                         kernel, Dims(l.block.block_idx).text, Dims(f.idx).text, op_name(f.op), f.site.file,
                         f.site.line, f.mask, Dims(o.idx).text, op_name(o.op), o.site.file,
                         o.site.line, o.mask);
                    return kStuck;
                }
            }
            complete(lanes, group);
            pending &= ~group;
            waiting &= ~group;
            progress = true;
        }
    }
    if (progress) return kProgress;

    if (at_collective) {
        // Some collective waits for a lane that has exited or waits at __syncthreads.
        for (unsigned t = 0; t < n; ++t) {
            const Fiber& f = l.fibers[t];
            if (f.state != kAtWarp) continue;
            const unsigned base = t & ~31u;
            for (unsigned g = f.mask & existing_lanes(n, base); g; g &= g - 1) {
                const Fiber& o = l.fibers[base + __builtin_ctz(g)];
                if (o.state == kAtWarp) continue;
                char where[256];
                if (o.state == kExited) std::snprintf(where, sizeof where, "has exited");
                else std::snprintf(where, sizeof where, "waits at __syncthreads at %s:%d", o.site.file, o.site.line);
                fail(l,
                     "%s at %s:%d in kernel `%s`, block %s, thread %s: its mask 0x%08x names "
                     "lane %u (thread %s), which %s",
                     op_name(f.op), f.site.file, f.site.line, kernel, Dims(l.block.block_idx).text, Dims(f.idx).text,
                     f.mask, __builtin_ctz(g), Dims(o.idx).text, where);
                return kStuck;
            }
        }
    }

    const Fiber* first_waiting = nullptr;
    const Fiber* first_exited = nullptr;
    const Fiber* first_elsewhere = nullptr;  // waiting at a barrier other than first_waiting's
    unsigned waiting = 0, exited = 0, elsewhere = 0;
    for (unsigned t = 0; t < n; ++t) {
        const Fiber& f = l.fibers[t];
        if (f.state == kExited) {
            if (!exited++) first_exited = &f;
        } else {
            ++waiting;
            if (!first_waiting) first_waiting = &f;
            else if (!same_site(f.site, first_waiting->site) && !elsewhere++) first_elsewhere = &f;
        }
    }
    if (!waiting) return kBlockDone;
    if (exited) {
        fail(l,
             "divergent __syncthreads in kernel `%s`, block %s: %u threads wait at %s:%d, %u "
             "threads have exited (first: thread %s)",
             kernel, Dims(l.block.block_idx).text, waiting, first_waiting->site.file, first_waiting->site.line, exited,
             Dims(first_exited->idx).text);
        return kStuck;
    }
    if (elsewhere) {
        fail(l,
             "divergent __syncthreads in kernel `%s`, block %s: %u threads wait at %s:%d, %u at "
             "other barriers (first: thread %s at %s:%d)",
             kernel, Dims(l.block.block_idx).text, waiting - elsewhere, first_waiting->site.file,
             first_waiting->site.line, elsewhere, Dims(first_elsewhere->idx).text, first_elsewhere->site.file,
             first_elsewhere->site.line);
        return kStuck;
    }
    for (unsigned t = 0; t < n; ++t) l.fibers[t].state = kRunnable;
    return kProgress;
}

// Runs one block to its end; false after an error (in l.error).
bool run_block(Launch& l, int order, SplitMix64& rng, unsigned long long fpu_control) {
    for (unsigned t = 0; t < l.threads; ++t) prepare(l.fibers[t], t, fpu_control);
    std::memset(l.smem, 0xff, l.smem_end - (uintptr_t)l.smem);
    std::vector<uint32_t>& round = t_res.round;
    for (;;) {
        round.clear();
        for (unsigned t = 0; t < l.threads; ++t)
            if (l.fibers[t].state == kRunnable) round.push_back(t);
        if (order == CARI_EMU_ORDER_REVERSE) {
            for (size_t i = round.size(); i-- > 0;) {
                resume(l, l.fibers[round[i]]);
                if (l.failed) return false;
            }
        } else {
            if (order == CARI_EMU_ORDER_RANDOM)
                for (size_t i = round.size(); i > 1; --i) std::swap(round[i - 1], round[rng.next() % i]);
            for (uint32_t t : round) {
                resume(l, l.fibers[t]);
                if (l.failed) return false;
            }
        }
        l.current = nullptr;
        switch (resolve(l)) {
            case kProgress: break;
            case kBlockDone: return true;
            case kStuck: return false;
        }
    }
}

const char* check_config(const unsigned grid[3], const unsigned block[3], unsigned smem,
                         cari_emu_entry entry, int order, char* buf, size_t len) {
    if (!entry) return "no entry point";
    if (!grid || !block) return "no grid or block dimensions";
    const unsigned long long threads = 1ull * block[0] * block[1] * block[2];
    if (threads == 0 || threads > kMaxBlockThreads)
        std::snprintf(buf, len, "block (%u,%u,%u) has %llu threads (1 to %u allowed)", block[0], block[1],
                      block[2], threads, kMaxBlockThreads);
    else if (block[2] > 64)
        std::snprintf(buf, len, "blockDim.z is %u (at most 64 allowed)", block[2]);
    else if (grid[0] == 0 || grid[0] > 0x7fffffffu || grid[1] == 0 || grid[1] > 65535 || grid[2] == 0 ||
             grid[2] > 65535)
        std::snprintf(buf, len, "grid (%u,%u,%u) is out of range (x: 1 to 2^31-1, y and z: 1 to 65535)",
                      grid[0], grid[1], grid[2]);
    else if (smem > kMaxDynamicShared)
        std::snprintf(buf, len, "%u bytes of dynamic shared memory requested (at most %u allowed)", smem,
                      kMaxDynamicShared);
    else if (order < CARI_EMU_ORDER_FORWARD || order > CARI_EMU_ORDER_RANDOM)
        std::snprintf(buf, len, "unknown thread order %d", order);
    else
        return nullptr;
    return buf;
}

void copy_error(char* err, size_t err_len, const char* msg) {
    if (err && err_len) std::snprintf(err, err_len, "%s", msg);
}

}  // namespace

// Called only from cari_emu_fiber_start, hence `used`.
extern "C" __attribute__((used, visibility("hidden"), noreturn)) void cari_emu_fiber_main(void* fiber) {
    Fiber& f = *static_cast<Fiber*>(fiber);
    Launch& l = *t_launch;
    l.entry(l.args);
    suspend(l, f, kExited);
    __builtin_unreachable();
}

void cari_emu::syncthreads(Site site) {
    Launch& l = *t_launch;
    Fiber& f = *l.current;
    f.site = site;
    suspend(l, f, kAtBarrier);
}

unsigned long long cari_emu::warp_collective(Site site, Op op, unsigned mask, unsigned long long value,
                                             long long arg, int width) {
    Launch& l = *t_launch;
    Fiber& f = *l.current;
    const unsigned lane = unsigned(&f - l.fibers) % 32;
    if (!(mask >> lane & 1)) {
        fail(l, "%s at %s:%d in kernel `%s`, block %s, thread %s: the mask 0x%08x leaves out the calling lane %u",
             op_name(op), site.file, site.line, l.name, Dims(l.block.block_idx).text, Dims(f.idx).text, mask, lane);
        fail_in_fiber(l, f);
    }
    if (width < 1 || width > 32 || (width & (width - 1))) {
        fail(l, "%s at %s:%d in kernel `%s`, block %s, thread %s: width %d is not a power of two from 1 to 32",
             op_name(op), site.file, site.line, l.name, Dims(l.block.block_idx).text, Dims(f.idx).text, width);
        fail_in_fiber(l, f);
    }
    f.site = site;
    f.op = op;
    f.mask = mask;
    f.value = value;
    f.arg = arg;
    f.width = width;
    suspend(l, f, kAtWarp);
    return f.result;
}

extern "C" void* cari_emu_dynamic_shared(void) { return t_launch->smem; }

extern "C" int cari_emu_launch(const char* kernel_name, cari_emu_entry entry, const unsigned grid[3],
                               const unsigned block[3], unsigned dynamic_shared_bytes, void** args, int order,
                               unsigned long long seed, char* err, size_t err_len) {
    const char* name = kernel_name ? kernel_name : "?";
    char msg[256];
    if (const char* bad = check_config(grid, block, dynamic_shared_bytes, entry, order, msg, sizeof msg)) {
        char full[400];
        std::snprintf(full, sizeof full, "launch of kernel `%s`: %s", name, bad);
        copy_error(err, err_len, full);
        return 1;
    }
    const unsigned threads = block[0] * block[1] * block[2];
    std::call_once(g_handler_once, install_fault_handler);
    if (!ensure_altstack() || !ensure_smem_map() || !ensure_stacks(threads)) {
        std::snprintf(msg, sizeof msg, "launch of kernel `%s`: out of memory for fiber stacks or shared memory", name);
        copy_error(err, err_len, msg);
        return 1;
    }

    Launch l{};
    l.name = name;
    l.entry = entry;
    l.args = args;
    l.block.block_dim = dim3(block[0], block[1], block[2]);
    l.block.grid_dim = dim3(grid[0], grid[1], grid[2]);
    l.threads = threads;
    l.smem_end = reinterpret_cast<uintptr_t>(t_res.smem_map) + kSmemArea;
    l.smem = reinterpret_cast<char*>(l.smem_end - round_up(dynamic_shared_bytes, 16));
    l.smem_bytes = dynamic_shared_bytes;

    std::vector<Fiber>& fibers = t_res.fibers;
    fibers.resize(threads);
    for (unsigned t = 0; t < threads; ++t) {
        fibers[t].stack = t_res.stacks[t];
        fibers[t].idx = uint3{t % block[0], t / block[0] % block[1], t / (block[0] * block[1])};
    }
    l.fibers = fibers.data();

    // Fibers start with the launching thread's floating-point control state.
    unsigned mxcsr;
    unsigned short x87;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(x87));
    const unsigned long long fpu_control = mxcsr | (unsigned long long)x87 << 32;

    SplitMix64 rng{seed};
    t_launch = &l;
    cari_emu::cur_block = &l.block;
    bool ok = true;
    for (unsigned z = 0; ok && z < grid[2]; ++z)
        for (unsigned y = 0; ok && y < grid[1]; ++y)
            for (unsigned x = 0; ok && x < grid[0]; ++x) {
                l.block.block_idx = uint3{x, y, z};
                ok = run_block(l, order, rng, fpu_control);
            }
    t_launch = nullptr;
    cari_emu::cur_block = nullptr;
    cari_emu::cur_thread_idx = nullptr;
    if (!ok) copy_error(err, err_len, l.error);
    return ok ? 0 : 1;
}

extern "C" void* cari_emu_alloc(size_t bytes) {
    const size_t data = round_up(bytes, kPage);
    if (data < bytes || data > SIZE_MAX - kGuardBytes) return nullptr;
    void* m = mmap(nullptr, data + kGuardBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    char* base = static_cast<char*>(m);
    if (data && mprotect(base, data, PROT_READ | PROT_WRITE) != 0) {
        munmap(base, data + kGuardBytes);
        return nullptr;
    }
    char* ptr = base + data - bytes;

    Buffers& b = buffers();
    std::lock_guard<std::mutex> lock(b.mutex);
    uint32_t slot;
    if (!b.free_slots.empty()) {
        slot = b.free_slots.back();
        b.free_slots.pop_back();
    } else if (g_slots_used.load(std::memory_order_relaxed) < kMaxBuffers) {
        slot = (uint32_t)g_slots_used.load(std::memory_order_relaxed);
        g_slots_used.store(slot + 1, std::memory_order_release);
    } else {
        munmap(base, data + kGuardBytes);
        return nullptr;
    }
    g_slots[slot].bytes.store(bytes, std::memory_order_relaxed);
    g_slots[slot].end.store(reinterpret_cast<uintptr_t>(base + data), std::memory_order_release);
    b.slot_of.emplace(reinterpret_cast<uintptr_t>(ptr), slot);
    return ptr;
}

extern "C" void cari_emu_free(void* ptr) {
    if (!ptr) return;
    Buffers& b = buffers();
    size_t data;
    uintptr_t end;
    {
        std::lock_guard<std::mutex> lock(b.mutex);
        auto it = b.slot_of.find(reinterpret_cast<uintptr_t>(ptr));
        if (it == b.slot_of.end()) {
            std::fprintf(stderr, "cari emu: cari_emu_free(%p): not a live device buffer\n", ptr);
            std::abort();
        }
        Slot& s = g_slots[it->second];
        data = round_up(s.bytes.load(std::memory_order_relaxed), kPage);
        end = s.end.load(std::memory_order_relaxed);
        s.end.store(0, std::memory_order_release);
        b.free_slots.push_back(it->second);
        b.slot_of.erase(it);
    }
    munmap(reinterpret_cast<char*>(end - data), data + kGuardBytes);
}
