//! Element-wise and per-column ops on `f32` slices, plus the row-block helpers the other
//! CPU kernels share.
//!
//! - `binary(op, a, b)[i] = a[i] ∘ b[i]` for `∘ ∈ {+, −, ×, ÷}` (equal lengths);
//! - `affine(x, mul, add)[i] = x[i]·mul + add`, `add_scaled(a, b, α)[i] = a[i] + α·b[i]`;
//! - `relu(x)[i] = max(x[i], 0)`, `relu_backward(dy, y)[i] = dy[i]` if `y[i] > 0` else 0;
//! - on a row-major `[rows, cols]` matrix: `add_bias(x, b)[r, c] = x[r, c] + b[c]`,
//!   `sum_rows(x)[c] = Σ_r x[r, c]` (→ `[cols]`), `broadcast_rows(v)[r, c] = v[c]`.
//!
//! Inputs of at least [`PAR_MIN`] elements are split into blocks of about [`CHUNK`]
//! elements and processed with rayon. Column reductions ([`column_sums`]) accumulate in
//! `f64` over fixed-size row blocks and add the block partials in block order, so their
//! result does not depend on the number of threads and is identical run to run.

use super::buffer;
use super::{f32s, wrap, CpuBackend};
use crate::backend::{Activation, BinaryOp, ElementwiseOps, ResidualTail, ResidualTailGradients, Rows, Storage};
use crate::error::Result;
use rayon::prelude::*;
use std::ops::Range;

/// Elements per parallel work item.
pub(crate) const CHUNK: usize = 1 << 14;
/// Inputs smaller than this run sequentially: splitting them costs more than it saves.
pub(crate) const PAR_MIN: usize = 2 * CHUNK;

fn map1(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = buffer::uninit(x.len());
    let apply = |(o, x): (&mut [f32], &[f32])| o.iter_mut().zip(x).for_each(|(o, &v)| *o = f(v));
    if x.len() < PAR_MIN {
        apply((&mut out, x));
    } else {
        out.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(apply);
    }
    out
}

fn map2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "element-wise operands differ in length");
    let mut out = buffer::uninit(a.len());
    let apply = |((o, a), b): ((&mut [f32], &[f32]), &[f32])| {
        o.iter_mut().zip(a).zip(b).for_each(|((o, &a), &b)| *o = f(a, b));
    };
    if a.len() < PAR_MIN {
        apply(((&mut out, a), b));
    } else {
        out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).zip(b.par_chunks(CHUNK)).for_each(apply);
    }
    out
}

/// Rows per block when a `[_, cols]` matrix is cut into blocks of about [`CHUNK`] elements.
pub(crate) fn block_rows(cols: usize) -> usize {
    (CHUNK / cols.max(1)).max(1)
}

/// Fills `out`, a row-major matrix with `cols` columns, block by block: `fill(first_row,
/// block)` receives whole rows starting at row `first_row`. Blocks run in parallel when
/// the `work` (elements touched in all) reaches [`PAR_MIN`].
pub(crate) fn for_row_blocks(out: &mut [f32], cols: usize, work: usize, fill: impl Fn(usize, &mut [f32]) + Sync) {
    if out.is_empty() {
        return;
    }
    let rows_per_block = block_rows(cols);
    let block_len = rows_per_block * cols;
    if work < PAR_MIN {
        fill(0, out);
    } else {
        out.par_chunks_mut(block_len).enumerate().for_each(|(b, block)| fill(b * rows_per_block, block));
    }
}

