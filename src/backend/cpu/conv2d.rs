//! 2-D convolution on the CPU: forward, input gradient and weight gradient.
//!
//! Layouts (row-major): `x` is NHWC `[batch, in_h, in_w, in_c]`, `w` is HWIO
//! `[kernel_h, kernel_w, in_c, out_c]`, `y`/`dy` are NHWC `[batch, out_h, out_w, out_c]`.
//! Output `(oh, ow)` reads input `ih = oh·stride_h + kh − pad_top`, `iw = ow·stride_w + kw −
//! pad_left`; positions outside the input read as zero, so bottom/right padding is whatever
//! `out_h`/`out_w` imply (TF SAME may pad more at the bottom/right).
//!
//! Every pass is a GEMM (see [`super::matmul`]) over the `rows = batch·out_h·out_w` output
//! positions, with the HWIO weight viewed as `[kh·kw·in_c, out_c]`:
//! - 1×1 kernels with stride 1 and no padding: `x` viewed as `[rows, in_c]` *is* the GEMM
//!   operand, so `y = x·w`, `dx = dy·wᵀ`, `dw = xᵀ·dy` run directly on the caller's data.
//! - Everything else goes through im2col: `cols[rows, kh·kw·in_c]` holds, per output
//!   position, the input patch it reads (zeros for padding), so `y = cols·w`,
//!   `dcols = dy·wᵀ` followed by col2im (the scatter-add back into `dx`), and
//!   `dw = colsᵀ·dy`. NHWC makes each kernel row of a patch one contiguous run of `x`, so
//!   im2col and col2im are one copy (or add) per output position and kernel row.
//!
//! Threading: the rows are cut into chunks whose columns take at most about
//! [`CHUNK_FLOATS`] floats, bounding memory and keeping a chunk near the cache of the core
//! that fills it. The chunk count is a multiple of the thread count, and each rayon task
//! takes an equal run of consecutive chunks with one im2col buffer, running im2col *and* a
//! single-threaded GEMM per chunk, so a chunk's columns are used by the core that wrote
//! them. Input-gradient chunks hold whole images so that col2im writes of different tasks
//! never overlap; weight-gradient tasks each sum into their own partial, added up in a
//! fixed order so results do not depend on scheduling. When there are fewer chunks than
//! threads (tiny batches) the GEMM and im2col/col2im themselves go multi-threaded instead.
//!
//! [`reference`] holds naive direct loops that the tests compare every fast path against.

use super::buffer;
use super::matmul::{matmul_into, Dst, Threads};
use super::{batch_norm, f32s, operand, wrap, CpuBackend};
use crate::backend::{
    BatchNormOps, BnSums, Conv2dBackward, Conv2dGeometry, Conv2dGradients, Conv2dGrads, Conv2dOps, ConvBnBackward,
    ConvBnGradients, ConvResidual, ElementwiseOps, MatmulGeometry, Rows, Storage, Values,
};
use crate::error::Result;
use rayon::prelude::*;

/// Target size of one chunk's im2col buffer, in floats (1 MiB): small enough to stay in
/// the L2 cache of the core that filled it while its GEMM reads it back (measured 5–10%
/// faster than 4 MiB on the large layers), large enough for an efficient GEMM.
/// An input-gradient chunk is never less than one image, whatever that image needs.
const CHUNK_FLOATS: usize = 1 << 18;

/// The fewest GEMM rows a chunk gets (input-gradient chunks: whole images adding up to at
/// least this many), however long its patches: every chunk's GEMM packs the whole weight
/// matrix again (and a weight-gradient chunk re-reads and re-writes the whole gradient),
/// so deep layers (kh·kw·in_c in the hundreds or thousands) need taller chunks than the
/// cache budget alone would give. Measured on the network's shapes at batch 32: 1024 rows
/// made `Conv2d_4a_3x3`'s weight gradient 1.5× faster and the 8×8 / 17×17 3×3 convs'
/// passes 10–23 % faster, and changed the shallow stem convs by less than the noise.
const MIN_CHUNK_ROWS: usize = 1024;

