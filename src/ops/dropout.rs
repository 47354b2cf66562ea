//! Inverted dropout with a counter-based mask (a pure function of seed and position, so
//! every backend and the PyTorch oracle draw the same mask).

use super::{check_inputs, tensor_like};
use crate::autograd::Var;
use crate::backend::BinaryOp;
use crate::error::{Error, Result};

/// Keeps each element with probability `keep` and scales kept ones by `1/keep`.
pub fn dropout(x: &Var, keep: f32, seed: u64) -> Result<Var> {
    check_inputs("dropout", &[x])?;
    if !(keep > 0.0 && keep <= 1.0) {
        return Err(Error::invalid("dropout keep probability", format!("{keep} is not in (0, 1]")));
    }
    if keep == 1.0 {
        return Ok(x.clone());
    }
    let xt = x.value();
    let be = xt.device().backend();
    let mask = be.dropout_mask(xt.len(), keep, seed)?;
    let y = tensor_like(xt, be.binary(BinaryOp::Mul, xt.storage(), &mask)?, xt.shape().clone());
    Var::record("dropout", &[x], y, move |dy, _| {
        let dx = dy.device().backend().binary(BinaryOp::Mul, dy.storage(), &mask)?;
        Ok(vec![Some(tensor_like(dy, dx, dy.shape().clone()))])
    })
}