/// Per-column `f64` sums over `shape.rows` rows: `accumulate(rows, acc)` adds the
/// contribution of the row range `rows` into `acc[cols]`. Rows are cut into fixed blocks
/// of [`block_rows`] rows, each summed sequentially, and the partials are added in block
/// order, so the result is the same whether the blocks ran in parallel or not.
pub(crate) fn column_sums(shape: Rows, accumulate: impl Fn(Range<usize>, &mut [f64]) + Sync) -> Vec<f64> {
    let Rows { rows, cols } = shape;
    if cols == 0 {
        return Vec::new();
    }
    let rows_per_block = block_rows(cols);
    let blocks = rows.div_ceil(rows_per_block);
    let partial = |b: usize| {
        let mut acc = vec![0.0f64; cols];
        accumulate(b * rows_per_block..((b + 1) * rows_per_block).min(rows), &mut acc);
        acc
    };
    let partials: Vec<Vec<f64>> = if rows * cols < PAR_MIN {
        (0..blocks).map(partial).collect()
    } else {
        (0..blocks).into_par_iter().map(partial).collect()
    };
    let mut total = vec![0.0f64; cols];
    for p in partials {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

pub fn binary(op: BinaryOp, a: &[f32], b: &[f32]) -> Vec<f32> {
    match op {
        BinaryOp::Add => map2(a, b, |a, b| a + b),
        BinaryOp::Sub => map2(a, b, |a, b| a - b),
        BinaryOp::Mul => map2(a, b, |a, b| a * b),
        BinaryOp::Div => map2(a, b, |a, b| a / b),
    }
}

pub fn affine(x: &[f32], mul: f32, add: f32) -> Vec<f32> {
    map1(x, |v| v * mul + add)
}

pub fn exp(x: &[f32]) -> Vec<f32> {
    map1(x, f32::exp)
}

pub fn add_scaled(a: &[f32], b: &[f32], alpha: f32) -> Vec<f32> {
    map2(a, b, |a, b| a + alpha * b)
}

/// `xs[0] + xs[1] + …`, added left to right.
pub fn sum_all(xs: &[&[f32]]) -> Vec<f32> {
    let n = xs[0].len();
    assert!(xs.iter().all(|x| x.len() == n), "element-wise operands differ in length");
    let mut out = buffer::uninit(n);
    let add = |start: usize, o: &mut [f32]| {
        o.copy_from_slice(&xs[0][start..start + o.len()]);
        for x in &xs[1..] {
            o.iter_mut().zip(&x[start..]).for_each(|(o, &v)| *o += v);
        }
    };
    if n < PAR_MIN {
        add(0, &mut out);
    } else {
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, o)| add(c * CHUNK, o));
    }
    out
}

/// `a ← wa·a + wb·b`, in place.
pub fn weighted_sum_into(a: &mut [f32], wa: f32, b: &[f32], wb: f32) {
    assert_eq!(a.len(), b.len(), "element-wise operands differ in length");
    let apply = |(a, b): (&mut [f32], &[f32])| a.iter_mut().zip(b).for_each(|(a, &b)| *a = wa * *a + wb * b);
    if a.len() < PAR_MIN {
        apply((a, b));
    } else {
        a.par_chunks_mut(CHUNK).zip(b.par_chunks(CHUNK)).for_each(apply);
    }
}

/// `Σ x²` in f64, over fixed blocks added in order (reproducible).
pub fn sum_squares(x: &[f32]) -> f64 {
    /// Independent accumulators: one running sum would be a chain of dependent adds that
    /// cannot vectorise; eight of them fill an AVX-512 register of f64.
    const LANES: usize = 8;
    column_sums(Rows { rows: x.len(), cols: 1 }, |r, acc| {
        let block = &x[r];
        let mut lanes = [0f64; LANES];
        let mut chunks = block.chunks_exact(LANES);
        for c in &mut chunks {
            for (l, &v) in lanes.iter_mut().zip(c) {
                *l += f64::from(v) * f64::from(v);
            }
        }
        let tail: f64 = chunks.remainder().iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        acc[0] += lanes.iter().sum::<f64>() + tail;
    })
    .first()
    .copied()
    .unwrap_or(0.0)
}

pub fn relu(x: &[f32]) -> Vec<f32> {
    map1(x, |v| if v > 0.0 { v } else { 0.0 })
}

pub fn relu_backward(dy: &[f32], y: &[f32]) -> Vec<f32> {
    map2(dy, y, |dy, y| if y > 0.0 { dy } else { 0.0 })
}

