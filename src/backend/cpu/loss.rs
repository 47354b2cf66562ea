//! Per-row losses over `[rows, cols]` matrices with one class label per row (labels are
//! validated by the caller: `labels[r] < classes`).
//!
//! - `softmax_cross_entropy(logits, labels)` → `(loss[rows], probs[rows, cols])` with
//!   `loss_r = logsumexp(z_r) − z_r[label_r] = ln Σ_c exp(z_rc − m_r) − (z_r[label_r] − m_r)`,
//!   `m_r = max_c z_rc` (stable for any logit range), and `probs_r = softmax(z_r)`.
//! - `softmax_cross_entropy_backward`: `dz_r = dloss_r·(probs_r − onehot(label_r))`.
//! - `center_loss(e, centers[classes, cols], labels)` → `loss_r = ½‖e_r − centers[label_r]‖²`.
//! - `center_loss_backward`: `de_r = dloss_r·(e_r − centers[label_r])` (the centres are
//!   updated by their own rule, not by this gradient).
//!
//! Row sums accumulate in `f64`; large inputs are processed in parallel row blocks.

use super::elementwise::{add_scaled, affine, block_rows, broadcast_rows, for_row_blocks, sum_rows, PAR_MIN};
use super::{f32s, f32s_mut, wrap, CpuBackend};
use crate::backend::{
    LabelledRows, LossGradients, LossOps, LossTerm, Rows, Storage, TaskLoss, TaskRows, WeightedLosses,
};
use crate::error::{Error, Result};
use rayon::prelude::*;

/// `f(r)` for every row `r`, in parallel when the matrix has at least [`PAR_MIN`] elements.
fn per_row(shape: Rows, f: impl Fn(usize) -> f32 + Sync + Send) -> Vec<f32> {
    if shape.rows * shape.cols < PAR_MIN {
        (0..shape.rows).map(f).collect()
    } else {
        (0..shape.rows).into_par_iter().with_min_len(block_rows(shape.cols)).map(f).collect()
    }
}

/// A `[rows, cols]` gradient whose row `r` is written by `fill(r, row)`, rows in parallel
/// blocks.
fn per_row_grad(shape: Rows, fill: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    let mut out = vec![0.0; shape.rows * shape.cols];
    let work = out.len();
    for_row_blocks(&mut out, shape.cols, work, |first, block| {
        for (i, row) in block.chunks_exact_mut(shape.cols).enumerate() {
            fill(first + i, row);
        }
    });
    out
}

pub fn softmax_cross_entropy(logits: &[f32], on: LabelledRows) -> (Vec<f32>, Vec<f32>) {
    let LabelledRows { labels, shape } = on;
    let Rows { rows, cols } = shape;
    assert_eq!(logits.len(), rows * cols);
    assert_eq!(labels.len(), rows);
    let row = |r: usize| &logits[r * cols..(r + 1) * cols];
    let max = |z: &[f32]| z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut probs = vec![0.0; rows * cols];
    let work = probs.len();
    for_row_blocks(&mut probs, cols, work, |first, block| {
        for (i, p) in block.chunks_exact_mut(cols).enumerate() {
            let z = row(first + i);
            let m = max(z);
            let mut sum = 0.0f64;
            for (p, &z) in p.iter_mut().zip(z) {
                *p = (z - m).exp();
                sum += *p as f64;
            }
            let inv = (1.0 / sum) as f32;
            for p in p.iter_mut() {
                *p *= inv;
            }
        }
    });
    // The loss recomputes the row's exponentials rather than taking −ln(probs[label]),
    // which would lose all precision (or become ∞) once that probability underflows.
    let loss = per_row(shape, |r| {
        let z = row(r);
        let m = max(z);
        let sum: f64 = z.iter().map(|&v| ((v - m) as f64).exp()).sum();
        (sum.ln() - (z[labels[r]] - m) as f64) as f32
    });
    (loss, probs)
}

pub fn softmax_cross_entropy_backward(dloss: &[f32], probs: &[f32], on: LabelledRows) -> Vec<f32> {
    let LabelledRows { labels, shape: Rows { rows, cols } } = on;
    assert_eq!(probs.len(), rows * cols);
    assert!(dloss.len() == rows && labels.len() == rows);
    per_row_grad(on.shape, |r, dzrow| {
        for (d, &p) in dzrow.iter_mut().zip(&probs[r * cols..(r + 1) * cols]) {
            *d = dloss[r] * p;
        }
        dzrow[labels[r]] = dloss[r] * (probs[r * cols + labels[r]] - 1.0);
    })
}

