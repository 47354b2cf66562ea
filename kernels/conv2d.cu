// 2-D convolution, fp32, as implicit GEMM on the tiling of gemm.cuh: the tile loaders
// gather the im2col patches straight from the activations, so no column buffer exists.
//
// Shapes (row-major): x [N, H, W, C] (NHWC), w [KH, KW, C, O] (HWIO), y and dy
// [N, OH, OW, O]. Output (oh, ow) reads input (oh·SH + kh − PT, ow·SW + kw − PL); positions
// outside the input read as zero. After their pointers, the kernels take the geometry as
// batch, in_h, in_w, in_c, out_c, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
// out_h, out_w. Launch: 256 threads per block, tiles numbered as in gemm.cuh. Both kernels
// take x with (x_mean, x_var, x_beta, x_eps, x_relu): given x_mean, x is a batch norm's input
// and the convolution's input is that batch norm's output, computed as the patches are
// loaded (BnInput, batch_norm.cuh): the normalised activations are never stored.
//
// conv2d_forward: y[M = N·OH·OW, O] = P[M, K = KH·KW·C]·w[K, O], P the patches of x, and
//   (when `partials` is given) y's per-channel batch statistics, the batch norm's that
//   follows, from each block's tile while it is in cache: no second pass over y.
//   Grid ⌈M/64⌉·⌈O/64⌉; needs M, K, O ≥ 1.
// conv2d_backward: both gradients in one launch, grid.z layers [input phases, weight splits]
//   (with x_partials given, x is a batch norm's input and the input-gradient tiles also
//   yield that batch norm's backward sums, dβ and [mean(g), mean(g·x̂)], finished by the
//   last tile of each column of tiles: its producer's backward needs no pass of its own)
//   (either part may be absent), grid.x the larger part's tile count:
// - the input gradient dx[N·H·W, C] = Σ over taps (kh, kw, o) of dy·w. Input row ih receives
//   only from kernel rows kh ≡ ih + PT (mod SH), at oh = (ih + PT − kh)/SH, so the pixels
//   are cut into SH·SW phases (ih mod SH, iw mod SW), layer = phase_h·SW + phase_w: every
//   pixel of a phase has the same taps, and the GEMM runs over those alone,
//   K = ⌈(KH − kh0)/SH⌉·⌈(KW − kw0)/SW⌉·O, instead of over all KH·KW·O taps of which only
//   1/(SH·SW) are nonzero. A phase with no taps writes zeros. Tiles: ⌈pixels of phase
//   (0, 0), the largest/64⌉·⌈C/64⌉. Needs C, O ≥ 1.
// - the weight gradient dw[K, O] = Pᵀ[K, M]·dy[M, O], a reduction over the M output
//   positions, which is long while K·O is often a handful of tiles: its layers split M
//   into ranges of `split_rows`, split s writing its partial sum to partial + s·K·O, and
//   the last split of each tile to finish adds the tile's partials in split order into dw
//   (with one split, the split writes dw itself). Partials added in a fixed order rather
//   than atomics: the result does not depend on block scheduling, so training runs repeat
//   exactly, and dw needs no zeroing first. `counters` holds a zero per tile (each tile's
//   last split leaves it zero). Tiles ⌈K/64⌉·⌈O/64⌉; needs M, K, O ≥ 1 and rows in every split.
#include "batch_norm.cuh"
#include "gemm.cuh"

struct ConvShape {
    i64 batch, h, w, c, o, kh, kw, sh, sw, pt, pl, oh, ow;
};

// A position (hi, mid, lo) in the mixed radix (·, mid_n, lo_n): a patch column (kh, kw, c),
// an output row (n, oh, ow). Loaders step such cursors with additions: no division per step.
struct Radix3 {
    i64 hi, mid, lo;
};

__device__ __forceinline__ Radix3 radix3(i64 v, i64 mid_n, i64 lo_n) {
    const i64 q = v / lo_n;
    return {q / mid_n, q % mid_n, v % lo_n};
}

// c += d, where d is itself a position (d.mid < mid_n, d.lo < lo_n): one carry per digit.
__device__ __forceinline__ void radix3_add(Radix3& c, const Radix3& d, i64 mid_n, i64 lo_n) {
    c.lo += d.lo;
    const bool carry_lo = c.lo >= lo_n;
    if (carry_lo) c.lo -= lo_n;
    c.mid += d.mid + carry_lo;
    const bool carry_mid = c.mid >= mid_n;
    if (carry_mid) c.mid -= mid_n;
    c.hi += d.hi + carry_mid;
}

