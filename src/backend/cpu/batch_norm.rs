//! Batch normalisation with a shift `β` and no scale, over `x[rows, channels]` (NHWC
//! activations viewed as `[N·H·W, C]`), statistics per channel (column), with the
//! following activation fused in (one pass over the activations instead of two).
//!
//! - `stats(x) = (μ, σ²)`: `μ_c = (1/R)·Σ_r x[r, c]`, `σ²_c = (1/R)·Σ_r x[r, c]² − μ_c²`
//!   (biased). One pass, accumulated in `f64` (exact products of f32 values, so the
//!   subtraction loses nothing that matters) over fixed row blocks in parallel and
//!   combined in block order ([`column_sums`]), so the result is reproducible run to run.
//! - `forward`: `y[r, c] = act((x[r, c] − μ_c)·inv_c + β_c)` with `inv_c = 1/√(σ²_c + eps)`.
//! - `backward` (training mode: `μ`, `σ²` are the batch statistics of `x` itself): with
//!   `x̂ = (x − μ)·inv` and `g = dy·act'(x̂ + β)` (the activation's derivative, recomputed
//!   from `x` rather than stored), `dβ_c = Σ_r g[r, c]` and
//!   `dx = inv·(g − mean_r(g) − x̂·mean_r(g·x̂))`.
//!
//! [`reference`] holds the naive per-column loops the blocked versions are tested against.

use super::buffer;
use super::elementwise::{column_sums, for_row_blocks};
use super::{f32s, wrap, CpuBackend};
use crate::backend::{Activation, BatchNorm, BatchNormGeometry, BatchNormOps, BnSums, Rows, Storage};
use crate::error::Result;

fn inv_std(var: &[f32], eps: f32) -> Vec<f32> {
    var.iter().map(|&v| 1.0 / (v + eps).sqrt()).collect()
}

pub fn stats(x: &[f32], shape: Rows) -> (Vec<f32>, Vec<f32>) {
    let Rows { rows, cols } = shape;
    assert_eq!(x.len(), rows * cols);
    // acc[..cols] collects Σ x, acc[cols..] collects Σ x².
    let sums = column_sums(Rows { rows, cols: 2 * cols }, |r, acc| {
        let (sum, sum_sq) = acc.split_at_mut(cols);
        for row in x[r.start * cols..r.end * cols].chunks_exact(cols) {
            for ((s, q), &v) in sum.iter_mut().zip(sum_sq.iter_mut()).zip(row) {
                let v = v as f64;
                *s += v;
                *q += v * v;
            }
        }
    });
    let n = rows as f64;
    let mean: Vec<f64> = sums[..cols].iter().map(|s| s / n).collect();
    let var = sums[cols..].iter().zip(&mean).map(|(q, m)| (q / n - m * m).max(0.0) as f32).collect();
    (mean.iter().map(|&m| m as f32).collect(), var)
}

pub fn forward(bn: BatchNorm<&[f32]>) -> Vec<f32> {
    let BatchNorm { x, mean, var, beta, geometry: BatchNormGeometry { shape: Rows { rows, cols }, eps, act } } = bn;
    assert_eq!(x.len(), rows * cols);
    assert!(mean.len() == cols && var.len() == cols && beta.len() == cols);
    let inv = inv_std(var, eps);
    let mut out = buffer::uninit(x.len());
    let floor = if act == Activation::Relu { 0.0 } else { f32::NEG_INFINITY };
    for_row_blocks(&mut out, cols, x.len(), |first, block| {
        let xs = &x[first * cols..first * cols + block.len()];
        for (orow, xrow) in block.chunks_exact_mut(cols).zip(xs.chunks_exact(cols)) {
            // Zipped iterators rather than indices: no bounds checks, so the loop vectorises.
            let params = mean.iter().zip(&inv).zip(beta);
            for ((o, &x), ((&m, &iv), &b)) in orow.iter_mut().zip(xrow).zip(params) {
                *o = ((x - m) * iv + b).max(floor);
            }
        }
    });
    out
}

pub fn backward(dy: &[f32], bn: BatchNorm<&[f32]>) -> (Vec<f32>, Vec<f32>) {
    let BnSums { dbeta, means } = backward_sums(dy, bn);
    (backward_dx(dy, bn, &means), dbeta)
}

