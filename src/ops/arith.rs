//! Element-wise arithmetic, bias, ReLU and reductions.

use super::{check_inputs, non_empty, rows_of, same_shape, tensor_like};
use crate::autograd::Var;
use crate::backend::{Activation, BinaryOp, ResidualTail, Rows};
use crate::error::{Error, Result};
use crate::tensor::Shape;

fn binary(op: &'static str, kind: BinaryOp, a: &Var, b: &Var) -> Result<Var> {
    check_inputs(op, &[a, b])?;
    same_shape(op, a, b)?;
    let (at, bt) = (a.value().clone(), b.value().clone());
    let be = at.device().backend();
    let y = tensor_like(&at, be.binary(kind, at.storage(), bt.storage())?, at.shape().clone());
    let saved_y = y.clone();
    Var::record(op, &[a, b], y, move |dy, needs| {
        let be = dy.device().backend();
        let shape = dy.shape().clone();
        let t = |s| tensor_like(dy, s, shape.clone());
        let (da, db) = match kind {
            BinaryOp::Add => (Some(dy.clone()), Some(dy.clone())),
            BinaryOp::Sub => (Some(dy.clone()), Some(t(be.affine(dy.storage(), -1.0, 0.0)?))),
            BinaryOp::Mul => (
                needs[0].then(|| be.binary(BinaryOp::Mul, dy.storage(), bt.storage()).map(t)).transpose()?,
                needs[1].then(|| be.binary(BinaryOp::Mul, dy.storage(), at.storage()).map(t)).transpose()?,
            ),
            // y = a/b: da = dy/b, db = −dy·y/b.
            BinaryOp::Div => {
                let da = be.binary(BinaryOp::Div, dy.storage(), bt.storage())?;
                let db = if needs[1] {
                    let dyy = be.binary(BinaryOp::Mul, &da, saved_y.storage())?;
                    Some(t(be.affine(&dyy, -1.0, 0.0)?))
                } else {
                    None
                };
                (Some(t(da)), db)
            }
        };
        Ok(vec![da, db])
    })
}

pub fn add(a: &Var, b: &Var) -> Result<Var> {
    binary("add", BinaryOp::Add, a, b)
}

pub fn sub(a: &Var, b: &Var) -> Result<Var> {
    binary("sub", BinaryOp::Sub, a, b)
}

pub fn mul(a: &Var, b: &Var) -> Result<Var> {
    binary("mul", BinaryOp::Mul, a, b)
}

pub fn div(a: &Var, b: &Var) -> Result<Var> {
    binary("div", BinaryOp::Div, a, b)
}

/// `x·mul + add`.
pub fn affine(x: &Var, mul: f32, add: f32) -> Result<Var> {
    check_inputs("affine", &[x])?;
    let xt = x.value();
    let y = tensor_like(xt, xt.device().backend().affine(xt.storage(), mul, add)?, xt.shape().clone());
    Var::record("affine", &[x], y, move |dy, _| {
        let dx = dy.device().backend().affine(dy.storage(), mul, 0.0)?;
        Ok(vec![Some(tensor_like(dy, dx, dy.shape().clone()))])
    })
}

/// `eˣ`; its backward is `dy·eˣ`, from the saved output.
pub fn exp(x: &Var) -> Result<Var> {
    check_inputs("exp", &[x])?;
    let xt = x.value();
    let y = tensor_like(xt, xt.device().backend().exp(xt.storage())?, xt.shape().clone());
    let saved = y.clone();
    Var::record("exp", &[x], y, move |dy, _| {
        let dx = dy.device().backend().binary(BinaryOp::Mul, dy.storage(), saved.storage())?;
        Ok(vec![Some(tensor_like(dy, dx, dy.shape().clone()))])
    })
}

/// `a + alpha·b`: the scaled residual connection of the Inception-ResNet blocks.
pub fn add_scaled(a: &Var, b: &Var, alpha: f32) -> Result<Var> {
    check_inputs("add_scaled", &[a, b])?;
    same_shape("add_scaled", a, b)?;
    let at = a.value();
    let y = at.device().backend().add_scaled(at.storage(), b.value().storage(), alpha)?;
    let y = tensor_like(at, y, at.shape().clone());
    Var::record("add_scaled", &[a, b], y, move |dy, needs| {
        let db = if needs[1] {
            Some(tensor_like(dy, dy.device().backend().affine(dy.storage(), alpha, 0.0)?, dy.shape().clone()))
        } else {
            None
        };
        Ok(vec![Some(dy.clone()), db])
    })
}

pub fn relu(x: &Var) -> Result<Var> {
    check_inputs("relu", &[x])?;
    let xt = x.value();
    let y = tensor_like(xt, xt.device().backend().relu(xt.storage())?, xt.shape().clone());
    let saved = y.clone();
    Var::record("relu", &[x], y, move |dy, _| {
        let dx = dy.device().backend().relu_backward(dy.storage(), saved.storage())?;
        Ok(vec![Some(tensor_like(dy, dx, dy.shape().clone()))])
    })
}