__device__ __forceinline__ bool conv_inside(i64 i, i64 n) {
    return (unsigned long long)i < (unsigned long long)n;
}

// ---- forward ------------------------------------------------------------------------------

// A[m, k]: patch column k = (kh, kw, c) of output row m = (n, oh, ow), i.e.
// x[n, oh·SH + kh − PT, ow·SW + kw − PL, c].
struct ForwardPatches {
    static constexpr bool K_FASTEST = true;  // c runs fastest in both the column and x
    const float* x;
    const BnInput& in;  // x is a batch norm's input: its output is computed here
    const ConvShape& s;
    i64 k_end;
    i64 base[GEMM_LOADS], ih0[GEMM_LOADS], iw0[GEMM_LOADS];  // per row slot: x offset and input position of tap (0, 0)
    Radix3 tap, step;                                       // this thread's column, and GEMM_BK, as (kh, kw, c)

    __device__ __forceinline__ ForwardPatches(const float* x_, const BnInput& in_, const ConvShape& s_, i64 m0, i64 k)
        : x(x_), in(in_), s(s_), k_end(k) {
        const int t = threadIdx.x;
        const i64 rows = s.batch * s.oh * s.ow;
        for (int j = 0; j < GEMM_LOADS; ++j) {
            const i64 row = m0 + gemm_slot_row<true>(t, j);
            const Radix3 p = radix3(row < rows ? row : 0, s.oh, s.ow);
            // Past the last row, ih0 = H puts every tap outside the input.
            ih0[j] = row < rows ? p.mid * s.sh - s.pt : s.h;
            iw0[j] = p.lo * s.sw - s.pl;
            base[j] = ((p.hi * s.h + ih0[j]) * s.w + iw0[j]) * s.c;
        }
        tap = radix3(gemm_slot_k<true>(t, 0), s.kw, s.c);
        step = radix3(GEMM_BK, s.kw, s.c);
    }

    __device__ __forceinline__ void load(i64 k0, float (&v)[GEMM_LOADS]) {
        const bool live = k0 + gemm_slot_k<true>(threadIdx.x, 0) < k_end;
        const i64 offset = (tap.hi * s.w + tap.mid) * s.c + tap.lo;
        // Every slot of this thread loads channel tap.lo; padding stays zero after the batch norm.
        const bool normalize = live && in.active();
        const BnChannel bn = normalize ? in.channel(tap.lo) : BnChannel{};
        for (int j = 0; j < GEMM_LOADS; ++j) {
            const bool inside = live && conv_inside(ih0[j] + tap.hi, s.h) && conv_inside(iw0[j] + tap.mid, s.w);
            const float value = inside ? x[base[j] + offset] : 0.0f;
            v[j] = inside && normalize ? bn(value) : value;
        }
        radix3_add(tap, step, s.kw, s.c);
    }
};

// Two per-channel f64 sums over the rows of the block's 64 × 64 tile, which gemm_block has
// just written, for a reduction over all of a launch's tiles that finishes in its last
// tile: `terms(r, c)` gives the two quantities (a TermPair) of tile row r at channel c
// (zeros for a row outside the output); the block writes its column sums to
// partials[slot][0 or 1][channels], then the last of the `slots` tiles of its column of
// tiles to finish (counted on counters[n0 / 64], zero before and after) adds the column's
// partials in slot order and hands each channel's totals to `finish(c, a, b)`.
struct TermPair {
    double a, b;
};

