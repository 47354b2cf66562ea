//! Per-sample losses: softmax cross-entropy and the center loss; a task's whole loss; the
//! weighted sums of the tasks' losses.

use super::{check_inputs, non_empty, rank, rows_of, tensor_like};
use crate::autograd::Var;
use crate::backend::{LabelledRows, LossTerm, TaskLoss, TaskRows, WeightedLosses};
use crate::error::{Error, Result};
use crate::tensor::{Shape, Storage, Tensor};

fn check_labels(op: &'static str, x: &Var, labels: &[usize], classes: usize) -> Result<()> {
    if labels.len() != x.dims()[0] {
        return Err(Error::InvalidShape {
            op,
            shape: x.shape().clone(),
            reason: format!("{} labels for {} rows", labels.len(), x.dims()[0]),
        });
    }
    if let Some(&label) = labels.iter().find(|&&l| l >= classes) {
        return Err(Error::LabelOutOfRange { op, label, classes });
    }
    Ok(())
}

/// `logits[b, classes]` → per-sample `−log softmax(logits)[label]`, `[b]`.
pub fn softmax_cross_entropy(logits: &Var, labels: &[usize]) -> Result<Var> {
    let op = "softmax_cross_entropy";
    check_inputs(op, &[logits])?;
    rank(op, logits, 2)?;
    non_empty(op, logits)?;
    let shape = rows_of(logits.shape());
    check_labels(op, logits, labels, shape.cols)?;
    let lt = logits.value();
    let (loss, probs) = lt.device().backend().softmax_cross_entropy(lt.storage(), LabelledRows { labels, shape })?;
    let loss = tensor_like(lt, loss, [shape.rows]);
    let labels = labels.to_vec();
    Var::record(op, &[logits], loss, move |dy, _| {
        let on = LabelledRows { labels: &labels, shape };
        let dx = dy.device().backend().softmax_cross_entropy_backward(dy.storage(), &probs, on)?;
        Ok(vec![Some(tensor_like(dy, dx, [shape.rows, shape.cols]))])
    })
}

/// Per-sample `½‖e_b − c_{y_b}‖²`, `[b]`. The centers are a constant here: they follow
/// their own update rule, never the gradient.
pub fn center_loss(embeddings: &Var, centers: &Tensor, labels: &[usize]) -> Result<Var> {
    let op = "center_loss";
    check_inputs(op, &[embeddings])?;
    rank(op, embeddings, 2)?;
    non_empty(op, embeddings)?;
    centers.expect_f32(op)?;
    let shape = rows_of(embeddings.shape());
    if centers.shape().rank() != 2 || centers.dims()[1] != shape.cols {
        return Err(Error::ShapeMismatch { op, lhs: embeddings.shape().clone(), rhs: centers.shape().clone() });
    }
    check_labels(op, embeddings, labels, centers.dims()[0])?;
    let et = embeddings.value().clone();
    let loss = et.device().backend().center_loss(et.storage(), centers.storage(), LabelledRows { labels, shape })?;
    let loss = tensor_like(&et, loss, [shape.rows]);
    let (centers, labels) = (centers.clone(), labels.to_vec());
    Var::record(op, &[embeddings], loss, move |dy, _| {
        let be = dy.device().backend();
        let on = LabelledRows { labels: &labels, shape };
        let de = be.center_loss_backward(dy.storage(), et.storage(), centers.storage(), on)?;
        Ok(vec![Some(tensor_like(dy, de, [shape.rows, shape.cols]))])
    })
}