/// `y[n, oh, ow, o] = Σ x[n, ih, iw, i]·w[kh, kw, i, o]`.
pub fn forward(x: &[f32], w: &[f32], g: &Conv2dGeometry) -> Vec<f32> {
    forward_chunked(x, w, g, Chunking::DEFAULT)
}

/// `dx = ∂L/∂x` from `dy = ∂L/∂y`.
pub fn input_grad(dy: &[f32], w: &[f32], g: &Conv2dGeometry) -> Vec<f32> {
    input_grad_chunked(dy, w, g, Chunking::DEFAULT)
}

/// `dw = ∂L/∂w` from the input `x` and `dy = ∂L/∂y`.
pub fn weight_grad(x: &[f32], dy: &[f32], g: &Conv2dGeometry) -> Vec<f32> {
    weight_grad_chunked(x, dy, g, Chunking::DEFAULT)
}

/// Output positions `batch·out_h·out_w`: the GEMM rows.
fn rows(g: &Conv2dGeometry) -> usize {
    g.batch * g.out_h * g.out_w
}

/// Length of one im2col row: `kh·kw·in_c`, the GEMM depth of the forward pass.
fn patch_len(g: &Conv2dGeometry) -> usize {
    g.kernel_h * g.kernel_w * g.in_c
}

/// A 1×1, stride-1, unpadded convolution: `x` as `[rows, in_c]` already is its im2col.
fn is_pointwise(g: &Conv2dGeometry) -> bool {
    g.kernel_h == 1
        && g.kernel_w == 1
        && g.stride_h == 1
        && g.stride_w == 1
        && g.pad_top == 0
        && g.pad_left == 0
        && g.out_h == g.in_h
        && g.out_w == g.in_w
}

fn geometry(m: usize, k: usize, n: usize, transpose_a: bool, transpose_b: bool) -> MatmulGeometry {
    MatmulGeometry { m, k, n, transpose_a, transpose_b }
}

/// The budget a pass cuts its rows into chunks by (tests shrink it to force many chunks).
#[derive(Clone, Copy, Debug)]
struct Chunking {
    /// Target im2col floats per chunk.
    floats: usize,
    /// The fewest GEMM rows per chunk.
    min_rows: usize,
}

impl Chunking {
    const DEFAULT: Chunking = Chunking { floats: CHUNK_FLOATS, min_rows: MIN_CHUNK_ROWS };
}

/// How a pass cuts its rows into chunks, and the chunks into one part per thread.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Granules (rows, or whole images for the input gradient) per chunk; the last chunk
    /// may be shorter.
    chunk_granules: usize,
    /// Number of chunks.
    chunks: usize,
    /// Consecutive chunks per rayon task; each task allocates one im2col buffer and reuses
    /// it for all its chunks.
    chunks_per_part: usize,
    /// Threads for the work inside one chunk.
    threads: Threads,
}

/// Cuts `granules` granules of `granule_floats` column floats each into chunks of at most
/// about `chunk_floats` floats (at least one granule), with a chunk count that is a
/// multiple of the thread count when there are enough granules for that.
fn plan(granules: usize, granule_floats: usize, chunk_floats: usize, min_granules: usize) -> Plan {
    let threads = rayon::current_num_threads();
    let max_granules = (chunk_floats / granule_floats.max(1)).max(min_granules).max(1);
    let chunks = granules.div_ceil(max_granules).next_multiple_of(threads).min(granules).max(1);
    let chunk_granules = granules.div_ceil(chunks);
    let chunks = granules.div_ceil(chunk_granules);
    let chunks_per_part = chunks.div_ceil(threads);
    let threads = if chunks < threads { Threads::All } else { Threads::Single };
    Plan { chunk_granules, chunks, chunks_per_part, threads }
}

/// Runs `f(first granule, chunk of out, im2col buffer)` for every chunk, where `out` holds
/// `granule_len` floats per granule and the buffer `granule_cols` per granule of a full
/// chunk; one rayon task per part, one buffer (from the buffer cache) per task.
fn for_each_chunk(
    out: &mut [f32],
    granule_len: usize,
    granule_cols: usize,
    p: &Plan,
    f: impl Fn(usize, &mut [f32], &mut [f32]) + Sync,
) {
    let chunk_len = p.chunk_granules * granule_len;
    out.par_chunks_mut(chunk_len * p.chunks_per_part).enumerate().for_each(|(t, part)| {
        let mut cols = buffer::uninit(p.chunk_granules * granule_cols);
        for (i, chunk) in part.chunks_mut(chunk_len).enumerate() {
            f((t * p.chunks_per_part + i) * p.chunk_granules, chunk, &mut cols);
        }
        buffer::recycle(cols);
    });
}