template <class Terms, class Finish>
__device__ __forceinline__ void conv2d_tile_sums(const Terms& terms, const Finish& finish, double* partials,
                                                 unsigned* counters, i64 slot, i64 slots, i64 channels, i64 n0) {
    __shared__ double sums[2][GEMM_THREADS / GEMM_TILE][GEMM_TILE];
    const int col = threadIdx.x % GEMM_TILE, part = threadIdx.x / GEMM_TILE;
    constexpr int PART_ROWS = GEMM_TILE * GEMM_TILE / GEMM_THREADS;
    const i64 c = n0 + col;
    __syncthreads();  // the block's writes of its tile are visible to the whole block
    double a = 0.0, b = 0.0;
    if (c < channels)
        for (int r = part * PART_ROWS; r < (part + 1) * PART_ROWS; ++r) {
            const TermPair t = terms(r, c);
            a += t.a;
            b += t.b;
        }
    sums[0][part][col] = a;
    sums[1][part][col] = b;
    __syncthreads();
    if (part == 0 && c < channels) {
        double ta = 0.0, tb = 0.0;
        for (int p = 0; p < GEMM_THREADS / GEMM_TILE; ++p) {
            ta += sums[0][p][col];
            tb += sums[1][p][col];
        }
        partials[(2 * slot) * channels + c] = ta;
        partials[(2 * slot + 1) * channels + c] = tb;
    }
    if (!cari_last_arrival(counters + n0 / GEMM_TILE, (unsigned)slots) || part != 0 || c >= channels) return;
    const volatile double* all = partials;  // other blocks' writes, past the fence
    double ta = 0.0, tb = 0.0;
    for (i64 t = 0; t < slots; ++t) {
        ta += all[(2 * t) * channels + c];
        tb += all[(2 * t + 1) * channels + c];
    }
    finish(c, ta, tb);
}

// The batch statistics of y's channels (what batch_norm_stats computes over y viewed as
// [M, O]) from the block's own tile: f64 sums of y and y², then mean = Σy / M,
// var = max(Σy² / M − mean², 0).
struct TileMoments {
    const float* y;
    i64 rows, out_c, m0;
    __device__ __forceinline__ TermPair operator()(int r, i64 c) const {
        if (m0 + r >= rows) return {0.0, 0.0};
        const double v = (double)y[(m0 + r) * out_c + c];
        return {v, v * v};
    }
};
struct MomentsOut {
    float *mean, *var;
    double n;
    __device__ __forceinline__ void operator()(i64 c, double a, double b) const {
        const double m = a / n;
        mean[c] = (float)m;
        var[c] = (float)fmax(b / n - m * m, 0.0);
    }
};

// The residual tail of an Inception-ResNet block in the up-conv's epilogue: y = act(x +
// scale·(v + bias[c])) for the product v, each operation rounded as elementwise_residual_tail
// rounds it (x the block's input, [M, O] like y).
struct ResidualRows {
    float* y;
    const float* x;
    const float* bias;
    float scale;
    int relu;
    i64 ld, m0, m_end;
    __device__ __forceinline__ float* row(int r) const {
        return m0 + r < m_end ? y + (m0 + r) * ld : nullptr;
    }
    __device__ __forceinline__ float finish(int r, i64 c, float v) const {
        const float out = x[(m0 + r) * ld + c] + cari_mul_rn(scale, v + bias[c]);
        return !relu || out > 0.0f ? out : 0.0f;
    }
};

// `partials` null: y alone; else y's batch statistics too (conv2d_tile_stats). `residual`
// not null: y is the residual tail of the product instead (ResidualRows; no statistics).
extern "C" __global__ __launch_bounds__(GEMM_THREADS) void conv2d_forward(
    float* y, float* mean, float* var, double* partials, unsigned* counters, const float* residual,
    const float* bias, float scale, int relu, const float* x, const float* x_mean, const float* x_var,
    const float* x_beta, float x_eps, int x_relu, const float* w, i64 batch, i64 in_h, i64 in_w, i64 in_c, i64 out_c,
    i64 kernel_h, i64 kernel_w, i64 stride_h, i64 stride_w, i64 pad_top, i64 pad_left, i64 out_h, i64 out_w) {
    const ConvShape s{batch, in_h, in_w, in_c, out_c, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, out_h, out_w};
    const BnInput in{x_mean, x_var, x_beta, x_eps, x_relu};
    const i64 rows = batch * out_h * out_w, k = kernel_h * kernel_w * in_c;
    i64 m0, n0;
    gemm_tile_origin(rows, m0, n0);
    ForwardPatches a(x, in, s, m0, k);
    GemmMatrix<false> b{w, out_c, n0, out_c, k};
    if (residual != nullptr) {
        gemm_block(a, b, 0, k, ResidualRows{y, residual, bias, scale, relu, out_c, m0, rows}, n0, out_c);
        return;
    }
    gemm_block(a, b, 0, k, GemmRows{y, out_c, m0, rows}, n0, out_c);
    if (partials != nullptr)
        conv2d_tile_sums(TileMoments{y, rows, out_c, m0}, MomentsOut{mean, var, (double)rows}, partials, counters,
                         m0 / GEMM_TILE, (rows + GEMM_TILE - 1) / GEMM_TILE, out_c, n0);
}