/// The backward's sums over `dy`: `dβ = Σg` and `[mean(g), mean(g·x̂)]`.
pub fn backward_sums(dy: &[f32], bn: BatchNorm<&[f32]>) -> BnSums<Vec<f32>> {
    match bn.geometry.act {
        Activation::Identity => backward_sums_with::<false>(dy, bn),
        Activation::Relu => backward_sums_with::<true>(dy, bn),
    }
}

/// dx = inv·(g − mean(g) − x̂·mean(g·x̂)) from `means` = `[mean(g), mean(g·x̂)]`.
pub fn backward_dx(dy: &[f32], bn: BatchNorm<&[f32]>, means: &[f32]) -> Vec<f32> {
    match bn.geometry.act {
        Activation::Identity => backward_dx_with::<false>(dy, bn, means),
        Activation::Relu => backward_dx_with::<true>(dy, bn, means),
    }
}

/// x̂ and dy through the activation, its derivative taken from the pre-activation x̂ + β
/// computed exactly as the forward pass computed it.
#[inline(always)]
fn xhat_and_grad<const RELU: bool>(dy: f32, x: f32, m: f32, iv: f32, b: f32) -> (f32, f32) {
    let xhat = (x - m) * iv;
    (xhat, if RELU && xhat + b <= 0.0 { 0.0 } else { dy })
}

/// The per-activation loops, compiled once per activation so they carry no branch on it.
fn backward_sums_with<const RELU: bool>(dy: &[f32], bn: BatchNorm<&[f32]>) -> BnSums<Vec<f32>> {
    let BatchNorm { x, mean, var, beta, geometry: BatchNormGeometry { shape: Rows { rows, cols }, eps, .. } } = bn;
    assert!(dy.len() == rows * cols && x.len() == rows * cols);
    assert!(mean.len() == cols && var.len() == cols && beta.len() == cols);
    let inv = inv_std(var, eps);
    // One pass for both reductions: acc[..cols] collects Σ g, acc[cols..] collects Σ g·x̂.
    let sums = column_sums(Rows { rows, cols: 2 * cols }, |r, acc| {
        let (sum_g, sum_g_xhat) = acc.split_at_mut(cols);
        let range = r.start * cols..r.end * cols;
        for (dyrow, xrow) in dy[range.clone()].chunks_exact(cols).zip(x[range].chunks_exact(cols)) {
            let params = mean.iter().zip(&inv).zip(beta);
            let accs = sum_g.iter_mut().zip(sum_g_xhat.iter_mut());
            for (((sg, sgx), (&dy, &x)), ((&m, &iv), &b)) in accs.zip(dyrow.iter().zip(xrow)).zip(params) {
                let (xhat, g) = xhat_and_grad::<RELU>(dy, x, m, iv, b);
                *sg += g as f64;
                *sgx += (g * xhat) as f64;
            }
        }
    });
    let n = rows as f64;
    let dbeta: Vec<f32> = sums[..cols].iter().map(|&s| s as f32).collect();
    let means: Vec<f32> = sums.iter().map(|&s| (s / n) as f32).collect();
    BnSums { dbeta, means }
}

fn backward_dx_with<const RELU: bool>(dy: &[f32], bn: BatchNorm<&[f32]>, means: &[f32]) -> Vec<f32> {
    let BatchNorm { x, mean, var, beta, geometry: BatchNormGeometry { shape: Rows { cols, .. }, eps, .. } } = bn;
    assert!(means.len() == 2 * cols && dy.len() == x.len());
    let inv = inv_std(var, eps);
    let (mean_g, mean_g_xhat) = means.split_at(cols);
    let mut dx = buffer::uninit(x.len());
    for_row_blocks(&mut dx, cols, x.len(), |first, block| {
        let range = first * cols..first * cols + block.len();
        let rows_in = block.chunks_exact_mut(cols).zip(dy[range.clone()].chunks_exact(cols));
        for ((dxrow, dyrow), xrow) in rows_in.zip(x[range].chunks_exact(cols)) {
            let params = mean.iter().zip(&inv).zip(beta).zip(mean_g.iter().zip(mean_g_xhat));
            for ((d, (&dy, &x)), (((&m, &iv), &b), (&mg, &mgx))) in
                dxrow.iter_mut().zip(dyrow.iter().zip(xrow)).zip(params)
            {
                let (xhat, g) = xhat_and_grad::<RELU>(dy, x, m, iv, b);
                *d = iv * (g - mg - xhat * mgx);
            }
        }
    });
    dx
}