/// Where one kernel row `kh` of output position `(oh, ow)` reads the input: input row `ih`,
/// kernel columns `kw_lo..kw_hi` (the ones inside the input), the first at input column
/// `iw`. `None` when the whole kernel row falls in the padding.
struct Span {
    ih: usize,
    iw: usize,
    kw_lo: usize,
    kw_hi: usize,
}

fn span(g: &Conv2dGeometry, oh: usize, ow: usize, kh: usize) -> Option<Span> {
    let ih = (oh * g.stride_h + kh).checked_sub(g.pad_top).filter(|&ih| ih < g.in_h)?;
    let left = ow * g.stride_w;
    let kw_lo = g.pad_left.saturating_sub(left).min(g.kernel_w);
    let kw_hi = (g.in_w + g.pad_left).saturating_sub(left).min(g.kernel_w);
    (kw_lo < kw_hi).then(|| Span { ih, iw: left + kw_lo - g.pad_left, kw_lo, kw_hi })
}

/// Fills `cols` with the im2col rows of output rows `row0..row0 + cols.len()/patch_len`.
fn im2col(x: &[f32], g: &Conv2dGeometry, row0: usize, cols: &mut [f32], threads: Threads) {
    let patch = patch_len(g);
    let fill = |(r, dst): (usize, &mut [f32])| {
        let row = row0 + r;
        let (n, ow) = (row / (g.out_h * g.out_w), row % g.out_w);
        let oh = row / g.out_w % g.out_h;
        for (kh, seg) in dst.chunks_exact_mut(g.kernel_w * g.in_c).enumerate() {
            match span(g, oh, ow, kh) {
                Some(s) => {
                    let (lo, hi) = (s.kw_lo * g.in_c, s.kw_hi * g.in_c);
                    let src = ((n * g.in_h + s.ih) * g.in_w + s.iw) * g.in_c;
                    seg[..lo].fill(0.0);
                    seg[lo..hi].copy_from_slice(&x[src..src + hi - lo]);
                    seg[hi..].fill(0.0);
                }
                None => seg.fill(0.0),
            }
        }
    };
    match threads {
        Threads::Single => cols.chunks_exact_mut(patch).enumerate().for_each(fill),
        Threads::All => cols.par_chunks_exact_mut(patch).enumerate().with_min_len(64).for_each(fill),
    }
}

/// Scatter-adds the im2col-shaped gradient `cols` of whole images into `dx`, which holds
/// those same images (and is zero or a partial sum on entry).
fn col2im(cols: &[f32], g: &Conv2dGeometry, dx: &mut [f32], threads: Threads) {
    let image_rows = g.out_h * g.out_w;
    let image_cols = image_rows * patch_len(g);
    let add = |(dx, cols): (&mut [f32], &[f32])| {
        for (r, patch) in cols.chunks_exact(patch_len(g)).enumerate() {
            let (oh, ow) = (r / g.out_w, r % g.out_w);
            for (kh, seg) in patch.chunks_exact(g.kernel_w * g.in_c).enumerate() {
                if let Some(s) = span(g, oh, ow, kh) {
                    let (lo, hi) = (s.kw_lo * g.in_c, s.kw_hi * g.in_c);
                    let dst = (s.ih * g.in_w + s.iw) * g.in_c;
                    for (d, &c) in dx[dst..dst + hi - lo].iter_mut().zip(&seg[lo..hi]) {
                        *d += c;
                    }
                }
            }
        }
    };
    let image_len = g.in_h * g.in_w * g.in_c;
    match threads {
        Threads::Single => dx.chunks_exact_mut(image_len).zip(cols.chunks_exact(image_cols)).for_each(add),
        Threads::All => dx.par_chunks_exact_mut(image_len).zip(cols.par_chunks_exact(image_cols)).for_each(add),
    }
}