// ---- input gradient -----------------------------------------------------------------------

// One axis of an input-gradient phase: the input positions r, r + S, r + 2S, … (`count`
// of them) receive from kernel positions first, first + S, … (`taps` of them); position
// r + q·S gets tap j from output position base + q − j.
struct ConvPhase {
    i64 first, taps, count, base;
};

__device__ __forceinline__ ConvPhase conv_phase(i64 r, i64 in, i64 kernel, i64 stride, i64 pad) {
    const i64 first = (r + pad) % stride;
    const i64 taps = first < kernel ? (kernel - first + stride - 1) / stride : 0;
    return {first, taps, (in - r + stride - 1) / stride, (r + pad) / stride};
}

// A[m, k]: dy at tap k = (jh, jw, o) of phase pixel m = (n, qh, qw), i.e.
// dy[n, ph.base + qh − jh, pw.base + qw − jw, o], zero outside dy.
struct InputGradTaps {
    static constexpr bool K_FASTEST = true;  // o runs fastest in both the tap and dy
    const float* dy;
    const BnThrough& bn;  // dy is a batch norm's: its dx is computed here (bn.x null: none)
    const ConvShape& s;
    i64 k_end, taps_w;
    i64 base[GEMM_LOADS], oh0[GEMM_LOADS], ow0[GEMM_LOADS];  // per row slot: dy offset and position of tap (0, 0)
    Radix3 tap, step;                                       // (jh, jw, o)

    __device__ __forceinline__ InputGradTaps(const float* dy_, const BnThrough& bn_, const ConvShape& s_,
                                             const ConvPhase& ph, const ConvPhase& pw, i64 m0, i64 k)
        // A phase without taps has k = 0 and loads nothing; radix 1 keeps the cursor defined.
        : dy(dy_), bn(bn_), s(s_), k_end(k), taps_w(pw.taps > 0 ? pw.taps : 1) {
        const int t = threadIdx.x;
        const i64 rows = s.batch * ph.count * pw.count;
        for (int j = 0; j < GEMM_LOADS; ++j) {
            const i64 row = m0 + gemm_slot_row<true>(t, j);
            const Radix3 p = radix3(row < rows ? row : 0, ph.count, pw.count);
            // Past the last row, oh0 = −1 puts every tap outside dy.
            oh0[j] = row < rows ? ph.base + p.mid : -1;
            ow0[j] = pw.base + p.lo;
            base[j] = ((p.hi * s.oh + oh0[j]) * s.ow + ow0[j]) * s.o;
        }
        tap = radix3(gemm_slot_k<true>(t, 0), taps_w, s.o);
        step = radix3(GEMM_BK, taps_w, s.o);
    }

    __device__ __forceinline__ void load(i64 k0, float (&v)[GEMM_LOADS]) {
        const bool live = k0 + gemm_slot_k<true>(threadIdx.x, 0) < k_end;
        const i64 offset = tap.lo - (tap.hi * s.ow + tap.mid) * s.o;
        for (int j = 0; j < GEMM_LOADS; ++j) {
            const bool inside = live && conv_inside(oh0[j] - tap.hi, s.oh) && conv_inside(ow0[j] - tap.mid, s.ow);
            const i64 i = base[j] + offset;
            v[j] = !inside ? 0.0f : bn.x == nullptr ? dy[i] : bn.dx(i, tap.lo, dy[i]);
        }
        radix3_add(tap, step, taps_w, s.o);
    }
};

// B[k, i]: w[ph.first + jh·SH, pw.first + jw·SW, i, o] for tap k = (jh, jw, o).
struct InputGradWeights {
    static constexpr bool K_FASTEST = true;  // o runs fastest in both the tap and w
    const float* w;
    const ConvShape& s;
    i64 k_end, taps_w, n0, first_h, first_w;
    Radix3 tap, step;