pub fn center_loss(e: &[f32], centers: &[f32], on: LabelledRows) -> Vec<f32> {
    let LabelledRows { labels, shape } = on;
    let Rows { rows, cols } = shape;
    assert_eq!(e.len(), rows * cols);
    assert_eq!(labels.len(), rows);
    assert_eq!(centers.len() % cols.max(1), 0);
    per_row(shape, |r| {
        let center = &centers[labels[r] * cols..(labels[r] + 1) * cols];
        let ss: f64 = e[r * cols..(r + 1) * cols]
            .iter()
            .zip(center)
            .map(|(&e, &c)| {
                let d = e as f64 - c as f64;
                d * d
            })
            .sum();
        (0.5 * ss) as f32
    })
}

pub fn center_loss_backward(dloss: &[f32], e: &[f32], centers: &[f32], on: LabelledRows) -> Vec<f32> {
    let LabelledRows { labels, shape: Rows { rows, cols } } = on;
    assert_eq!(e.len(), rows * cols);
    assert!(dloss.len() == rows && labels.len() == rows);
    per_row_grad(on.shape, |r, derow| {
        let center = &centers[labels[r] * cols..(labels[r] + 1) * cols];
        for ((d, &e), &c) in derow.iter_mut().zip(&e[r * cols..(r + 1) * cols]).zip(center) {
            *d = dloss[r] * (e - c);
        }
    })
}

pub fn center_update(centers: &mut [f32], e: &[f32], on: LabelledRows, rest: f32) {
    let LabelledRows { labels, shape: Rows { rows, cols } } = on;
    assert!(e.len() == rows * cols && labels.len() == rows);
    let mut sums = std::collections::BTreeMap::<usize, (Vec<f32>, usize)>::new();
    for (row, &label) in e.chunks_exact(cols.max(1)).zip(labels) {
        let (sum, n) = sums.entry(label).or_insert_with(|| (vec![0.0; cols], 0));
        sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
        *n += 1;
    }
    for (label, (sum, n)) in sums {
        let cj = &mut centers[label * cols..(label + 1) * cols];
        for (cv, s) in cj.iter_mut().zip(&sum) {
            *cv -= rest * (*cv - s / n as f32);
        }
    }
}

/// One task's loss: the composition of [`softmax_cross_entropy`], [`center_loss`],
/// `add_scaled` and the mean, as the separate ops compute it.
pub fn task_loss(logits: &[f32], e: &[f32], centers: &[f32], on: TaskRows) -> (Vec<f32>, Vec<f32>) {
    let rows = on.rows();
    let (ce, probs) =
        softmax_cross_entropy(logits, LabelledRows { labels: on.labels, shape: Rows { rows, cols: on.classes } });
    let center = center_loss(e, centers, LabelledRows { labels: on.labels, shape: Rows { rows, cols: on.dim } });
    let per_row = add_scaled(&ce, &center, on.lambda);
    (affine(&sum_rows(&per_row, Rows { rows, cols: 1 }), on.mean_scale(), 0.0), probs)
}

/// [`task_loss`]'s backward from `dloss[1]`: `(dlogits, de)`.
pub fn task_loss_backward(
    dloss: &[f32],
    probs: &[f32],
    e: &[f32],
    centers: &[f32],
    on: TaskRows,
) -> (Vec<f32>, Vec<f32>) {
    let rows = on.rows();
    let d = affine(&broadcast_rows(dloss, Rows { rows, cols: 1 }), on.mean_scale(), 0.0);
    let d_center = affine(&d, on.lambda, 0.0);
    let dlogits = softmax_cross_entropy_backward(
        &d,
        probs,
        LabelledRows { labels: on.labels, shape: Rows { rows, cols: on.classes } },
    );
    let de = center_loss_backward(
        &d_center,
        e,
        centers,
        LabelledRows { labels: on.labels, shape: Rows { rows, cols: on.dim } },
    );
    (dlogits, de)
}

