//! Row-wise L2 normalisation and softmax over the last dimension; the weight module's head.

use super::{check_inputs, non_empty, rows_of, tensor_like};
use crate::autograd::Var;
use crate::backend::WeightHead;
use crate::error::{Error, Result};

/// `x / √max(Σx², eps)` per row (TensorFlow's `l2_normalize`; the reference uses 1e-10).
pub fn l2_normalize(x: &Var, eps: f32) -> Result<Var> {
    check_inputs("l2_normalize", &[x])?;
    non_empty("l2_normalize", x)?;
    let shape = rows_of(x.shape());
    let xt = x.value().clone();
    let y = xt.device().backend().l2_normalize(xt.storage(), shape, eps)?;
    let y = tensor_like(&xt, y, xt.shape().clone());
    Var::record("l2_normalize", &[x], y, move |dy, _| {
        let dx = dy.device().backend().l2_normalize_backward(dy.storage(), xt.storage(), shape, eps)?;
        Ok(vec![Some(tensor_like(dy, dx, dy.shape().clone()))])
    })
}

/// Softmax over the last dimension.
pub fn softmax(x: &Var) -> Result<Var> {
    check_inputs("softmax", &[x])?;
    non_empty("softmax", x)?;
    let shape = rows_of(x.shape());
    let xt = x.value();
    let y = tensor_like(xt, xt.device().backend().softmax(xt.storage(), shape)?, xt.shape().clone());
    let saved = y.clone();
    Var::record("softmax", &[x], y, move |dy, _| {
        let dx = dy.device().backend().softmax_backward(dy.storage(), saved.storage(), shape)?;
        Ok(vec![Some(tensor_like(dy, dx, dy.shape().clone()))])
    })
}

/// The dynamic weight module's head in one pass: `π = softmax(l2_normalize(a + bias)·scale)`
/// per row of `a[b, tasks]` (the FC's product before its bias; the paper's eq. 5, 8), what
/// `add_bias`, `l2_normalize`, `affine` and `softmax` compute in turn, with their roundings.
pub fn weight_head(a: &Var, bias: &Var, scale: f32, eps: f32) -> Result<Var> {
    let op = "weight_head";
    check_inputs(op, &[a, bias])?;
    non_empty(op, a)?;
    let shape = rows_of(a.shape());
    if bias.dims() != [shape.cols] {
        return Err(Error::ShapeMismatch { op, lhs: a.shape().clone(), rhs: bias.shape().clone() });
    }
    let (at, bt) = (a.value().clone(), bias.value().clone());
    let be = at.device().backend();
    let pi = be.weight_head(WeightHead { a: at.storage(), bias: bt.storage(), shape, scale, eps })?;
    let pi = tensor_like(&at, pi, at.shape().clone());
    let saved = pi.clone();
    Var::record(op, &[a, bias], pi, move |dy, needs| {
        let be = dy.device().backend();
        let on = WeightHead { a: at.storage(), bias: bt.storage(), shape, scale, eps };
        let da = be.weight_head_backward(dy.storage(), saved.storage(), on)?;
        let dbias = if needs[1] { Some(tensor_like(dy, be.sum_rows(&da, shape)?, [shape.cols])) } else { None };
        Ok(vec![needs[0].then(|| tensor_like(dy, da, at.shape().clone())), dbias])
    })
}