    __device__ __forceinline__ InputGradWeights(const float* w_, const ConvShape& s_, const ConvPhase& ph,
                                                const ConvPhase& pw, i64 n0_, i64 k)
        : w(w_), s(s_), k_end(k), taps_w(pw.taps > 0 ? pw.taps : 1), n0(n0_), first_h(ph.first), first_w(pw.first) {
        tap = radix3(gemm_slot_k<true>(threadIdx.x, 0), taps_w, s.o);
        step = radix3(GEMM_BK, taps_w, s.o);
    }

    __device__ __forceinline__ void load(i64 k0, float (&v)[GEMM_LOADS]) {
        const int t = threadIdx.x;
        const bool live = k0 + gemm_slot_k<true>(t, 0) < k_end;
        const i64 kh = first_h + tap.hi * s.sh, kw = first_w + tap.mid * s.sw;
        const i64 offset = (kh * s.kw + kw) * s.c * s.o + tap.lo;
        for (int j = 0; j < GEMM_LOADS; ++j) {
            const i64 i = n0 + gemm_slot_row<true>(t, j);
            v[j] = live && i < s.c ? w[offset + i * s.o] : 0.0f;
        }
        radix3_add(tap, step, taps_w, s.o);
    }
};

// Row m = (n, qh, qw) of a phase is dx's pixel (n, rh + qh·SH, rw + qw·SW).
struct InputGradRows {
    float* dx;
    const ConvShape& s;
    i64 rh, rw, count_h, count_w, m0, m_end;
    __device__ __forceinline__ float* row(int r) const {
        if (m0 + r >= m_end) return nullptr;
        const Radix3 p = radix3(m0 + r, count_h, count_w);
        return dx + ((p.hi * s.h + rh + p.mid * s.sh) * s.w + rw + p.lo * s.sw) * s.c;
    }
    __device__ __forceinline__ float finish(int, i64, float v) const {
        return v;
    }
};

// Where the backward sums of the batch norm whose output is the convolution's input go
// (BnInput; partials == nullptr: not wanted): dβ[C], means[2·C], the tiles' partials and a
// zeroed counter per column of tiles.
struct InputBnSums {
    double* partials;
    unsigned* counters;
    float *dbeta, *means;
};

// That batch norm's g = dx·act'(x̂ + β) and g·x̂ at tile row r, channel c of dx (x the
// batch norm's input), as batch_norm_backward_sums forms them.
struct InputBnTerms {
    const InputGradRows& out;
    const float *dx, *x;
    const BnInput& in;
    __device__ __forceinline__ TermPair operator()(int r, i64 c) const {
        const float* row = out.row(r);
        if (row == nullptr) return {0.0, 0.0};
        const i64 i = (row - dx) + c;
        const Normalized n = bn_normalized(dx[i], x[i], in.mean[c], bn_inv_std(in.var[c], in.eps), in.beta[c], in.relu);
        return {(double)n.g, (double)(n.g * n.xhat)};
    }
};

// dβ = Σg, means = [Σg / R, Σg·x̂ / R], rounded to f32 as batch_norm_backward_sums rounds them.
struct BnSumsOut {
    float *dbeta, *means;
    i64 channels;
    double n;
    __device__ __forceinline__ void operator()(i64 c, double a, double b) const {
        dbeta[c] = (float)a;
        means[c] = (float)(a / n);
        means[channels + c] = (float)(b / n);
    }
};

