//! Row-wise normalisations of `x[rows, cols]`, each row independent.
//!
//! - `l2_normalize` (TensorFlow's `tf.nn.l2_normalize`): `y_r = x_r / √max(Σ_c x_rc², eps)`.
//! - `l2_normalize_backward`, the exact gradient of that: where `Σ x_r² < eps` the
//!   denominator is the constant `√eps` and `dx_r = dy_r/√eps`; otherwise, with
//!   `n = ‖x_r‖` and `y_r = x_r/n`, `dx_r = (dy_r − y_r·⟨y_r, dy_r⟩)/n`.
//! - `softmax`: `y_rc = exp(x_rc − m_r) / Σ_c' exp(x_rc' − m_r)`, `m_r = max_c x_rc`
//!   (subtracting the row maximum keeps every exponent ≤ 0).
//! - `softmax_backward` from the output: `dx_r = y_r ⊙ (dy_r − ⟨dy_r, y_r⟩)`.
//!
//! Row sums and dot products accumulate in `f64`. Rows are processed in parallel blocks
//! for large inputs; each row's arithmetic is the same either way.

use super::elementwise::{add_bias, affine, for_row_blocks};
use super::{f32s, wrap, CpuBackend};
use crate::backend::{NormalizeOps, Rows, Storage, WeightHead};
use crate::error::Result;

fn sum_squares(x: &[f32]) -> f64 {
    x.iter().map(|&v| v as f64 * v as f64).sum()
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&a, &b)| a as f64 * b as f64).sum()
}

/// Runs `f(out_row, in_rows…)` on every row, in parallel blocks for large inputs; `ins`
/// are `[rows, cols]` matrices read row by row alongside the output.
fn map_rows<const K: usize>(ins: [&[f32]; K], shape: Rows, f: impl Fn(&mut [f32], [&[f32]; K]) + Sync) -> Vec<f32> {
    let Rows { rows, cols } = shape;
    for x in ins {
        assert_eq!(x.len(), rows * cols);
    }
    let mut out = vec![0.0; rows * cols];
    let work = out.len();
    for_row_blocks(&mut out, cols, work, |first, block| {
        for (i, orow) in block.chunks_exact_mut(cols).enumerate() {
            let r = first + i;
            f(orow, ins.map(|x| &x[r * cols..(r + 1) * cols]));
        }
    });
    out
}

pub fn l2_normalize(x: &[f32], shape: Rows, eps: f32) -> Vec<f32> {
    map_rows([x], shape, |y, [x]| {
        let inv = (1.0 / sum_squares(x).max(eps as f64).sqrt()) as f32;
        for (y, &x) in y.iter_mut().zip(x) {
            *y = x * inv;
        }
    })
}

pub fn l2_normalize_backward(dy: &[f32], x: &[f32], shape: Rows, eps: f32) -> Vec<f32> {
    map_rows([dy, x], shape, |dx, [dy, x]| {
        let ss = sum_squares(x);
        if ss < eps as f64 {
            let inv = (1.0 / (eps as f64).sqrt()) as f32;
            for (dx, &dy) in dx.iter_mut().zip(dy) {
                *dx = dy * inv;
            }
        } else {
            let norm = ss.sqrt();
            // ⟨y, dy⟩ = ⟨x, dy⟩/n; dx = (dy − x·⟨x, dy⟩/n²)/n.
            let inv = (1.0 / norm) as f32;
            let proj = (dot(x, dy) / ss) as f32;
            for ((dx, &dy), &x) in dx.iter_mut().zip(dy).zip(x) {
                *dx = (dy - x * proj) * inv;
            }
        }
    })
}

pub fn softmax(x: &[f32], shape: Rows) -> Vec<f32> {
    map_rows([x], shape, |y, [x]| {
        let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut sum = 0.0f64;
        for (y, &x) in y.iter_mut().zip(x) {
            *y = (x - max).exp();
            sum += *y as f64;
        }
        let inv = (1.0 / sum) as f32;
        for y in y.iter_mut() {
            *y *= inv;
        }
    })
}

pub fn softmax_backward(dy: &[f32], y: &[f32], shape: Rows) -> Vec<f32> {
    map_rows([dy, y], shape, |dx, [dy, y]| {
        let d = dot(dy, y) as f32;
        for ((dx, &dy), &y) in dx.iter_mut().zip(dy).zip(y) {
            *dx = y * (dy - d);
        }
    })
}

