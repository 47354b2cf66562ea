//! Batch normalisation with a shift `β` and no scale, over `x[rows, channels]` (NHWC
//! activations viewed as `[N·H·W, C]`), statistics per channel (column).
//!
//! - `stats(x) = (μ, σ²)`: `μ_c = (1/R)·Σ_r x[r, c]`, `σ²_c = (1/R)·Σ_r (x[r, c] − μ_c)²`
//!   (biased). Two passes, accumulated in `f64` over fixed row blocks in parallel and
//!   combined in block order ([`column_sums`]), so the result is reproducible run to run.
//! - `forward`: `y[r, c] = (x[r, c] − μ_c)·inv_c + β_c` with `inv_c = 1/√(σ²_c + eps)`.
//! - `backward` (training mode: `μ`, `σ²` are the batch statistics of `x` itself): with
//!   `x̂ = (x − μ)·inv`, `dβ_c = Σ_r dy[r, c]` and
//!   `dx = inv·(dy − mean_r(dy) − x̂·mean_r(dy·x̂))`.
//!
//! [`reference`] holds the naive per-column loops the blocked versions are tested against.

use super::buffer;
use super::elementwise::{column_sums, for_row_blocks};
use crate::backend::Rows;

fn inv_std(var: &[f32], eps: f32) -> Vec<f32> {
    var.iter().map(|&v| 1.0 / (v + eps).sqrt()).collect()
}

pub fn stats(x: &[f32], shape: Rows) -> (Vec<f32>, Vec<f32>) {
    let Rows { rows, cols } = shape;
    assert_eq!(x.len(), rows * cols);
    let n = rows as f64;
    let mean: Vec<f64> = column_sums(shape, |r, acc| {
        for row in x[r.start * cols..r.end * cols].chunks_exact(cols) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v as f64;
            }
        }
    })
    .into_iter()
    .map(|s| s / n)
    .collect();
    let var = column_sums(shape, |r, acc| {
        for row in x[r.start * cols..r.end * cols].chunks_exact(cols) {
            for ((a, &v), &m) in acc.iter_mut().zip(row).zip(&mean) {
                let d = v as f64 - m;
                *a += d * d;
            }
        }
    });
    (mean.iter().map(|&m| m as f32).collect(), var.iter().map(|&s| (s / n) as f32).collect())
}

pub fn forward(x: &[f32], mean: &[f32], var: &[f32], beta: &[f32], shape: Rows, eps: f32) -> Vec<f32> {
    let Rows { rows, cols } = shape;
    assert_eq!(x.len(), rows * cols);
    assert!(mean.len() == cols && var.len() == cols && beta.len() == cols);
    let inv = inv_std(var, eps);
    let mut out = buffer::uninit(x.len());
    for_row_blocks(&mut out, cols, x.len(), |first, block| {
        let xs = &x[first * cols..first * cols + block.len()];
        for (orow, xrow) in block.chunks_exact_mut(cols).zip(xs.chunks_exact(cols)) {
            for c in 0..cols {
                orow[c] = (xrow[c] - mean[c]) * inv[c] + beta[c];
            }
        }
    });
    out
}

pub fn backward(dy: &[f32], x: &[f32], mean: &[f32], var: &[f32], shape: Rows, eps: f32) -> (Vec<f32>, Vec<f32>) {
    let Rows { rows, cols } = shape;
    assert!(dy.len() == rows * cols && x.len() == rows * cols);
    assert!(mean.len() == cols && var.len() == cols);
    let inv = inv_std(var, eps);
    // One pass for both reductions: acc[..cols] collects Σ dy, acc[cols..] collects Σ dy·x̂.
    let sums = column_sums(Rows { rows, cols: 2 * cols }, |r, acc| {
        let (sum_dy, sum_dy_xhat) = acc.split_at_mut(cols);
        let range = r.start * cols..r.end * cols;
        for (dyrow, xrow) in dy[range.clone()].chunks_exact(cols).zip(x[range].chunks_exact(cols)) {
            for c in 0..cols {
                let xhat = (xrow[c] - mean[c]) * inv[c];
                sum_dy[c] += dyrow[c] as f64;
                sum_dy_xhat[c] += (dyrow[c] * xhat) as f64;
            }
        }
    });
    let n = rows as f64;
    let dbeta: Vec<f32> = sums[..cols].iter().map(|&s| s as f32).collect();
    let mean_dy: Vec<f32> = sums[..cols].iter().map(|&s| (s / n) as f32).collect();
    let mean_dy_xhat: Vec<f32> = sums[cols..].iter().map(|&s| (s / n) as f32).collect();
    let mut dx = buffer::uninit(x.len());
    for_row_blocks(&mut dx, cols, x.len(), |first, block| {
        let range = first * cols..first * cols + block.len();
        let rows_in = block.chunks_exact_mut(cols).zip(dy[range.clone()].chunks_exact(cols));
        for ((dxrow, dyrow), xrow) in rows_in.zip(x[range].chunks_exact(cols)) {
            for c in 0..cols {
                let xhat = (xrow[c] - mean[c]) * inv[c];
                dxrow[c] = inv[c] * (dyrow[c] - mean_dy[c] - xhat * mean_dy_xhat[c]);
            }
        }
    });
    (dx, dbeta)
}