// The input-gradient tiles of phase layer `layer` (phase_h·SW + phase_w): block x takes
// one of the ⌈pixels of phase (0, 0), the largest/64⌉·⌈C/64⌉ tiles numbered as phase
// (0, 0)'s; a block past its own phase's pixels, or past the tiles, has nothing to do.
__device__ __forceinline__ void conv2d_input_grad_block(float* dx, const float* dy, const BnThrough& bn,
                                                        const float* w, const float* x, const BnInput& in,
                                                        const InputBnSums& sums, const ConvShape& s, i64 layer) {
    const i64 phase_h = layer / s.sw, phase_w = layer % s.sw;
    const ConvPhase ph = conv_phase(phase_h, s.h, s.kh, s.sh, s.pt);
    const ConvPhase pw = conv_phase(phase_w, s.w, s.kw, s.sw, s.pl);
    const i64 rows = s.batch * ph.count * pw.count, k = ph.taps * pw.taps * s.o;
    const i64 most_rows = s.batch * ((s.h + s.sh - 1) / s.sh) * ((s.w + s.sw - 1) / s.sw);
    i64 m0, n0;
    gemm_tile_origin(most_rows, m0, n0);
    if (m0 >= rows || n0 >= s.c) return;  // the whole block: no barrier has run
    InputGradTaps a(dy, bn, s, ph, pw, m0, k);
    InputGradWeights b(w, s, ph, pw, n0, k);
    const InputGradRows out{dx, s, phase_h, phase_w, ph.count, pw.count, m0, rows};
    gemm_block(a, b, 0, k, out, n0, s.c);
    if (sums.partials == nullptr) return;
    // The phases' tiles in layer order are the reduction's slots.
    i64 slot = m0 / GEMM_TILE, slots = 0;
    for (i64 l = 0; l < s.sh * s.sw; ++l) {
        const ConvPhase lh = conv_phase(l / s.sw, s.h, s.kh, s.sh, s.pt), lw = conv_phase(l % s.sw, s.w, s.kw, s.sw, s.pl);
        const i64 tiles = (s.batch * lh.count * lw.count + GEMM_TILE - 1) / GEMM_TILE;
        if (l < layer) slot += tiles;
        slots += tiles;
    }
    const BnSumsOut finish{sums.dbeta, sums.means, s.c, (double)(s.batch * s.h * s.w)};
    conv2d_tile_sums(InputBnTerms{out, dx, x, in}, finish, sums.partials, sums.counters, slot, slots, s.c, n0);
}

// ---- weight gradient ----------------------------------------------------------------------

// A[m, k] = P[k, m]: patch column m = (kh, kw, c) of output row k = (n, oh, ow).
struct WeightGradPatches {
    static constexpr bool K_FASTEST = false;  // c, the column's fastest digit, runs fastest in x
    const float* x;
    const ConvShape& s;
    i64 k_end;
    i64 kh, kw, c;     // this thread's patch column
    bool normalize;    // x is a batch norm's input: its output (channel c's) is computed here
    BnChannel bn;
    Radix3 row, step;  // (n, oh, ow) of this thread's first row of the step; GEMM_BK rows
    Radix3 one;        // one row, in the same radix

    __device__ __forceinline__ WeightGradPatches(const float* x_, const BnInput& in, const ConvShape& s_, i64 m0, i64 k,
                                                 i64 k_begin, i64 k_end_)
        : x(x_), s(s_), k_end(k_end_) {
        const int t = threadIdx.x;
        const i64 column = m0 + gemm_slot_row<false>(t, 0);
        const Radix3 p = radix3(column < k ? column : 0, s.kw, s.c);
        // Past the last column, kh = H + PT puts every row's tap below the input.
        kh = column < k ? p.hi : s.h + s.pt;
        kw = p.mid;
        c = p.lo;
        normalize = in.active();
        bn = normalize ? in.channel(c) : BnChannel{};
        row = radix3(k_begin + gemm_slot_k<false>(t, 0), s.oh, s.ow);
        step = radix3(GEMM_BK, s.oh, s.ow);
        one = radix3(1, s.oh, s.ow);
    }

    __device__ __forceinline__ void load(i64 k0, float (&v)[GEMM_LOADS]) {
        const int t = threadIdx.x;
        Radix3 p = row;  // the slots' rows are consecutive
        for (int j = 0; j < GEMM_LOADS; ++j) {
            const i64 ih = p.mid * s.sh + kh - s.pt, iw = p.lo * s.sw + kw - s.pl;
            const bool inside = k0 + gemm_slot_k<false>(t, j) < k_end && conv_inside(ih, s.h) && conv_inside(iw, s.w);
            const float value = inside ? x[((p.hi * s.h + ih) * s.w + iw) * s.c + c] : 0.0f;
            v[j] = inside && normalize ? bn(value) : value;
            radix3_add(p, one, s.oh, s.ow);
        }
        radix3_add(row, step, s.oh, s.ow);
    }
};

// B[k, o] = dy[k, o] (output position k, channel o), or the batch norm's dx there.
struct WeightGradOutputs {
    static constexpr bool K_FASTEST = false;  // o runs fastest in dy
    const float* dy;
    const BnThrough& bn;
    i64 out_c, n0, k_end;