/// The weight head's `π` (`NormalizeOps::weight_head`), as the separate ops compute it.
pub fn weight_head(a: &[f32], bias: &[f32], shape: Rows, scale: f32, eps: f32) -> Vec<f32> {
    softmax(&affine(&l2_normalize(&add_bias(a, bias, shape), shape, eps), scale, 0.0), shape)
}

/// Its backward from `dπ` and `π`: `∂L/∂a`.
pub fn weight_head_backward(
    dpi: &[f32],
    pi: &[f32],
    a: &[f32],
    bias: &[f32],
    shape: Rows,
    scale: f32,
    eps: f32,
) -> Vec<f32> {
    let dn = affine(&softmax_backward(dpi, pi, shape), scale, 0.0);
    l2_normalize_backward(&dn, &add_bias(a, bias, shape), shape, eps)
}

impl NormalizeOps for CpuBackend {
    fn l2_normalize(&self, x: &Storage, shape: Rows, eps: f32) -> Result<Storage> {
        Ok(wrap(l2_normalize(f32s(x, "l2_normalize")?, shape, eps)))
    }

    fn l2_normalize_backward(&self, dy: &Storage, x: &Storage, shape: Rows, eps: f32) -> Result<Storage> {
        let op = "l2_normalize_backward";
        Ok(wrap(l2_normalize_backward(f32s(dy, op)?, f32s(x, op)?, shape, eps)))
    }

    fn softmax(&self, x: &Storage, shape: Rows) -> Result<Storage> {
        Ok(wrap(softmax(f32s(x, "softmax")?, shape)))
    }

    fn softmax_backward(&self, dy: &Storage, y: &Storage, shape: Rows) -> Result<Storage> {
        let op = "softmax_backward";
        Ok(wrap(softmax_backward(f32s(dy, op)?, f32s(y, op)?, shape)))
    }

    fn weight_head(&self, on: WeightHead) -> Result<Storage> {
        let op = "weight_head";
        Ok(wrap(weight_head(f32s(on.a, op)?, f32s(on.bias, op)?, on.shape, on.scale, on.eps)))
    }

