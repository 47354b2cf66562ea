// Column and row rearrangements of row-major f32 matrices (CPU reference:
// src/backend/cpu/layout.rs).
//
// Entry points (1-D grids of any size, grid-stride loops, one thread per output element):
//   layout_copy_block(dst, dst_cols, src, src_cols, rows, cols)
//       dst[r·dst_cols + c] = src[r·src_cols + c] for a [rows, cols] block: concat_cols
//       (once per part, dst offset to the part's first column) and slice_cols (src offset
//       to the first column kept).
//   layout_gather_rows(out[picks, cols], x[_, cols], index[picks])   out[i] = x[index[i]]
//   layout_scatter_add_rows(out[rows, cols], src[picks, cols], starts[rows + 1], sources[picks])
//       out[d] = Σ src[sources[k]] for k in starts[d] .. starts[d + 1]: the index inverted on
//       the host (sources of each destination in increasing order), so every output element
//       is one thread's sum in the CPU's order, deterministic and without atomics.
// Indices were checked against the row count on the host.
#include "common.cuh"

// rows·cols > 0.
extern "C" __global__ void layout_copy_block(float* __restrict__ dst, i64 dst_cols, const float* __restrict__ src,
                                             i64 src_cols, i64 rows, i64 cols) {
    const i64 n = rows * cols;
    for (CariMatrixWalk w(cols); w.i < n; w.next()) dst[w.row * dst_cols + w.col] = src[w.row * src_cols + w.col];
}

// picks·cols > 0.
extern "C" __global__ void layout_gather_rows(float* __restrict__ out, const float* __restrict__ x,
                                              const long long* __restrict__ index, i64 picks, i64 cols) {
    const i64 n = picks * cols;
    for (CariMatrixWalk w(cols); w.i < n; w.next()) out[w.i] = x[index[w.row] * cols + w.col];
}

// rows·cols > 0.
extern "C" __global__ void layout_scatter_add_rows(float* __restrict__ out, const float* __restrict__ src,
                                                   const long long* __restrict__ starts,
                                                   const long long* __restrict__ sources, i64 rows, i64 cols) {
    const i64 n = rows * cols;
    for (CariMatrixWalk w(cols); w.i < n; w.next()) {
        float acc = 0.0f;
        for (i64 k = starts[w.row]; k < starts[w.row + 1]; ++k) acc += src[sources[k] * cols + w.col];
        out[w.i] = acc;
    }
}
