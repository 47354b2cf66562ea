//! Batch normalisation with a learned shift and no scale (slim's default, as the
//! reference network uses): `y = (x − μ)/√(σ² + ε) + β` per channel of NHWC input.

use super::{check_inputs, non_empty, rows_of, tensor_like};
use crate::autograd::Var;
use crate::backend::{Activation, BatchNorm, BatchNormGeometry};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The batch statistics a training forward used: per-channel mean and biased variance,
/// and the number of values each was taken over (for the unbiased moving variance).
#[derive(Clone, Debug)]
pub struct BatchNormStats {
    pub mean: Tensor,
    pub variance: Tensor,
    pub count: usize,
}

fn check_channels(op: &'static str, x: &Var, per_channel: &[&crate::tensor::Shape]) -> Result<()> {
    let c = x.shape().last();
    for s in per_channel {
        if s.dims() != [c] {
            return Err(Error::ShapeMismatch { op, lhs: x.shape().clone(), rhs: (*s).clone() });
        }
    }
    Ok(())
}

/// Training mode: normalises with the batch's own statistics, which it also returns so
/// the caller can update the moving averages; `act` is applied in the same pass.
pub fn batch_norm_train(x: &Var, beta: &Var, eps: f32, act: Activation) -> Result<(Var, BatchNormStats)> {
    let op = "batch_norm";
    check_inputs(op, &[x, beta])?;
    non_empty(op, x)?;
    check_channels(op, x, &[beta.shape()])?;
    let shape = rows_of(x.shape());
    let (xt, bt) = (x.value().clone(), beta.value().clone());
    let be = xt.device().backend();
    let (mean, var) = be.batch_norm_stats(xt.storage(), shape)?;
    let (mean, var) = (tensor_like(&xt, mean, [shape.cols]), tensor_like(&xt, var, [shape.cols]));
    let g = BatchNormGeometry { shape, eps, act };
    let y = be.batch_norm(BatchNorm {
        x: xt.storage(),
        mean: mean.storage(),
        var: var.storage(),
        beta: bt.storage(),
        geometry: g,
    })?;
    let y = tensor_like(&xt, y, xt.shape().clone());
    let stats = BatchNormStats { mean: mean.clone(), variance: var.clone(), count: shape.rows };
    let y = Var::record(op, &[x, beta], y, move |dy, _| {
        let be = dy.device().backend();
        let bn =
            BatchNorm { x: xt.storage(), mean: mean.storage(), var: var.storage(), beta: bt.storage(), geometry: g };
        let (dx, dbeta) = be.batch_norm_backward(dy.storage(), bn)?;
        Ok(vec![Some(tensor_like(dy, dx, xt.shape().clone())), Some(tensor_like(dy, dbeta, [shape.cols]))])
    })?;
    Ok((y, stats))
}

/// Inference mode: normalises with the given moving averages (constants), then `act`.
pub fn batch_norm_infer(
    x: &Var,
    beta: &Var,
    mean: &Tensor,
    variance: &Tensor,
    eps: f32,
    act: Activation,
) -> Result<Var> {
    let op = "batch_norm";
    check_inputs(op, &[x, beta])?;
    check_channels(op, x, &[beta.shape(), mean.shape(), variance.shape()])?;
    let shape = rows_of(x.shape());
    let xt = x.value();
    let be = xt.device().backend();
    let geometry = BatchNormGeometry { shape, eps, act };
    let (mean, var, beta_values) = (mean.storage(), variance.storage(), beta.value().storage());
    let y = be.batch_norm(BatchNorm { x: xt.storage(), mean, var, beta: beta_values, geometry })?;
    let y = tensor_like(xt, y, xt.shape().clone());
    let (variance, saved_y) = (variance.clone(), y.clone());
    Var::record(op, &[x, beta], y, move |dy, needs| {
        let be = dy.device().backend();
        // The ReLU passes dy where its output is positive.
        let relu_grad;
        let g = match act {
            Activation::Identity => dy.storage(),
            Activation::Relu => {
                relu_grad = be.relu_backward(dy.storage(), saved_y.storage())?;
                &relu_grad
            }
        };
        // The statistics are constants here, so dx = g/√(σ² + ε): the same normalisation
        // applied to g with a zero mean and zero shift.
        let dx = if needs[0] {
            let zeros = be.zeros(shape.cols)?;
            let geometry = BatchNormGeometry { shape, eps, act: Activation::Identity };
            let dx =
                be.batch_norm(BatchNorm { x: g, mean: &zeros, var: variance.storage(), beta: &zeros, geometry })?;
            Some(tensor_like(dy, dx, dy.shape().clone()))
        } else {
            None
        };
        let dbeta = if needs[1] { Some(tensor_like(dy, be.sum_rows(g, shape)?, [shape.cols])) } else { None };
        Ok(vec![dx, dbeta])
    })
}
