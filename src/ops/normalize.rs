//! Row-wise L2 normalisation and softmax over the last dimension.

use super::{check_inputs, non_empty, rows_of, tensor_like};
use crate::autograd::Var;
use crate::error::Result;

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