/// Term `t` of a weighted sum of losses: `(its value, b)` with `b = L + σ` for the
/// inverse form (`affine(L, 1, σ)` rounds `L·1 + σ`).
fn loss_term(w: f32, loss: f32, term: LossTerm) -> (f32, f32) {
    match term {
        LossTerm::Product => (w * loss, 0.0),
        LossTerm::Inverse { sigma } => {
            let b = loss * 1.0 + sigma;
            (w / b, b)
        }
    }
}

/// `Σ_t term(w[indices[t]], losses[t])`, added left to right.
pub fn weighted_losses(w: &[f32], losses: &[f32], indices: &[usize], term: LossTerm) -> f32 {
    let mut terms = losses.iter().zip(indices).map(|(&l, &i)| loss_term(w[i], l, term).0);
    let first = terms.next().unwrap_or(0.0);
    terms.fold(first, |acc, t| acc + t)
}

/// Its backward from `dy`: `(dw, dlosses)`, as `mul` and `div`'s backward passes round them
/// (`div`: `da = dy/b`, `db = (da·y)·(−1) + 0`).
pub fn weighted_losses_backward(
    dy: f32,
    w: &[f32],
    losses: &[f32],
    indices: &[usize],
    term: LossTerm,
) -> (Vec<f32>, Vec<f32>) {
    let mut dw = vec![0.0f32; w.len()];
    let mut seen = vec![false; w.len()];
    let mut dlosses = Vec::with_capacity(losses.len());
    for (&l, &i) in losses.iter().zip(indices) {
        let (d_w, d_l) = match term {
            LossTerm::Product => (dy * l, dy * w[i]),
            LossTerm::Inverse { .. } => {
                let (y, b) = loss_term(w[i], l, term);
                let da = dy / b;
                (da, -(da * y) + 0.0)
            }
        };
        dw[i] = if seen[i] { dw[i] + d_w } else { d_w };
        seen[i] = true;
        dlosses.push(d_l);
    }
    (dw, dlosses)
}

/// The scalars of a weighted sum's operands.
fn weighted_operands<'a>(op: &'static str, on: &WeightedLosses<'a>) -> Result<(&'a [f32], Vec<f32>)> {
    let w = f32s(on.weights, op)?;
    if let Some(&i) = on.indices.iter().find(|&&i| i >= w.len()) {
        return Err(Error::invalid(op, format!("weight index {i} of {} weights", w.len())));
    }
    let losses =
        on.losses.iter().map(|l| Ok(f32s(l, op)?.first().copied().unwrap_or(f32::NAN))).collect::<Result<_>>()?;
    Ok((w, losses))
}

impl LossOps for CpuBackend {
    fn softmax_cross_entropy(&self, logits: &Storage, on: LabelledRows) -> Result<(Storage, Storage)> {
        let (loss, probs) = softmax_cross_entropy(f32s(logits, "softmax_cross_entropy")?, on);
        Ok((wrap(loss), wrap(probs)))
    }

    fn softmax_cross_entropy_backward(&self, dy: &Storage, probs: &Storage, on: LabelledRows) -> Result<Storage> {
        let op = "softmax_cross_entropy_backward";
        Ok(wrap(softmax_cross_entropy_backward(f32s(dy, op)?, f32s(probs, op)?, on)))
    }

    fn center_loss(&self, embeddings: &Storage, centers: &Storage, on: LabelledRows) -> Result<Storage> {
        let op = "center_loss";
        Ok(wrap(center_loss(f32s(embeddings, op)?, f32s(centers, op)?, on)))
    }

    fn center_loss_backward(&self, dy: &Storage, e: &Storage, centers: &Storage, on: LabelledRows) -> Result<Storage> {
        let op = "center_loss_backward";
        Ok(wrap(center_loss_backward(f32s(dy, op)?, f32s(e, op)?, f32s(centers, op)?, on)))
    }

    fn center_update(
        &self,
        centers: &mut Storage,
        e: &Storage,
        on: LabelledRows,
        rest: f32,
        gate: &Storage,
    ) -> Result<()> {
        let op = "center_update";
        if f32s(gate, op)?.first().is_some_and(|g| g.is_finite()) {
            center_update(f32s_mut(centers, op)?, f32s(e, op)?, on, rest);
        }
        Ok(())
    }