/// The tail of a residual block in one pass: `act(x + scale·(up + bias))`, `bias`
/// broadcast over the last dimension (what `add_bias`, `add_scaled` and `relu` compute in
/// turn, with their roundings; the backward is theirs too, in one pass and a column sum).
pub fn residual_tail(x: &Var, up: &Var, bias: &Var, scale: f32, act: Activation) -> Result<Var> {
    let op = "residual_tail";
    check_inputs(op, &[x, up, bias])?;
    same_shape(op, x, up)?;
    let shape = rows_of(x.shape());
    if bias.shape().dims() != [shape.cols] {
        return Err(Error::ShapeMismatch { op, lhs: x.shape().clone(), rhs: bias.shape().clone() });
    }
    let tail = ResidualTail { shape, scale, act };
    let xt = x.value();
    let y = xt.device().backend().residual_tail(xt.storage(), up.value().storage(), bias.value().storage(), tail)?;
    let y = tensor_like(xt, y, xt.shape().clone());
    let saved = y.clone();
    Var::record(op, &[x, up, bias], y, move |dy, needs| {
        let be = dy.device().backend();
        let r = be.residual_tail_backward(dy.storage(), saved.storage(), tail)?;
        let db = needs[2].then(|| tensor_like(dy, r.dbias, [shape.cols]));
        let (dx, dup) = (tensor_like(dy, r.dx, dy.shape().clone()), tensor_like(dy, r.dup, dy.shape().clone()));
        Ok(vec![needs[0].then_some(dx), needs[1].then_some(dup), db])
    })
}

/// `x + bias` with `bias` broadcast over the last dimension.
pub fn add_bias(x: &Var, bias: &Var) -> Result<Var> {
    check_inputs("add_bias", &[x, bias])?;
    let shape = rows_of(x.shape());
    if bias.shape().dims() != [shape.cols] {
        return Err(Error::ShapeMismatch { op: "add_bias", lhs: x.shape().clone(), rhs: bias.shape().clone() });
    }
    let xt = x.value();
    let y = xt.device().backend().add_bias(xt.storage(), bias.value().storage(), shape)?;
    let y = tensor_like(xt, y, xt.shape().clone());
    Var::record("add_bias", &[x, bias], y, move |dy, needs| {
        let db = if needs[1] {
            Some(tensor_like(dy, dy.device().backend().sum_rows(dy.storage(), shape)?, [shape.cols]))
        } else {
            None
        };
        Ok(vec![Some(dy.clone()), db])
    })
}

/// Column means of the `[rows, last dim]` view → `[last dim]` (e.g. the batch mean of the
/// per-sample task weights).
pub fn mean_rows(x: &Var) -> Result<Var> {
    check_inputs("mean_rows", &[x])?;
    non_empty("mean_rows", x)?;
    let shape = rows_of(x.shape());
    let xt = x.value();
    let be = xt.device().backend();
    let y = be.affine(&be.sum_rows(xt.storage(), shape)?, 1.0 / shape.rows as f32, 0.0)?;
    let y = tensor_like(xt, y, [shape.cols]);
    let in_shape = xt.shape().clone();
    Var::record("mean_rows", &[x], y, move |dy, _| {
        let be = dy.device().backend();
        let dx = be.affine(&be.broadcast_rows(dy.storage(), shape)?, 1.0 / shape.rows as f32, 0.0)?;
        Ok(vec![Some(tensor_like(dy, dx, in_shape.clone()))])
    })
}

fn reduce_all(op: &'static str, x: &Var, scale: f32) -> Result<Var> {
    check_inputs(op, &[x])?;
    non_empty(op, x)?;
    let xt = x.value();
    let shape = Rows { rows: xt.len(), cols: 1 };
    let be = xt.device().backend();
    let y = be.affine(&be.sum_rows(xt.storage(), shape)?, scale, 0.0)?;
    let y = tensor_like(xt, y, Shape::scalar());
    let in_shape = xt.shape().clone();
    Var::record(op, &[x], y, move |dy, _| {
        let be = dy.device().backend();
        let dx = be.affine(&be.broadcast_rows(dy.storage(), shape)?, scale, 0.0)?;
        Ok(vec![Some(tensor_like(dy, dx, in_shape.clone()))])
    })
}

/// Sum of every element → `[1]`.
pub fn sum(x: &Var) -> Result<Var> {
    reduce_all("sum", x, 1.0)
}

/// Mean of every element → `[1]`.
pub fn mean(x: &Var) -> Result<Var> {
    let n = x.value().len().max(1);
    reduce_all("mean", x, 1.0 / n as f32)
}