/// One task's loss in one pass, `mean_b(CE(logits_b, y_b) + λ·½‖e_b − c_{y_b}‖²)` → `[1]`:
/// what [`softmax_cross_entropy`], [`center_loss`], `add_scaled` and `mean` compute in turn,
/// with their roundings (the mean's f64 sum in row order). The centers are a constant.
pub fn task_loss(logits: &Var, embeddings: &Var, centers: &Tensor, labels: &[usize], lambda: f32) -> Result<Var> {
    let op = "task_loss";
    check_inputs(op, &[logits, embeddings])?;
    rank(op, logits, 2)?;
    rank(op, embeddings, 2)?;
    non_empty(op, logits)?;
    centers.expect_f32(op)?;
    let (classes, dim) = (logits.dims()[1], embeddings.dims()[1]);
    if embeddings.dims()[0] != logits.dims()[0] || centers.shape().rank() != 2 || centers.dims()[1] != dim {
        return Err(Error::ShapeMismatch { op, lhs: embeddings.shape().clone(), rhs: centers.shape().clone() });
    }
    check_labels(op, logits, labels, classes.min(centers.dims()[0]))?;
    let (lt, et) = (logits.value().clone(), embeddings.value().clone());
    let labels = labels.to_vec();
    let rows = TaskRows { labels: &labels, classes, dim, lambda };
    let on = TaskLoss { e: et.storage(), centers: centers.storage(), rows };
    let (loss, probs) = lt.device().backend().task_loss(lt.storage(), on)?;
    let loss = tensor_like(&lt, loss, Shape::scalar());
    let centers = centers.clone();
    Var::record(op, &[logits, embeddings], loss, move |dy, _| {
        let rows = TaskRows { labels: &labels, classes, dim, lambda };
        let be = dy.device().backend();
        let on = TaskLoss { e: et.storage(), centers: centers.storage(), rows };
        let (dlogits, de) = be.task_loss_backward(dy.storage(), &probs, on)?;
        Ok(vec![Some(tensor_like(dy, dlogits, lt.shape().clone())), Some(tensor_like(dy, de, et.shape().clone()))])
    })
}

/// `Σ_t term(weights[i_t], L_t)` → `[1]` over `losses = [(i_t, L_t)]` (each `[1]`), the
/// terms `w·L` or `w/(L + σ)`, in one pass: the objectives that weight the tasks' losses.
/// What `element`, `mul` (or `affine` and `div`) and the `add`s compute in turn, with
/// their roundings; gradients reach whichever operands are not constants.
pub fn weighted_losses(weights: &Var, losses: &[(usize, Var)], term: LossTerm) -> Result<Var> {
    let op = "weighted_losses";
    let mut inputs: Vec<&Var> = vec![weights];
    inputs.extend(losses.iter().map(|(_, l)| l));
    check_inputs(op, &inputs)?;
    if losses.is_empty() {
        return Err(Error::invalid(op, "no losses to weight"));
    }
    if let Some((_, l)) = losses.iter().find(|(_, l)| l.value().len() != 1) {
        return Err(Error::InvalidShape { op, shape: l.shape().clone(), reason: "a loss is one value".into() });
    }
    let wt = weights.value().clone();
    let values: Vec<Tensor> = losses.iter().map(|(_, l)| l.value().clone()).collect();
    let indices: Vec<usize> = losses.iter().map(|&(i, _)| i).collect();
    let y = {
        let storages: Vec<&Storage> = values.iter().map(Tensor::storage).collect();
        let on = WeightedLosses { weights: wt.storage(), losses: &storages, indices: &indices, term };
        tensor_like(&wt, wt.device().backend().weighted_losses(on)?, Shape::scalar())
    };
    Var::record(op, &inputs, y, move |dy, needs| {
        let storages: Vec<&Storage> = values.iter().map(Tensor::storage).collect();
        let on = WeightedLosses { weights: wt.storage(), losses: &storages, indices: &indices, term };
        let want_losses = needs[1..].iter().any(|&n| n);
        let (dw, dlosses) = dy.device().backend().weighted_losses_backward(dy.storage(), on, want_losses)?;
        let mut grads = vec![needs[0].then(|| tensor_like(dy, dw, wt.shape().clone()))];
        let mut dlosses = dlosses.into_iter();
        for (&need, v) in needs[1..].iter().zip(&values) {
            let d = dlosses.next();
            grads.push(d.filter(|_| need).map(|d| tensor_like(dy, d, v.shape().clone())));
        }
        Ok(grads)
    })
}