fn forward_chunked(x: &[f32], w: &[f32], g: &Conv2dGeometry, c: Chunking) -> Vec<f32> {
    let (rows, patch, oc) = (rows(g), patch_len(g), g.out_c);
    if g.output_len() == 0 || patch == 0 {
        return vec![0.0; g.output_len()];
    }
    // Every GEMM below overwrites its rows of `y`.
    let mut y = buffer::uninit(g.output_len());
    if is_pointwise(g) {
        matmul_into(&mut y, x, w, &geometry(rows, patch, oc, false, false), Dst::Overwrite, Threads::All);
        return y;
    }
    let p = plan(rows, patch, c.floats, c.min_rows);
    for_each_chunk(&mut y, oc, patch, &p, |row0, y, cols| {
        let n = y.len() / oc;
        let cols = &mut cols[..n * patch];
        im2col(x, g, row0, cols, p.threads);
        matmul_into(y, cols, w, &geometry(n, patch, oc, false, false), Dst::Overwrite, p.threads);
    });
    y
}

fn input_grad_chunked(dy: &[f32], w: &[f32], g: &Conv2dGeometry, c: Chunking) -> Vec<f32> {
    let (rows, patch, oc) = (rows(g), patch_len(g), g.out_c);
    if g.input_len() == 0 || rows == 0 || patch == 0 || oc == 0 {
        return vec![0.0; g.input_len()];
    }
    if is_pointwise(g) {
        let mut dx = buffer::uninit(g.input_len());
        matmul_into(&mut dx, dy, w, &geometry(rows, oc, patch, false, true), Dst::Overwrite, Threads::All);
        return dx;
    }
    // col2im adds into `dx`. Chunks hold whole images, so that col2im of different chunks
    // never writes the same `dx`.
    let mut dx = buffer::zeroed(g.input_len());
    let image_rows = g.out_h * g.out_w;
    let p = plan(g.batch, image_rows * patch, c.floats, c.min_rows.div_ceil(image_rows));
    for_each_chunk(&mut dx, g.in_h * g.in_w * g.in_c, image_rows * patch, &p, |image0, dx, cols| {
        let n = dx.len() / (g.in_h * g.in_w * g.in_c) * image_rows;
        let dy = &dy[image0 * image_rows * oc..][..n * oc];
        let cols = &mut cols[..n * patch];
        matmul_into(cols, dy, w, &geometry(n, oc, patch, false, true), Dst::Overwrite, p.threads);
        col2im(cols, g, dx, p.threads);
    });
    dx
}

fn weight_grad_chunked(x: &[f32], dy: &[f32], g: &Conv2dGeometry, c: Chunking) -> Vec<f32> {
    let (rows, patch, oc) = (rows(g), patch_len(g), g.out_c);
    if g.weight_len() == 0 || rows == 0 {
        return vec![0.0; g.weight_len()];
    }
    let mut dw = buffer::zeroed(g.weight_len());
    let pointwise = is_pointwise(g);
    // The pointwise pass reads `x` in place, so its chunks only split the work.
    let p = plan(rows, if pointwise { 1 } else { patch }, c.floats, c.min_rows);
    // Sums chunks `range` into `acc`, reusing one im2col buffer.
    let accumulate = |acc: &mut [f32], range: std::ops::Range<usize>, threads: Threads| {
        let mut cols = if pointwise { Vec::new() } else { buffer::uninit(p.chunk_granules * patch) };
        for i in range {
            let row0 = i * p.chunk_granules;
            let n = p.chunk_granules.min(rows - row0);
            let lhs = if pointwise {
                &x[row0 * patch..(row0 + n) * patch]
            } else {
                im2col(x, g, row0, &mut cols[..n * patch], threads);
                &cols[..n * patch]
            };
            let dy = &dy[row0 * oc..(row0 + n) * oc];
            matmul_into(acc, lhs, dy, &geometry(patch, n, oc, true, false), Dst::Accumulate, threads);
        }
        buffer::recycle(cols);
    };
    let parts = p.chunks.div_ceil(p.chunks_per_part);
    if parts == 1 {
        accumulate(&mut dw, 0..p.chunks, p.threads);
        return dw;
    }
    // One partial sum per part, added up in part order so the result is deterministic.
    let partials: Vec<Vec<f32>> = (0..parts)
        .into_par_iter()
        .map(|t| {
            let mut acc = buffer::zeroed(dw.len());
            let first = t * p.chunks_per_part;
            accumulate(&mut acc, first..(first + p.chunks_per_part).min(p.chunks), p.threads);
            acc
        })
        .collect();
    const BLOCK: usize = 4096;
    dw.par_chunks_mut(BLOCK).enumerate().for_each(|(i, dw)| {
        for part in &partials {
            for (d, &s) in dw.iter_mut().zip(&part[i * BLOCK..]) {
                *d += s;
            }
        }
    });
    partials.into_iter().for_each(buffer::recycle);
    dw
}