impl BatchNormOps for CpuBackend {
    fn batch_norm_stats(&self, x: &Storage, shape: Rows) -> Result<(Storage, Storage)> {
        let (mean, var) = stats(f32s(x, "batch_norm_stats")?, shape);
        Ok((wrap(mean), wrap(var)))
    }

    fn batch_norm(&self, bn: BatchNorm<&Storage>) -> Result<Storage> {
        Ok(wrap(forward(values(bn, "batch_norm")?)))
    }

    fn batch_norm_backward_sums(&self, parts: &[(&Storage, BatchNorm<&Storage>)]) -> Result<Vec<BnSums<Storage>>> {
        let op = "batch_norm_backward_sums";
        let sums = |&(dy, bn): &(&Storage, BatchNorm<&Storage>)| {
            let BnSums { dbeta, means } = backward_sums(f32s(dy, op)?, values(bn, op)?);
            Ok(BnSums { dbeta: wrap(dbeta), means: wrap(means) })
        };
        parts.iter().map(sums).collect()
    }

    fn batch_norm_backward(&self, dy: &Storage, bn: BatchNorm<&Storage>) -> Result<(Storage, Storage)> {
        let op = "batch_norm_backward";
        let (dx, dbeta) = backward(f32s(dy, op)?, values(bn, op)?);
        Ok((wrap(dx), wrap(dbeta)))
    }
}

/// The operands as f32 values of this backend.
pub(super) fn values<'a>(bn: BatchNorm<&'a Storage>, op: &'static str) -> Result<BatchNorm<&'a [f32]>> {
    let BatchNorm { x, mean, var, beta, geometry } = bn;
    Ok(BatchNorm { x: f32s(x, op)?, mean: f32s(mean, op)?, var: f32s(var, op)?, beta: f32s(beta, op)?, geometry })
}

/// Naive per-column loops, the check for the blocked parallel versions.
pub mod reference {
    use crate::backend::{Activation, BatchNorm, BatchNormGeometry, Rows};

    fn column(x: &[f32], shape: Rows, c: usize) -> impl Iterator<Item = f64> + '_ {
        (0..shape.rows).map(move |r| x[r * shape.cols + c] as f64)
    }

    pub fn stats(x: &[f32], shape: Rows) -> (Vec<f32>, Vec<f32>) {
        let n = shape.rows as f64;
        (0..shape.cols)
            .map(|c| {
                let mean = column(x, shape, c).sum::<f64>() / n;
                let var = column(x, shape, c).map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
                (mean as f32, var as f32)
            })
            .unzip()
    }

    fn normalize(x: f32, mean: f32, var: f32, beta: f32, eps: f32) -> f64 {
        (x as f64 - mean as f64) / (var as f64 + eps as f64).sqrt() + beta as f64
    }

    pub fn forward(bn: BatchNorm<&[f32]>) -> Vec<f32> {
        let BatchNorm { x, mean, var, beta, geometry: BatchNormGeometry { shape, eps, act } } = bn;
        (0..shape.rows * shape.cols)
            .map(|i| {
                let c = i % shape.cols;
                let y = normalize(x[i], mean[c], var[c], beta[c], eps);
                (if act == Activation::Relu { y.max(0.0) } else { y }) as f32
            })
            .collect()
    }

    pub fn backward(dy: &[f32], bn: BatchNorm<&[f32]>) -> (Vec<f32>, Vec<f32>) {
        let BatchNorm { x, mean, var, beta, geometry: BatchNormGeometry { shape: Rows { rows, cols }, eps, act } } = bn;
        let n = rows as f64;
        let mut dx = vec![0.0; rows * cols];
        let mut dbeta = vec![0.0; cols];
        for c in 0..cols {
            let inv = 1.0 / (var[c] as f64 + eps as f64).sqrt();
            let xhat = |r: usize| (x[r * cols + c] as f64 - mean[c] as f64) * inv;
            let g = |r: usize| {
                let open =
                    act == Activation::Identity || normalize(x[r * cols + c], mean[c], var[c], beta[c], eps) > 0.0;
                if open {
                    dy[r * cols + c] as f64
                } else {
                    0.0
                }
            };
            let sum_g: f64 = (0..rows).map(g).sum();
            let sum_g_xhat: f64 = (0..rows).map(|r| g(r) * xhat(r)).sum();
            dbeta[c] = sum_g as f32;
            for r in 0..rows {
                dx[r * cols + c] = (inv * (g(r) - sum_g / n - xhat(r) * sum_g_xhat / n)) as f32;
            }
        }
        (dx, dbeta)
    }
}

