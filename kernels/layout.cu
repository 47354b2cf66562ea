// Column and row rearrangements of row-major f32 matrices (CPU reference:
// src/backend/cpu/layout.rs).
//
// Entry points (1-D grids of any size, grid-stride loops, one thread per output element):
//   layout_copy_blocks(list, count)   a list of blocks (tensor_list.cuh), each entry
//       {dst, src, mean, var, beta}, n = rows·cols, size {cols, dst_cols, src_cols},
//       scalar {eps, relu}: dst[r·dst_cols + c] = src[r·src_cols + c] for its [rows, cols]
//       block, or (mean given) the batch norm's output of channel c there (BnInput):
//       concat_cols (an entry per part, dst at the part's first column) and slice_cols (an
//       entry per range, src at its first column).
//   layout_gather_rows(out[picks, cols], x[_, cols], index[picks])   out[i] = x[index[i]]
//   layout_scatter_add_rows(out[rows, cols], src[picks, cols], starts[rows + 1], sources[picks])
//       out[d] = Σ src[sources[k]] for k in starts[d] .. starts[d + 1]: the index inverted on
//       the host (sources of each destination in increasing order), so every output element
//       is one thread's sum in the CPU's order, deterministic and without atomics.
// Indices were checked against the row count on the host.
#include "batch_norm.cuh"
#include "tensor_list.cuh"

// Every entry's cols > 0.
extern "C" __global__ void layout_copy_blocks(const CariTensorEntry* __restrict__ list, int count) {
    const CariTensorEntry e = cari_tensor_entry(list, count);
    float* dst = reinterpret_cast<float*>(e.ptr[0]);
    const float* src = reinterpret_cast<const float*>(e.ptr[1]);
    const BnInput in{reinterpret_cast<const float*>(e.ptr[2]), reinterpret_cast<const float*>(e.ptr[3]),
                     reinterpret_cast<const float*>(e.ptr[4]), e.scalar[0], (int)e.scalar[1]};
    const i64 cols = e.size[0], dst_cols = e.size[1], src_cols = e.size[2];
    for (CariMatrixWalk w(cols, cari_entry_first(e), cari_entry_stride(e)); w.i < e.n; w.next()) {
        const float v = src[w.row * src_cols + w.col];
        dst[w.row * dst_cols + w.col] = in.active() ? in.channel(w.col)(v) : v;
    }
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