impl Conv2dOps for CpuBackend {
    fn conv2d(&self, x: Values, w: &Storage, g: &Conv2dGeometry) -> Result<Storage> {
        Ok(wrap(forward(&operand(x, "conv2d")?, f32s(w, "conv2d")?, g)))
    }

    fn conv2d_with_stats(&self, x: Values, w: &Storage, g: &Conv2dGeometry) -> Result<(Storage, Storage, Storage)> {
        let y = self.conv2d(x, w, g)?;
        let (mean, var) = self.batch_norm_stats(&y, Rows { rows: g.batch * g.out_h * g.out_w, cols: g.out_c })?;
        Ok((y, mean, var))
    }

    fn conv2d_residual(&self, input: &Storage, w: &Storage, g: &Conv2dGeometry, on: ConvResidual) -> Result<Storage> {
        let up = self.conv2d(input.into(), w, g)?;
        self.residual_tail(on.x, &up, on.bias, on.tail)
    }

    fn conv2d_backward(&self, on: Conv2dBackward, g: &Conv2dGeometry, wanted: Conv2dGrads) -> Result<Conv2dGradients> {
        let op = "conv2d_backward";
        let dy = f32s(on.dy, op)?;
        let dx =
            wanted.input.then(|| Ok::<_, crate::error::Error>(wrap(input_grad(dy, f32s(on.w, op)?, g)))).transpose()?;
        let dw = wanted
            .weights
            .then(|| Ok::<_, crate::error::Error>(wrap(weight_grad(f32s(on.x, op)?, dy, g))))
            .transpose()?;
        Ok((dx, dw))
    }

    fn conv2d_bn_backward(&self, on: ConvBnBackward, g: &Conv2dGeometry, want: Conv2dGrads) -> Result<ConvBnGradients> {
        let op = "conv2d_bn_backward";
        let (dy, bn) = (f32s(on.dy, op)?, batch_norm::values(on.bn, op)?);
        let (dbeta, dconv) = match on.sums {
            Some(sums) => (None, batch_norm::backward_dx(dy, bn, f32s(sums.means, op)?)),
            None => {
                let BnSums { dbeta, means } = batch_norm::backward_sums(dy, bn);
                (Some(wrap(dbeta)), batch_norm::backward_dx(dy, bn, &means))
            }
        };
        let w = f32s(on.w, op)?;
        let dx = want.input.then(|| wrap(input_grad(&dconv, w, g)));
        // A normalised input is written only when the weight gradient reads it.
        let dw = match want.weights {
            true => Some(wrap(weight_grad(&operand(on.x, op)?, &dconv, g))),
            false => None,
        };
        let input_sums = match (on.input_sums, on.x, &dx) {
            (false, ..) => None,
            (true, Values::Normalized(input), Some(dx)) => {
                let sums = batch_norm::backward_sums(f32s(dx, op)?, batch_norm::values(input, op)?);
                Some(BnSums { dbeta: wrap(sums.dbeta), means: wrap(sums.means) })
            }
            (true, ..) => {
                let why = "the input's batch-norm sums need a normalised input and its gradient";
                return Err(crate::error::Error::invalid(op, why));
            }
        };
        Ok(ConvBnGradients { dx, dw, dbeta, input_sums })
    }
}