#[cfg(test)]
mod tests {
    use super::super::elementwise::test_support::{assert_gradient, project, Rng};
    use super::super::elementwise::PAR_MIN;
    use super::*;

    /// The batch norm of `x` with `[mean, var, beta]`.
    fn bn<'a>(
        x: &'a [f32],
        [mean, var, beta]: [&'a [f32]; 3],
        shape: Rows,
        eps: f32,
        act: Activation,
    ) -> BatchNorm<&'a [f32]> {
        BatchNorm { x, mean, var, beta, geometry: BatchNormGeometry { shape, eps, act } }
    }

    fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
        }
    }

    #[test]
    fn by_hand() {
        // Channel 0: 1, 3, 5 → mean 3, var 8/3. Channel 1: 2, 2, 2 → mean 2, var 0.
        let shape = Rows { rows: 3, cols: 2 };
        let x = [1.0, 2.0, 3.0, 2.0, 5.0, 2.0];
        let (mean, var) = stats(&x, shape);
        assert_close(&mean, &[3.0, 2.0], 1e-7, "mean");
        assert_close(&var, &[8.0 / 3.0, 0.0], 1e-7, "var");
        // eps = 1/3: channel 0 divides by √3, channel 1 by √(1/3) but its x − μ is 0.
        let y = forward(bn(&x, [&mean, &var, &[0.5, -1.0]], shape, 1.0 / 3.0, Activation::Identity));
        let s = 3f32.sqrt();
        assert_close(&y, &[0.5 - 2.0 / s, -1.0, 0.5, -1.0, 0.5 + 2.0 / s, -1.0], 1e-6, "y");
        // A constant dy has no effect on dx (it only shifts the normalised output) and
        // sums into dβ.
        let (dx, dbeta) = backward(&[1.0; 6], bn(&x, [&mean, &var, &[0.5, -1.0]], shape, 1e-3, Activation::Identity));
        assert_close(&dx, &[0.0; 6], 1e-6, "dx");
        assert_close(&dbeta, &[3.0, 3.0], 1e-7, "dbeta");
        // With the ReLU fused in, channel 1 (constant −1) is cut off entirely and channel
        // 0 keeps only its rows with x̂ + β > 0 (the last two).
        let y = forward(bn(&x, [&mean, &var, &[0.5, -1.0]], shape, 1.0 / 3.0, Activation::Relu));
        assert_close(&y, &[0.0, 0.0, 0.5, 0.0, 0.5 + 2.0 / s, 0.0], 1e-6, "relu y");
        let (_, dbeta) = backward(&[1.0; 6], bn(&x, [&mean, &var, &[0.5, -1.0]], shape, 1.0 / 3.0, Activation::Relu));
        assert_close(&dbeta, &[2.0, 0.0], 1e-7, "relu dbeta");
    }

    #[test]
    fn matches_reference_on_awkward_and_large_shapes() {
        let mut rng = Rng::new(10);
        let shapes = [(1, 1), (1, 5), (2, 1), (7, 3), (31, 17), (PAR_MIN + 5, 1), (4099, 16), (3 * 79 * 79, 13)];
        for (rows, cols) in shapes {
            let shape = Rows { rows, cols };
            // An offset mean, as activations have: two-pass f64 keeps the variance exact.
            let x = rng.vec(rows * cols, 2.0, 4.0);
            let dy = rng.vec(rows * cols, -1.0, 1.0);
            let beta = rng.vec(cols, -1.0, 1.0);
            let (mean, var) = stats(&x, shape);
            let (rmean, rvar) = reference::stats(&x, shape);
            assert_close(&mean, &rmean, 1e-6, "mean");
            assert_close(&var, &rvar, 1e-5, "var");
            let eps = 1e-3;
            for act in [Activation::Identity, Activation::Relu] {
                assert_close(
                    &forward(bn(&x, [&mean, &var, &beta], shape, eps, act)),
                    &reference::forward(bn(&x, [&mean, &var, &beta], shape, eps, act)),
                    1e-5,
                    "forward",
                );
                let (dx, dbeta) = backward(&dy, bn(&x, [&mean, &var, &beta], shape, eps, act));
                let (rdx, rdbeta) = reference::backward(&dy, bn(&x, [&mean, &var, &beta], shape, eps, act));
                // dx subtracts two means from dy: cancellation leaves an f32 error of a few
                // ulps of max|dy|·inv ≈ 2, so compare against an absolute scale.
                let scale = rdx.iter().fold(0f32, |m, v| m.max(v.abs()));
                for (i, (a, b)) in dx.iter().zip(&rdx).enumerate() {
                    assert!((a - b).abs() <= 1e-5 * (1.0 + scale), "{rows}x{cols} {act:?} dx[{i}]: {a} vs {b}");
                }
                // Σ over up to 2e5 rows: f64 sums of f32 terms agree to ~1e-6 relative.
                let dscale = rdbeta.iter().fold(0f32, |m, v| m.max(v.abs()));
                for (i, (a, b)) in dbeta.iter().zip(&rdbeta).enumerate() {
                    assert!((a - b).abs() <= 1e-6 * (1.0 + dscale), "{rows}x{cols} {act:?} dbeta[{i}]: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn stats_are_reproducible() {
        let mut rng = Rng::new(11);
        let shape = Rows { rows: 32 * 79 * 79, cols: 4 };
        let x = rng.vec(shape.rows * shape.cols, -3.0, 3.0);
        let first = stats(&x, shape);
        for _ in 0..3 {
            assert_eq!(stats(&x, shape), first);
        }
        let dy = rng.vec(x.len(), -1.0, 1.0);
        let beta = [0.1, -0.2, 0.3, 0.0];
        let grads = backward(&dy, bn(&x, [&first.0, &first.1, &beta], shape, 1e-3, Activation::Relu));
        assert_eq!(backward(&dy, bn(&x, [&first.0, &first.1, &beta], shape, 1e-3, Activation::Relu)), grads);
    }

    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = Rng::new(12);
        for (rows, cols) in [(2, 1), (5, 3), (13, 2)] {
            let shape = Rows { rows, cols };
            let eps = 1e-3;
            let x = rng.vec(rows * cols, -1.0, 1.0);
            let beta = rng.vec(cols, -0.5, 0.5);
            let w = rng.vec(rows * cols, -1.0, 1.0);
            // For the ReLU, rows alternate in sign with magnitudes in [0.5, 1]: every
            // |x − μ| ≥ 0.25 and |β| ≤ 0.1, so no pre-activation comes within a step of
            // the kink and the finite differences never cross it.
            let signed: Vec<f32> = (0..rows * cols)
                .map(|i| if (i / cols) % 2 == 0 { 1.0 } else { -1.0 } * rng.vec(1, 0.5, 1.0)[0])
                .collect();
            let beta_small: Vec<f32> = beta.iter().map(|b| b * 0.2).collect();
            for act in [Activation::Identity, Activation::Relu] {
                let (x, beta) = if act == Activation::Relu { (&signed, &beta_small) } else { (&x, &beta) };
                let (mean, var) = stats(x, shape);
                let (dx, dbeta) = backward(&w, bn(x, [&mean, &var, beta], shape, eps, act));
                let loss_x = |x: &[f32]| {
                    let (m, v) = stats(x, shape);
                    project(&forward(bn(x, [&m, &v, beta], shape, eps, act)), &w)
                };
                // Step 1e-3 on inputs of spread ~1: the truncation error (h²·f''' ~ 1e-5
                // here, larger for the 2-row case where the variance is smallest) and the
                // f32 noise (|L|·6e-8/h ≈ 1e-4) both stay well under 2e-3.
                assert_gradient(loss_x, x, &dx, 1e-3, 2e-3);
                let loss_beta = |b: &[f32]| project(&forward(bn(x, [&mean, &var, b], shape, eps, act)), &w);
                assert_gradient(loss_beta, beta, &dbeta, 1e-2, 1e-4);
            }
        }
    }
}