/// `act(x + scale·(up + bias[c]))`, as add_bias, add_scaled and relu round it.
pub fn residual_tail(x: &[f32], up: &[f32], bias: &[f32], t: ResidualTail) -> Vec<f32> {
    let cols = t.shape.cols;
    assert!(
        x.len() == t.shape.rows * cols && up.len() == x.len() && bias.len() == cols,
        "residual tail: shapes differ"
    );
    let relu = t.act == Activation::Relu;
    let mut out = buffer::uninit(x.len());
    let work = out.len();
    for_row_blocks(&mut out, cols, work, |first, block| {
        let at = first * cols;
        let (xs, ups) = (&x[at..at + block.len()], &up[at..at + block.len()]);
        for ((row, xrow), urow) in block.chunks_exact_mut(cols).zip(xs.chunks_exact(cols)).zip(ups.chunks_exact(cols)) {
            for (((o, &x), &u), &b) in row.iter_mut().zip(xrow).zip(urow).zip(bias) {
                let v = x + t.scale * (u + b);
                *o = if !relu || v > 0.0 { v } else { 0.0 };
            }
        }
    });
    out
}

/// Runs of `dx`, `dup`, `dy` and `y`, nested as rayon's zips nest them.
type TailChunks<'a> = (((&'a mut [f32], &'a mut [f32]), &'a [f32]), &'a [f32]);

/// `(dx, dup)` of [`residual_tail`]: `dx = act'·dy`, `dup = dx·scale + 0`.
pub fn residual_tail_backward(dy: &[f32], y: &[f32], t: ResidualTail) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(dy.len(), y.len(), "element-wise operands differ in length");
    let relu = t.act == Activation::Relu;
    let (mut dx, mut dup) = (buffer::uninit(dy.len()), buffer::uninit(dy.len()));
    let apply = |(((dx, dup), dy), y): TailChunks| {
        for (((dx, dup), &g), &y) in dx.iter_mut().zip(dup.iter_mut()).zip(dy).zip(y) {
            *dx = if !relu || y > 0.0 { g } else { 0.0 };
            *dup = *dx * t.scale + 0.0;
        }
    };
    if dy.len() < PAR_MIN {
        apply((((&mut dx, &mut dup), dy), y));
    } else {
        dx.par_chunks_mut(CHUNK)
            .zip(dup.par_chunks_mut(CHUNK))
            .zip(dy.par_chunks(CHUNK))
            .zip(y.par_chunks(CHUNK))
            .for_each(apply);
    }
    (dx, dup)
}

pub fn add_bias(x: &[f32], bias: &[f32], shape: Rows) -> Vec<f32> {
    assert_eq!(x.len(), shape.rows * shape.cols);
    assert_eq!(bias.len(), shape.cols);
    let mut out = buffer::uninit(x.len());
    let work = out.len();
    for_row_blocks(&mut out, shape.cols, work, |first, block| {
        let xs = &x[first * shape.cols..first * shape.cols + block.len()];
        for (row, xrow) in block.chunks_exact_mut(shape.cols).zip(xs.chunks_exact(shape.cols)) {
            for ((o, &v), &b) in row.iter_mut().zip(xrow).zip(bias) {
                *o = v + b;
            }
        }
    });
    out
}

pub fn sum_rows(x: &[f32], shape: Rows) -> Vec<f32> {
    assert_eq!(x.len(), shape.rows * shape.cols);
    let cols = shape.cols;
    column_sums(shape, |rows, acc| {
        for row in x[rows.start * cols..rows.end * cols].chunks_exact(cols) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v as f64;
            }
        }
    })
    .into_iter()
    .map(|s| s as f32)
    .collect()
}

pub fn broadcast_rows(x: &[f32], shape: Rows) -> Vec<f32> {
    assert_eq!(x.len(), shape.cols);
    let mut out = buffer::uninit(shape.rows * shape.cols);
    let work = out.len();
    for_row_blocks(&mut out, shape.cols, work, |_, block| {
        for row in block.chunks_exact_mut(shape.cols) {
            row.copy_from_slice(x);
        }
    });
    out
}

impl ElementwiseOps for CpuBackend {
    fn binary(&self, op: BinaryOp, a: &Storage, b: &Storage) -> Result<Storage> {
        Ok(wrap(binary(op, f32s(a, "binary")?, f32s(b, "binary")?)))
    }

    fn affine(&self, x: &Storage, mul: f32, add: f32) -> Result<Storage> {
        Ok(wrap(affine(f32s(x, "affine")?, mul, add)))
    }