/// Naive per-column loops, the check for the blocked parallel versions.
pub mod reference {
    use crate::backend::Rows;

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

    pub fn forward(x: &[f32], mean: &[f32], var: &[f32], beta: &[f32], shape: Rows, eps: f32) -> Vec<f32> {
        (0..shape.rows * shape.cols)
            .map(|i| {
                let c = i % shape.cols;
                (x[i] - mean[c]) / (var[c] + eps).sqrt() + beta[c]
            })
            .collect()
    }

    pub fn backward(dy: &[f32], x: &[f32], mean: &[f32], var: &[f32], shape: Rows, eps: f32) -> (Vec<f32>, Vec<f32>) {
        let Rows { rows, cols } = shape;
        let n = rows as f64;
        let mut dx = vec![0.0; rows * cols];
        let mut dbeta = vec![0.0; cols];
        for c in 0..cols {
            let inv = 1.0 / (var[c] as f64 + eps as f64).sqrt();
            let xhat = |r: usize| (x[r * cols + c] as f64 - mean[c] as f64) * inv;
            let sum_dy: f64 = column(dy, shape, c).sum();
            let sum_dy_xhat: f64 = (0..rows).map(|r| dy[r * cols + c] as f64 * xhat(r)).sum();
            dbeta[c] = sum_dy as f32;
            for r in 0..rows {
                let g = dy[r * cols + c] as f64 - sum_dy / n - xhat(r) * sum_dy_xhat / n;
                dx[r * cols + c] = (inv * g) as f32;
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
        let y = forward(&x, &mean, &var, &[0.5, -1.0], shape, 1.0 / 3.0);
        let s = 3f32.sqrt();
        assert_close(&y, &[0.5 - 2.0 / s, -1.0, 0.5, -1.0, 0.5 + 2.0 / s, -1.0], 1e-6, "y");
        // A constant dy has no effect on dx (it only shifts the normalised output) and
        // sums into dβ.
        let (dx, dbeta) = backward(&[1.0; 6], &x, &mean, &var, shape, 1e-3);
        assert_close(&dx, &[0.0; 6], 1e-6, "dx");
        assert_close(&dbeta, &[3.0, 3.0], 1e-7, "dbeta");
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
            assert_close(
                &forward(&x, &mean, &var, &beta, shape, eps),
                &reference::forward(&x, &mean, &var, &beta, shape, eps),
                1e-5,
                "forward",
            );
            let (dx, dbeta) = backward(&dy, &x, &mean, &var, shape, eps);
            let (rdx, rdbeta) = reference::backward(&dy, &x, &mean, &var, shape, eps);
            // dx subtracts two means from dy: cancellation leaves an f32 error of a few
            // ulps of max|dy|·inv ≈ 2, so compare against an absolute scale.
            let scale = rdx.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (i, (a, b)) in dx.iter().zip(&rdx).enumerate() {
                assert!((a - b).abs() <= 1e-5 * (1.0 + scale), "{rows}x{cols} dx[{i}]: {a} vs {b}");
            }
            assert_close(&dbeta, &rdbeta, 1e-6, "dbeta");
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
        let grads = backward(&dy, &x, &first.0, &first.1, shape, 1e-3);
        assert_eq!(backward(&dy, &x, &first.0, &first.1, shape, 1e-3), grads);
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
            let (mean, var) = stats(&x, shape);
            let (dx, dbeta) = backward(&w, &x, &mean, &var, shape, eps);
            let loss_x = |x: &[f32]| {
                let (m, v) = stats(x, shape);
                project(&forward(x, &m, &v, &beta, shape, eps), &w)
            };
            // Step 1e-3 on inputs of spread ~1: the truncation error (h²·f''' ~ 1e-5 here,
            // larger for the 2-row case where the variance is smallest) and the f32 noise
            // (|L|·6e-8/h ≈ 1e-4) both stay well under 2e-3.
            assert_gradient(loss_x, &x, &dx, 1e-3, 2e-3);
            let loss_beta = |b: &[f32]| project(&forward(&x, &mean, &var, b, shape, eps), &w);
            assert_gradient(loss_beta, &beta, &dbeta, 1e-2, 1e-4);
        }
    }
}