    fn weight_head_backward(&self, dpi: &Storage, pi: &Storage, on: WeightHead) -> Result<Storage> {
        let op = "weight_head_backward";
        let (dpi, pi, a, bias) = (f32s(dpi, op)?, f32s(pi, op)?, f32s(on.a, op)?, f32s(on.bias, op)?);
        Ok(wrap(weight_head_backward(dpi, pi, a, bias, on.shape, on.scale, on.eps)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::elementwise::test_support::{assert_close_f64 as assert_close, assert_gradient, project, Rng};
    use super::super::elementwise::PAR_MIN;
    use super::*;

    #[test]
    fn softmax_2x3_by_hand() {
        // Row 0: [0, ln 2, ln 5] → e^x = [1, 2, 5], sum 8. Row 1: [1000, 1000, 1000]
        // overflows exp without the max shift; it must give thirds.
        let x = [0.0, 2f32.ln(), 5f32.ln(), 1000.0, 1000.0, 1000.0];
        let shape = Rows { rows: 2, cols: 3 };
        let y = softmax(&x, shape);
        assert_close(&y, &[0.125, 0.25, 0.625, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0], 1e-6);
        // dy = [1, 0, 0]: ⟨dy, y⟩ = 0.125, dx = y ⊙ (dy − 0.125).
        let dx = softmax_backward(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0], &y, shape);
        assert_close(&dx, &[0.125 * 0.875, -0.25 * 0.125, -0.625 * 0.125, 0.0, 0.0, 0.0], 1e-6);
        assert_eq!(softmax(&[-3.5], Rows { rows: 1, cols: 1 }), vec![1.0]);
        assert_eq!(softmax(&[f32::NEG_INFINITY, 0.0], Rows { rows: 1, cols: 2 }), vec![0.0, 1.0]);
    }

    #[test]
    fn l2_normalize_by_hand() {
        let shape = Rows { rows: 3, cols: 2 };
        // Row 0: 3-4-5. Row 1: Σx² = 2e-4 < eps = 1e-2, so it is divided by √eps = 0.1.
        // Row 2: zeros stay zeros.
        let x = [3.0, -4.0, 0.01, 0.01, 0.0, 0.0];
        let y = l2_normalize(&x, shape, 1e-2);
        assert_close(&y, &[0.6, -0.8, 0.1, 0.1, 0.0, 0.0], 1e-6);
        // Row 0: dy along y vanishes, dy ⟂ y passes scaled by 1/5. Rows 1-2: dy/√eps.
        let dy = [0.6, -0.8, 1.0, 2.0, 3.0, -1.0];
        let dx = l2_normalize_backward(&dy, &x, shape, 1e-2);
        assert_close(&dx, &[0.0, 0.0, 10.0, 20.0, 30.0, -10.0], 1e-6);
        let dx = l2_normalize_backward(&[0.8, 0.6, 0.0, 0.0, 0.0, 0.0], &x, shape, 1e-2);
        assert_close(&dx, &[0.16, 0.12, 0.0, 0.0, 0.0, 0.0], 1e-6);
    }

    #[test]
    fn large_inputs_match_the_formulas() {
        let mut rng = Rng::new(40);
        for (rows, cols) in [(1, 1), (7, 1), (1, 13), (31, 17), (PAR_MIN / 64 + 3, 128), (3, PAR_MIN + 1)] {
            let shape = Rows { rows, cols };
            let x = rng.vec(rows * cols, -3.0, 3.0);
            let dy = rng.vec(rows * cols, -1.0, 1.0);
            let y = softmax(&x, shape);
            let l2 = l2_normalize(&x, shape, 1e-12);
            let dl2 = l2_normalize_backward(&dy, &x, shape, 1e-12);
            let dsm = softmax_backward(&dy, &y, shape);
            for r in 0..rows {
                let row = |v: &[f32]| v[r * cols..(r + 1) * cols].iter().map(|&a| a as f64).collect::<Vec<f64>>();
                let (xr, dyr) = (row(&x), row(&dy));
                let max = xr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = xr.iter().map(|v| (v - max).exp()).sum();
                let yr: Vec<f64> = xr.iter().map(|v| (v - max).exp() / z).collect();
                assert_close(&y[r * cols..(r + 1) * cols], &yr, 1e-5);
                let ydy: f64 = yr.iter().zip(&dyr).map(|(a, b)| a * b).sum();
                let dx: Vec<f64> = yr.iter().zip(&dyr).map(|(y, dy)| y * (dy - ydy)).collect();
                assert_close(&dsm[r * cols..(r + 1) * cols], &dx, 1e-5);
                let n = xr.iter().map(|v| v * v).sum::<f64>().sqrt();
                let ur: Vec<f64> = xr.iter().map(|v| v / n).collect();
                assert_close(&l2[r * cols..(r + 1) * cols], &ur, 1e-6);
                let udy: f64 = ur.iter().zip(&dyr).map(|(a, b)| a * b).sum();
                let dx: Vec<f64> = ur.iter().zip(&dyr).map(|(u, dy)| (dy - u * udy) / n).collect();
                assert_close(&dl2[r * cols..(r + 1) * cols], &dx, 1e-5);
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = Rng::new(41);
        for (rows, cols) in [(1, 1), (3, 5), (2, 11)] {
            let shape = Rows { rows, cols };
            // Magnitudes in [0.3, 1) with random signs: every row has ‖x‖ ≥ 0.3, so the
            // 1/‖x‖ in the L2 gradient stays moderate.
            let x: Vec<f32> = (0..rows * cols)
                .map(|_| {
                    let v = rng.uniform(0.3, 1.0);
                    if rng.below(2) == 0 {
                        v
                    } else {
                        -v
                    }
                })
                .collect();
            let w = rng.vec(rows * cols, -1.0, 1.0);
            // Smooth functions with third derivatives of order 1/‖x‖³ ≤ 40: step 1e-3 puts
            // the truncation error (h²·f‴) near 1e-4 and the f32 noise near
            // |L|·6e-8/1e-3 ≈ 1e-4, so 2e-3 leaves a wide margin.
            let dx = softmax_backward(&w, &softmax(&x, shape), shape);
            assert_gradient(|x| project(&softmax(x, shape), &w), &x, &dx, 1e-3, 2e-3);
            let eps = 1e-6;
            let dx = l2_normalize_backward(&w, &x, shape, eps);
            assert_gradient(|x| project(&l2_normalize(x, shape, eps), &w), &x, &dx, 1e-3, 2e-3);
        }
        // Below eps the map is linear (x/√eps): differences are exact up to rounding.
        let shape = Rows { rows: 2, cols: 3 };
        let x = rng.vec(6, -0.01, 0.01);
        let w = rng.vec(6, -1.0, 1.0);
        let eps = 1.0;
        let dx = l2_normalize_backward(&w, &x, shape, eps);
        assert_gradient(|x| project(&l2_normalize(x, shape, eps), &w), &x, &dx, 1e-3, 1e-4);
    }
}