    fn exp(&self, x: &Storage) -> Result<Storage> {
        Ok(wrap(exp(f32s(x, "exp")?)))
    }

    fn add_scaled(&self, a: &Storage, b: &Storage, alpha: f32) -> Result<Storage> {
        Ok(wrap(add_scaled(f32s(a, "add_scaled")?, f32s(b, "add_scaled")?, alpha)))
    }

    fn sum_all(&self, xs: &[&Storage]) -> Result<Storage> {
        if xs.is_empty() {
            return Err(crate::error::Error::invalid("sum_all", "no tensors to add"));
        }
        let xs = xs.iter().map(|x| f32s(x, "sum_all")).collect::<Result<Vec<_>>>()?;
        Ok(wrap(sum_all(&xs)))
    }

    fn relu(&self, x: &Storage) -> Result<Storage> {
        Ok(wrap(relu(f32s(x, "relu")?)))
    }

    fn relu_backward(&self, dy: &Storage, y: &Storage) -> Result<Storage> {
        Ok(wrap(relu_backward(f32s(dy, "relu_backward")?, f32s(y, "relu_backward")?)))
    }

    fn add_bias(&self, x: &Storage, bias: &Storage, shape: Rows) -> Result<Storage> {
        Ok(wrap(add_bias(f32s(x, "add_bias")?, f32s(bias, "add_bias")?, shape)))
    }

    fn sum_rows(&self, x: &Storage, shape: Rows) -> Result<Storage> {
        Ok(wrap(sum_rows(f32s(x, "sum_rows")?, shape)))
    }

    fn residual_tail(&self, x: &Storage, up: &Storage, bias: &Storage, tail: ResidualTail) -> Result<Storage> {
        let op = "residual_tail";
        Ok(wrap(residual_tail(f32s(x, op)?, f32s(up, op)?, f32s(bias, op)?, tail)))
    }

    fn residual_tail_backward(&self, dy: &Storage, y: &Storage, tail: ResidualTail) -> Result<ResidualTailGradients> {
        let op = "residual_tail_backward";
        let (dx, dup) = residual_tail_backward(f32s(dy, op)?, f32s(y, op)?, tail);
        let dbias = sum_rows(&dup, tail.shape);
        Ok(ResidualTailGradients { dx: wrap(dx), dup: wrap(dup), dbias: wrap(dbias) })
    }

    fn broadcast_rows(&self, x: &Storage, shape: Rows) -> Result<Storage> {
        Ok(wrap(broadcast_rows(f32s(x, "broadcast_rows")?, shape)))
    }
}

/// Naive column sums, the check for [`sum_rows`]'s blocked parallel reduction.
pub mod reference {
    use crate::backend::Rows;

    pub fn sum_rows(x: &[f32], shape: Rows) -> Vec<f32> {
        (0..shape.cols).map(|c| (0..shape.rows).map(|r| x[r * shape.cols + c] as f64).sum::<f64>() as f32).collect()
    }
}

/// Helpers shared by the CPU kernels' tests: a deterministic PRNG and a finite-difference
/// gradient check.
#[cfg(test)]
pub(crate) mod test_support {
    /// The engine's seeded generator, with the names the kernel tests use.
    pub struct Rng(crate::rng::Rng);

    impl Rng {
        pub fn new(seed: u64) -> Self {
            Rng(crate::rng::Rng::new(seed))
        }

        /// Uniform in `[lo, hi)`.
        pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
            self.0.uniform_in(lo, hi)
        }

        pub fn vec(&mut self, len: usize, lo: f32, hi: f32) -> Vec<f32> {
            self.0.vec(len, lo, hi)
        }

        /// Uniform in `0..n`.
        pub fn below(&mut self, n: usize) -> usize {
            self.0.below(n)
        }