    __device__ __forceinline__ void load(i64 k0, float (&v)[GEMM_LOADS]) const {
        const int t = threadIdx.x;
        for (int j = 0; j < GEMM_LOADS; ++j) {
            const i64 o = n0 + gemm_slot_row<false>(t, j), k = k0 + gemm_slot_k<false>(t, j), i = k * out_c + o;
            v[j] = !(o < out_c && k < k_end) ? 0.0f : bn.x == nullptr ? dy[i] : bn.dx(i, o, dy[i]);
        }
    }
};

// Split `split` of the weight gradient: rows split·split_rows.. of the reduction, into dw
// itself when there is one split, else into out + split·K·O, the last split of each tile
// to finish adding every split's partial of that tile into dw, in split order (tile t
// counts its arrivals on counters[t]). Block x takes one of the ⌈K/64⌉·⌈O/64⌉ tiles (past
// them, nothing to do).
__device__ __forceinline__ void conv2d_weight_grad_block(float* dw, float* partial, unsigned* counters,
                                                         const float* x, const BnInput& in, const float* dy,
                                                         const BnThrough& bn,
                                                         const ConvShape& s, i64 split_rows, i64 splits, i64 split) {
    const i64 rows = s.batch * s.oh * s.ow, k = s.kh * s.kw * s.c;
    const i64 k_begin = split * split_rows, k_end = min(rows, k_begin + split_rows);
    i64 m0, n0;
    gemm_tile_origin(k, m0, n0);
    if (n0 >= s.o) return;  // the whole block: no barrier has run
    float* out = splits == 1 ? dw : partial + split * k * s.o;
    WeightGradPatches a(x, in, s, m0, k, k_begin, k_end);
    WeightGradOutputs b{dy, bn, s.o, n0, k_end};
    gemm_block(a, b, k_begin, k_end, GemmRows{out, s.o, m0, k}, n0, s.o);
    if (splits == 1 || !cari_last_arrival(counters + blockIdx.x, (unsigned)splits)) return;
    const volatile float* partials = partial;  // other blocks' writes, past the fence
    const i64 len = k * s.o;
    for (int e = threadIdx.x; e < GEMM_TILE * GEMM_TILE; e += blockDim.x) {
        const i64 r = m0 + e / GEMM_TILE, c = n0 + e % GEMM_TILE;
        if (r >= k || c >= s.o) continue;
        float sum = 0.0f;
        for (i64 sp = 0; sp < splits; ++sp) sum += partials[sp * len + r * s.o + c];
        dw[r * s.o + c] = sum;
    }
}

// Both gradients of one backward pass in one launch: grid.z layers below `input_layers`
// are the input gradient's phases, the rest the weight gradient's splits. With `bn_x`
// given, dy is the gradient of the training batch norm that follows the convolution
// (bn_x its input, the convolution's output; `means` from batch_norm_backward_sums), and
// both passes compute the batch norm's dx where they load it, with the roundings of
// batch_norm_backward_dx.
extern "C" __global__ __launch_bounds__(GEMM_THREADS) void conv2d_backward(
    float* dx, float* dw, float* partial, unsigned* counters, const float* dy, const float* bn_x, const float* mean,
    const float* var, const float* beta, const float* means, float eps, int relu, const float* x, const float* x_mean,
    const float* x_var, const float* x_beta, float x_eps, int x_relu, double* x_partials, unsigned* x_counters,
    float* x_dbeta, float* x_means, const float* w, i64 batch, i64 in_h, i64 in_w, i64 in_c, i64 out_c,
    i64 kernel_h, i64 kernel_w, i64 stride_h, i64 stride_w, i64 pad_top, i64 pad_left, i64 out_h, i64 out_w,
    i64 split_rows, i64 input_layers) {
    const ConvShape s{batch, in_h, in_w, in_c, out_c, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, out_h, out_w};
    const BnInput in{x_mean, x_var, x_beta, x_eps, x_relu};
    const InputBnSums sums{x_partials, x_counters, x_dbeta, x_means};
    const BnThrough bn{bn_x, mean, var, beta, means, out_c, eps, relu};
    const i64 layer = blockIdx.z;
    if (layer < input_layers)
        conv2d_input_grad_block(dx, dy, bn, w, x, in, sums, s, layer);
    else
        conv2d_weight_grad_block(dw, partial, counters, x, in, dy, bn, s, split_rows, gridDim.z - input_layers,
                                 layer - input_layers);
}