/// Naive direct loops, accumulated in f64: the definition the fast paths are tested against.
pub mod reference {
    use crate::backend::Conv2dGeometry;

    /// Calls `f(x index, w index, y index)` for every multiply-add of the convolution.
    fn for_each_tap(g: &Conv2dGeometry, mut f: impl FnMut(usize, usize, usize)) {
        for n in 0..g.batch {
            for oh in 0..g.out_h {
                for ow in 0..g.out_w {
                    for kh in 0..g.kernel_h {
                        for kw in 0..g.kernel_w {
                            let ih = (oh * g.stride_h + kh) as isize - g.pad_top as isize;
                            let iw = (ow * g.stride_w + kw) as isize - g.pad_left as isize;
                            if ih < 0 || iw < 0 || ih >= g.in_h as isize || iw >= g.in_w as isize {
                                continue;
                            }
                            let (ih, iw) = (ih as usize, iw as usize);
                            for i in 0..g.in_c {
                                for o in 0..g.out_c {
                                    f(
                                        ((n * g.in_h + ih) * g.in_w + iw) * g.in_c + i,
                                        ((kh * g.kernel_w + kw) * g.in_c + i) * g.out_c + o,
                                        ((n * g.out_h + oh) * g.out_w + ow) * g.out_c + o,
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn to_f32(v: Vec<f64>) -> Vec<f32> {
        v.into_iter().map(|s| s as f32).collect()
    }

    /// `y[n, oh, ow, o] = Σ_{kh, kw, i} x[n, ih, iw, i]·w[kh, kw, i, o]`.
    pub fn forward(x: &[f32], w: &[f32], g: &Conv2dGeometry) -> Vec<f32> {
        let mut y = vec![0.0f64; g.output_len()];
        for_each_tap(g, |xi, wi, yi| y[yi] += x[xi] as f64 * w[wi] as f64);
        to_f32(y)
    }

    /// `dx[n, ih, iw, i] = Σ dy[n, oh, ow, o]·w[kh, kw, i, o]` over the taps reading `x[n, ih, iw, i]`.
    pub fn input_grad(dy: &[f32], w: &[f32], g: &Conv2dGeometry) -> Vec<f32> {
        let mut dx = vec![0.0f64; g.input_len()];
        for_each_tap(g, |xi, wi, yi| dx[xi] += dy[yi] as f64 * w[wi] as f64);
        to_f32(dx)
    }

    /// `dw[kh, kw, i, o] = Σ_{n, oh, ow} x[n, ih, iw, i]·dy[n, oh, ow, o]`.
    pub fn weight_grad(x: &[f32], dy: &[f32], g: &Conv2dGeometry) -> Vec<f32> {
        let mut dw = vec![0.0f64; g.weight_len()];
        for_each_tap(g, |xi, wi, yi| dw[wi] += x[xi] as f64 * dy[yi] as f64);
        to_f32(dw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Padding;

    /// Deterministic values in [-1, 1).
    fn data(len: usize, seed: u64) -> Vec<f32> {
        crate::rng::Rng::new(seed).vec(len, -1.0, 1.0)
    }

    /// Awkward geometries: the network's kernel shapes, strides and paddings, batch 1,
    /// prime sizes, 1×1 inputs, one input or output channel, and explicit paddings that are
    /// not TF's (symmetric, wider than the kernel, output smaller than the input allows).
    fn geometries() -> Vec<Conv2dGeometry> {
        let mut v = vec![
            Conv2dGeometry::with_padding(2, (7, 5), 3, 4, (3, 3), (1, 1), Padding::Same),
            Conv2dGeometry::with_padding(1, (7, 5), 3, 1, (3, 3), (2, 2), Padding::Same),
            Conv2dGeometry::with_padding(3, (7, 5), 2, 5, (3, 3), (2, 2), Padding::Valid),
            Conv2dGeometry::with_padding(2, (9, 8), 4, 3, (1, 7), (1, 1), Padding::Same),
            Conv2dGeometry::with_padding(2, (9, 8), 4, 3, (7, 1), (1, 1), Padding::Same),
            Conv2dGeometry::with_padding(2, (5, 3), 5, 3, (1, 3), (1, 1), Padding::Same),
            Conv2dGeometry::with_padding(2, (3, 3), 5, 3, (3, 1), (1, 1), Padding::Same),
            Conv2dGeometry::with_padding(3, (6, 7), 6, 5, (1, 1), (1, 1), Padding::Same),
            Conv2dGeometry::with_padding(2, (6, 7), 6, 5, (1, 1), (2, 2), Padding::Same),
            Conv2dGeometry::with_padding(2, (1, 1), 3, 2, (3, 3), (1, 1), Padding::Same),
            Conv2dGeometry::with_padding(2, (1, 1), 3, 2, (1, 1), (1, 1), Padding::Valid),
            Conv2dGeometry::with_padding(1, (1, 1), 4, 3, (3, 3), (2, 2), Padding::Same),
            Conv2dGeometry::with_padding(2, (8, 8), 3, 2, (3, 3), (2, 2), Padding::Same),
            Conv2dGeometry::with_padding(2, (11, 13), 1, 1, (5, 2), (3, 2), Padding::Same),
            Conv2dGeometry::with_padding(2, (11, 13), 2, 3, (5, 2), (3, 2), Padding::Valid),
            Conv2dGeometry::with_padding(2, (10, 10), 4, 6, (3, 3), (2, 2), Padding::Valid),
            Conv2dGeometry::with_padding(4, (17, 17), 8, 8, (3, 3), (1, 1), Padding::Same),
        ];
        let explicit = |pad: usize, k: usize, s: usize, in_hw: usize, out: usize| Conv2dGeometry {
            batch: 2,
            in_h: in_hw,
            in_w: in_hw + 1,
            in_c: 3,
            out_c: 2,
            kernel_h: k,
            kernel_w: k,
            stride_h: s,
            stride_w: s,
            pad_top: pad,
            pad_left: pad,
            out_h: out,
            out_w: out + 1,
        };
        v.push(explicit(1, 1, 1, 5, 7));
        v.push(explicit(3, 2, 2, 5, 5));
        v.push(explicit(1, 3, 1, 6, 4));
        v.push(explicit(0, 1, 1, 6, 4));
        v
    }

    /// The fast paths sum in f32 in a blocked order, the reference in f64: with data in
    /// [-1, 1) the rounding error of a sum of `terms` products grows about like √terms·ε
    /// relative to its scale, far below this bound, while an indexing bug is off by O(1).
    fn assert_close(got: &[f32], want: &[f32], terms: usize, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        let atol = 1e-5 * (terms.max(1) as f32).sqrt();
        for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
            assert!((a - b).abs() <= atol + 1e-4 * b.abs(), "{what}: element {i}: {a} vs {b}");
        }
    }

    /// Chunk sizes: one row (or image) per chunk, an awkward middle size, and the default.
    /// One row (or image) per chunk, an odd chunk size, and the default.
    fn chunk_sizes(g: &Conv2dGeometry) -> [Chunking; 3] {
        let small = |floats| Chunking { floats, min_rows: 1 };
        [small(1), small(3 * patch_len(g) + 1), Chunking::DEFAULT]
    }

    fn check(g: &Conv2dGeometry, seed: u64) {
        let x = data(g.input_len(), seed);
        let w = data(g.weight_len(), seed + 1);
        let dy = data(g.output_len(), seed + 2);
        let (y_ref, dx_ref, dw_ref) =
            (reference::forward(&x, &w, g), reference::input_grad(&dy, &w, g), reference::weight_grad(&x, &dy, g));
        let fan_out = g.kernel_h * g.kernel_w * g.out_c;
        for chunk in chunk_sizes(g) {
            let what = |pass: &str| format!("{pass} {g:?} chunk {chunk:?}");
            assert_close(&forward_chunked(&x, &w, g, chunk), &y_ref, patch_len(g), &what("forward"));
            assert_close(&input_grad_chunked(&dy, &w, g, chunk), &dx_ref, fan_out, &what("input_grad"));
            assert_close(&weight_grad_chunked(&x, &dy, g, chunk), &dw_ref, rows(g), &what("weight_grad"));
        }
    }

    #[test]
    fn fast_matches_reference() {
        for (i, g) in geometries().iter().enumerate() {
            check(g, 10 * i as u64);
        }
    }

    #[test]
    fn fast_matches_reference_on_odd_thread_counts() {
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                for (i, g) in geometries().iter().enumerate().step_by(3) {
                    check(g, 1000 + 10 * i as u64);
                }
            });
        }
    }

    #[test]
    fn public_entry_points_match_reference() {
        // A network-like layer big enough to take the multi-chunk path at the default size.
        let g = Conv2dGeometry::with_padding(4, (19, 19), 16, 24, (3, 3), (1, 1), Padding::Same);
        let (x, w, dy) = (data(g.input_len(), 1), data(g.weight_len(), 2), data(g.output_len(), 3));
        assert_close(&forward(&x, &w, &g), &reference::forward(&x, &w, &g), patch_len(&g), "forward");
        let fan_out = g.kernel_h * g.kernel_w * g.out_c;
        assert_close(&input_grad(&dy, &w, &g), &reference::input_grad(&dy, &w, &g), fan_out, "input_grad");
        assert_close(&weight_grad(&x, &dy, &g), &reference::weight_grad(&x, &dy, &g), rows(&g), "weight_grad");
    }

    #[test]
    fn empty_dimensions_give_zeros() {
        let g = Conv2dGeometry::with_padding(0, (5, 5), 3, 4, (3, 3), (1, 1), Padding::Same);
        assert!(forward(&[], &data(g.weight_len(), 1), &g).is_empty());
        assert_eq!(weight_grad(&[], &[], &g), vec![0.0; g.weight_len()]);
        let g = Conv2dGeometry::with_padding(2, (2, 2), 3, 4, (3, 3), (1, 1), Padding::Valid);
        assert_eq!(g.out_h, 0);
        assert_eq!(input_grad(&[], &data(g.weight_len(), 1), &g), vec![0.0; g.input_len()]);
        assert_eq!(weight_grad(&data(g.input_len(), 2), &[], &g), vec![0.0; g.weight_len()]);
    }

    #[test]
    fn reference_small_example() {
        // 3×3 input 1..9, 2×2 kernel of ones, VALID: each output sums one 2×2 window.
        let g = Conv2dGeometry::with_padding(1, (3, 3), 1, 1, (2, 2), (1, 1), Padding::Valid);
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        assert_eq!(reference::forward(&x, &[1.0; 4], &g), [12.0, 16.0, 24.0, 28.0]);
        // Each input pixel receives one dy per window covering it.
        assert_eq!(reference::input_grad(&[1.0; 4], &[1.0; 4], &g), [1., 2., 1., 2., 4., 2., 1., 2., 1.]);
        assert_eq!(reference::weight_grad(&x, &[1.0; 4], &g), [12.0, 16.0, 24.0, 28.0]);
    }

    /// `⟨conv(x, w), dy⟩ = ⟨x, input_grad(dy, w)⟩ = ⟨w, weight_grad(x, dy)⟩`: the reference
    /// backward passes are the true adjoints of the reference forward pass.
    #[test]
    fn reference_backward_is_adjoint() {
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(&a, &b)| a as f64 * b as f64).sum::<f64>();
        for (i, g) in geometries().iter().enumerate() {
            let x = data(g.input_len(), 7 * i as u64);
            let w = data(g.weight_len(), 7 * i as u64 + 1);
            let dy = data(g.output_len(), 7 * i as u64 + 2);
            let via_y = dot(&reference::forward(&x, &w, g), &dy);
            let via_x = dot(&x, &reference::input_grad(&dy, &w, g));
            let via_w = dot(&w, &reference::weight_grad(&x, &dy, g));
            // The three sums differ only by the f32 rounding of each stored output element.
            let tol = 1e-5 * (1.0 + via_y.abs()) * (g.output_len().max(1) as f64).sqrt();
            assert!((via_y - via_x).abs() <= tol, "{g:?}: {via_y} vs {via_x}");
            assert!((via_y - via_w).abs() <= tol, "{g:?}: {via_y} vs {via_w}");
        }
    }
}