        /// A random permutation of `0..n` (Fisher–Yates).
        pub fn permutation(&mut self, n: usize) -> Vec<usize> {
            let mut p: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                p.swap(i, self.below(i + 1));
            }
            p
        }
    }

    /// Element-wise `|a − b| ≤ tol·(1 + |b|)` against an f64 reference.
    pub fn assert_close_f64(a: &[f32], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
            assert!((x as f64 - y).abs() <= tol * (1.0 + y.abs()), "[{i}]: {x} vs {y}");
        }
    }

    /// `⟨y, w⟩` accumulated in `f64`: the random projection that turns a vector-valued
    /// function into the scalar loss whose gradient a backward pass computes from `dy = w`.
    pub fn project(y: &[f32], w: &[f32]) -> f64 {
        assert_eq!(y.len(), w.len());
        y.iter().zip(w).map(|(&y, &w)| y as f64 * w as f64).sum()
    }

    /// Checks `grad` against central differences of `loss` at `x`, coordinate by
    /// coordinate, with step `h`. The step is divided by the perturbation actually
    /// representable in `f32`. Passes when `|fd − grad| ≤ tol·(1 + max(|fd|, |grad|))`.
    pub fn assert_gradient(loss: impl Fn(&[f32]) -> f64, x: &[f32], grad: &[f32], h: f32, tol: f64) {
        assert_eq!(x.len(), grad.len());
        let mut xp = x.to_vec();
        for i in 0..x.len() {
            xp[i] = x[i] + h;
            let up = loss(&xp);
            let step_up = xp[i] as f64;
            xp[i] = x[i] - h;
            let down = loss(&xp);
            let step_down = xp[i] as f64;
            xp[i] = x[i];
            let fd = (up - down) / (step_up - step_down);
            let g = grad[i] as f64;
            let err = (fd - g).abs();
            assert!(
                err <= tol * (1.0 + fd.abs().max(g.abs())),
                "coordinate {i}: finite difference {fd} vs analytic {g} (error {err})"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{assert_gradient, project, Rng};
    use super::*;

    #[test]
    fn binary_ops_by_hand() {
        let a = [1.0, -2.0, 3.0, 0.5];
        let b = [2.0, 4.0, -1.5, 0.25];
        assert_eq!(binary(BinaryOp::Add, &a, &b), vec![3.0, 2.0, 1.5, 0.75]);
        assert_eq!(binary(BinaryOp::Sub, &a, &b), vec![-1.0, -6.0, 4.5, 0.25]);
        assert_eq!(binary(BinaryOp::Mul, &a, &b), vec![2.0, -8.0, -4.5, 0.125]);
        assert_eq!(binary(BinaryOp::Div, &a, &b), vec![0.5, -0.5, -2.0, 2.0]);
        assert!(binary(BinaryOp::Add, &[], &[]).is_empty());
    }

    #[test]
    fn sum_squares_matches_a_plain_loop() {
        for n in [0, 1, 7, 3 * PAR_MIN + 5] {
            let x: Vec<f32> = (0..n).map(|i| (i % 17) as f32 * 0.25 - 2.0).collect();
            let plain: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            assert!((sum_squares(&x) - plain).abs() <= 1e-12 * (1.0 + plain), "n = {n}");
        }
    }

    #[test]
    fn affine_add_scaled_relu_by_hand() {
        assert_eq!(affine(&[1.0, -2.0, 0.0], 3.0, 0.5), vec![3.5, -5.5, 0.5]);
        assert_eq!(add_scaled(&[1.0, 2.0], &[4.0, -8.0], 0.25), vec![2.0, 0.0]);
        assert_eq!(relu(&[-1.0, 0.0, 2.5, -0.0]), vec![0.0, 0.0, 2.5, 0.0]);
        assert_eq!(relu_backward(&[5.0, 6.0, 7.0, 8.0], &[0.0, 1.0, -1.0, 3.0]), vec![0.0, 6.0, 0.0, 8.0]);
    }

    #[test]
    fn large_inputs_match_sequential_definition() {
        let mut rng = Rng::new(1);
        let n = 3 * PAR_MIN + 17;
        let a = rng.vec(n, -2.0, 2.0);
        let b = rng.vec(n, 0.5, 2.0);
        let check = |got: Vec<f32>, f: &dyn Fn(f32, f32) -> f32| {
            assert_eq!(got.len(), n);
            for i in 0..n {
                assert_eq!(got[i], f(a[i], b[i]), "element {i}");
            }
        };
        check(binary(BinaryOp::Add, &a, &b), &|a, b| a + b);
        check(binary(BinaryOp::Sub, &a, &b), &|a, b| a - b);
        check(binary(BinaryOp::Mul, &a, &b), &|a, b| a * b);
        check(binary(BinaryOp::Div, &a, &b), &|a, b| a / b);
        check(affine(&a, -1.5, 0.25), &|a, _| a * -1.5 + 0.25);
        check(add_scaled(&a, &b, 0.3), &|a, b| a + 0.3 * b);
        check(relu(&a), &|a, _| a.max(0.0));
        check(relu_backward(&b, &a), &|a, b| if a > 0.0 { b } else { 0.0 });
    }

    #[test]
    fn row_ops_by_hand() {
        let shape = Rows { rows: 2, cols: 3 };
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(add_bias(&x, &[10.0, 20.0, 30.0], shape), vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
        assert_eq!(sum_rows(&x, shape), vec![5.0, 7.0, 9.0]);
        assert_eq!(broadcast_rows(&[1.0, 2.0, 3.0], shape), vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn row_ops_awkward_shapes() {
        let mut rng = Rng::new(2);
        let shapes = [(1, 1), (1, 7), (7, 1), (13, 5), (0, 3), (3, 0), (PAR_MIN + 3, 1), (1, PAR_MIN + 3), (997, 67)];
        for (rows, cols) in shapes {
            let shape = Rows { rows, cols };
            let x = rng.vec(rows * cols, -1.0, 1.0);
            let v = rng.vec(cols, -1.0, 1.0);
            let biased = add_bias(&x, &v, shape);
            let spread = broadcast_rows(&v, shape);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(biased[r * cols + c], x[r * cols + c] + v[c]);
                    assert_eq!(spread[r * cols + c], v[c]);
                }
            }
            let fast = sum_rows(&x, shape);
            let slow = reference::sum_rows(&x, shape);
            assert_eq!(fast.len(), cols);
            for (f, s) in fast.iter().zip(&slow) {
                // Both sum in f64 and round once; only the order of the f64 additions differs.
                assert!((f - s).abs() <= 1e-6 * (1.0 + s.abs()), "{rows}x{cols}: {f} vs {s}");
            }
        }
    }

    #[test]
    fn sum_rows_is_accurate_and_deterministic_on_a_batch_sized_input() {
        // 32·79·79 rows, as in the network's first batch-norm layers.
        let shape = Rows { rows: 32 * 79 * 79, cols: 3 };
        let x: Vec<f32> = (0..shape.rows * shape.cols).map(|i| 0.1 + (i % 7) as f32 * 1e-3).collect();
        let first = sum_rows(&x, shape);
        assert_eq!(first, sum_rows(&x, shape));
        let exact = reference::sum_rows(&x, shape);
        for (f, e) in first.iter().zip(&exact) {
            assert!((f - e).abs() <= 1e-6 * e.abs(), "{f} vs {e}");
        }
    }

    #[test]
    fn sum_rows_is_the_adjoint_of_broadcast_rows() {
        let mut rng = Rng::new(3);
        let shape = Rows { rows: 11, cols: 7 };
        let v = rng.vec(shape.cols, -1.0, 1.0);
        let m = rng.vec(shape.rows * shape.cols, -1.0, 1.0);
        let lhs = project(&broadcast_rows(&v, shape), &m);
        let rhs = project(&v, &sum_rows(&m, shape));
        assert!((lhs - rhs).abs() < 1e-5, "{lhs} vs {rhs}");
    }

    #[test]
    fn relu_backward_matches_finite_differences() {
        let mut rng = Rng::new(4);
        // Keep every input at least 0.1 from the kink so a step of 1e-2 never crosses it.
        let x: Vec<f32> = (0..41)
            .map(|_| {
                let v = rng.uniform(0.1, 2.0);
                if rng.below(2) == 0 {
                    v
                } else {
                    -v
                }
            })
            .collect();
        let w = rng.vec(x.len(), -1.0, 1.0);
        let grad = relu_backward(&w, &relu(&x));
        // ReLU is linear on each side of the kink, so the differences are exact up to f32
        // rounding of x ± h (handled by the check) and of the f64 sum: 1e-5 is ample.
        assert_gradient(|x| project(&relu(x), &w), &x, &grad, 1e-2, 1e-5);
    }
}