    fn task_loss(&self, logits: &Storage, on: TaskLoss) -> Result<(Storage, Storage)> {
        let op = "task_loss";
        let (loss, probs) = task_loss(f32s(logits, op)?, f32s(on.e, op)?, f32s(on.centers, op)?, on.rows);
        Ok((wrap(loss), wrap(probs)))
    }

    fn weighted_losses(&self, on: WeightedLosses) -> Result<Storage> {
        let (w, losses) = weighted_operands("weighted_losses", &on)?;
        Ok(wrap(vec![weighted_losses(w, &losses, on.indices, on.term)]))
    }

    fn weighted_losses_backward(&self, dy: &Storage, on: WeightedLosses, want_losses: bool) -> Result<LossGradients> {
        let op = "weighted_losses_backward";
        let (w, losses) = weighted_operands(op, &on)?;
        let dy = f32s(dy, op)?.first().copied().unwrap_or(f32::NAN);
        let (dw, dlosses) = weighted_losses_backward(dy, w, &losses, on.indices, on.term);
        let dlosses = if want_losses { dlosses.into_iter().map(|d| wrap(vec![d])).collect() } else { Vec::new() };
        Ok((wrap(dw), dlosses))
    }

    fn task_loss_backward(&self, dloss: &Storage, probs: &Storage, on: TaskLoss) -> Result<(Storage, Storage)> {
        let op = "task_loss_backward";
        let (dlogits, de) =
            task_loss_backward(f32s(dloss, op)?, f32s(probs, op)?, f32s(on.e, op)?, f32s(on.centers, op)?, on.rows);
        Ok((wrap(dlogits), wrap(de)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::elementwise::test_support::{assert_close_f64 as assert_close, assert_gradient, project, Rng};

    #[test]
    fn center_update_by_hand() {
        // Class 0: rows 0 and 2 (mean [2, 0]); class 1 absent; class 2: row 1.
        let centers = [0.0, 1.0, 5.0, 5.0, -1.0, 0.0];
        let e = [1.0, 1.0, 4.0, 2.0, 3.0, -1.0];
        let on = LabelledRows { labels: &[0, 2, 0], shape: Rows { rows: 3, cols: 2 } };
        let mut got = centers;
        center_update(&mut got, &e, on, 0.5);
        // c − ½(c − ē): [0, 1] → [1, 0.5]; [5, 5] kept; [−1, 0] → [1.5, 1].
        assert_eq!(got, [1.0, 0.5, 5.0, 5.0, 1.5, 1.0]);
    }
    use super::*;

    #[test]
    fn cross_entropy_2x3_by_hand() {
        // Row 0: e^z = [1, 2, 5] (sum 8), label 2 → loss ln(8/5). Row 1: logits far out of
        // exp's range with the label on the smallest: z − m = [−2000, 0, 0], so
        // logsumexp = 1000 + ln 2 and loss = 2000 + ln 2.
        let logits = [0.0, 2f32.ln(), 5f32.ln(), -1000.0, 1000.0, 1000.0];
        let shape = Rows { rows: 2, cols: 3 };
        let (loss, probs) = softmax_cross_entropy(&logits, LabelledRows { labels: &[2, 0], shape });
        assert_close(&loss, &[(8.0f64 / 5.0).ln(), 2000.0 + 2f64.ln()], 1e-6);
        assert_close(&probs, &[0.125, 0.25, 0.625, 0.0, 0.5, 0.5], 1e-6);
        let dz = softmax_cross_entropy_backward(&[2.0, -1.0], &probs, LabelledRows { labels: &[2, 0], shape });
        assert_close(&dz, &[0.25, 0.5, -0.75, 1.0, -0.5, -0.5], 1e-6);
    }

    #[test]
    fn cross_entropy_single_class_is_zero() {
        let shape = Rows { rows: 3, cols: 1 };
        let (loss, probs) = softmax_cross_entropy(&[5.0, -2.0, 0.0], LabelledRows { labels: &[0, 0, 0], shape });
        assert_eq!(loss, vec![0.0; 3]);
        assert_eq!(probs, vec![1.0; 3]);
        assert_eq!(
            softmax_cross_entropy_backward(&[1.0; 3], &probs, LabelledRows { labels: &[0, 0, 0], shape }),
            vec![0.0; 3]
        );
    }

    #[test]
    fn center_loss_by_hand() {
        let centers = [0.0, 0.0, 1.0, 2.0]; // two classes, cols 2
        let e = [3.0, 4.0, 1.0, 2.0, 2.0, 2.0];
        let shape = Rows { rows: 3, cols: 2 };
        let labels = [0, 1, 1];
        assert_eq!(center_loss(&e, &centers, LabelledRows { labels: &labels, shape }), vec![12.5, 0.0, 0.5]);
        let de = center_loss_backward(&[1.0, 5.0, -2.0], &e, &centers, LabelledRows { labels: &labels, shape });
        assert_eq!(de, vec![3.0, 4.0, 0.0, 0.0, -2.0, 0.0]);
    }

    #[test]
    fn large_inputs_match_the_formulas() {
        let mut rng = Rng::new(50);
        for (rows, cols) in [(1, 1), (1, 7), (13, 1), (97, 31), (300, 257), (3, 40_000)] {
            let shape = Rows { rows, cols };
            let classes = cols.clamp(2, 11);
            let z = rng.vec(rows * cols, -8.0, 8.0);
            let labels: Vec<usize> = (0..rows).map(|_| rng.below(cols)).collect();
            let (loss, probs) = softmax_cross_entropy(&z, LabelledRows { labels: &labels, shape });
            let e = rng.vec(rows * cols, -1.0, 1.0);
            let centers = rng.vec(classes * cols, -1.0, 1.0);
            let center_labels: Vec<usize> = (0..rows).map(|_| rng.below(classes)).collect();
            let closs = center_loss(&e, &centers, LabelledRows { labels: &center_labels, shape });
            for r in 0..rows {
                let zr: Vec<f64> = z[r * cols..(r + 1) * cols].iter().map(|&v| v as f64).collect();
                let m = zr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = zr.iter().map(|v| (v - m).exp()).sum();
                assert_close(&loss[r..r + 1], &[m + s.ln() - zr[labels[r]]], 1e-5);
                let pr: Vec<f64> = zr.iter().map(|v| (v - m).exp() / s).collect();
                assert_close(&probs[r * cols..(r + 1) * cols], &pr, 1e-5);
                let c = center_labels[r];
                let ss: f64 = (0..cols).map(|k| (e[r * cols + k] as f64 - centers[c * cols + k] as f64).powi(2)).sum();
                assert_close(&closs[r..r + 1], &[0.5 * ss], 1e-6);
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = Rng::new(51);
        for (rows, cols) in [(1, 1), (1, 2), (4, 5), (3, 13)] {
            let shape = Rows { rows, cols };
            let labels: Vec<usize> = (0..rows).map(|_| rng.below(cols)).collect();
            let dloss = rng.vec(rows, -1.0, 1.0);
            let z = rng.vec(rows * cols, -2.0, 2.0);
            let (_, probs) = softmax_cross_entropy(&z, LabelledRows { labels: &labels, shape });
            let dz = softmax_cross_entropy_backward(&dloss, &probs, LabelledRows { labels: &labels, shape });
            // Smooth with second and third derivatives ≤ 1 (softmax products): step 1e-3
            // gives truncation ~1e-6 and f32 noise ~|L|·6e-8/1e-3 ≈ 1e-4.
            let ce = |z: &[f32]| project(&softmax_cross_entropy(z, LabelledRows { labels: &labels, shape }).0, &dloss);
            assert_gradient(ce, &z, &dz, 1e-3, 1e-3);

            let classes = 3;
            let centers = rng.vec(classes * cols, -1.0, 1.0);
            let center_labels: Vec<usize> = (0..rows).map(|_| rng.below(classes)).collect();
            let e = rng.vec(rows * cols, -1.0, 1.0);
            let de = center_loss_backward(&dloss, &e, &centers, LabelledRows { labels: &center_labels, shape });
            // Quadratic: central differences are exact up to rounding, even at step 1e-2.
            let cl =
                |e: &[f32]| project(&center_loss(e, &centers, LabelledRows { labels: &center_labels, shape }), &dloss);
            assert_gradient(cl, &e, &de, 1e-2, 1e-4);
        }
    }
}
