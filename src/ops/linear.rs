//! Matrix product and the fully connected layer (`y = x·W + b`, W is `[in, out]`).

use super::{check_inputs, rank, tensor_like};
use crate::autograd::Var;
use crate::backend::{Activation, MatmulGeometry, Rows};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// `[m, k] · [k, n]` → `[m, n]`.
pub fn matmul(a: &Var, b: &Var) -> Result<Var> {
    let op = "matmul";
    check_inputs(op, &[a, b])?;
    rank(op, a, 2)?;
    rank(op, b, 2)?;
    let (&[m, k], &[k2, n]) = (a.dims(), b.dims()) else { unreachable!("ranks checked") };
    if k != k2 {
        return Err(Error::ShapeMismatch { op, lhs: a.shape().clone(), rhs: b.shape().clone() });
    }
    let (at, bt) = (a.value().clone(), b.value().clone());
    let be = at.device().backend();
    let g = MatmulGeometry { m, k, n, transpose_a: false, transpose_b: false };
    let y = tensor_like(&at, be.matmul(at.storage(), bt.storage(), &g)?, [m, n]);
    Var::record(op, &[a, b], y, move |dy, needs| matmul_grads(dy, [&at, &bt], [needs[0], needs[1]]))
}

/// The gradients of `a·b` (`[m, k]·[k, n]`) from `dy`, each when needed: `da = dy·bᵀ`,
/// `db = aᵀ·dy`.
fn matmul_grads(dy: &Tensor, [at, bt]: [&Tensor; 2], needs: [bool; 2]) -> Result<Vec<Option<Tensor>>> {
    let (m, k, n) = (at.dims()[0], at.dims()[1], bt.dims()[1]);
    let be = dy.device().backend();
    let da = if needs[0] {
        let g = MatmulGeometry { m, k: n, n: k, transpose_a: false, transpose_b: true };
        Some(tensor_like(dy, be.matmul(dy.storage(), bt.storage(), &g)?, [m, k]))
    } else {
        None
    };
    let db = if needs[1] {
        let g = MatmulGeometry { m: k, k: m, n, transpose_a: true, transpose_b: false };
        Some(tensor_like(dy, be.matmul(at.storage(), dy.storage(), &g)?, [k, n]))
    } else {
        None
    };
    Ok(vec![da, db])
}

/// Fully connected layer: `act(x[b, in] · w[in, out] + bias[out])`, one op (on CUDA one
/// launch: the bias and the activation in the GEMM's epilogue), with the values and
/// roundings of `matmul`, `add_bias` and `relu` in turn.
pub fn linear(x: &Var, w: &Var, bias: &Var, act: Activation) -> Result<Var> {
    let op = "linear";
    check_inputs(op, &[x, w, bias])?;
    rank(op, x, 2)?;
    rank(op, w, 2)?;
    let (&[m, k], &[k2, n]) = (x.dims(), w.dims()) else { unreachable!("ranks checked") };
    if k != k2 || bias.dims() != [n] {
        return Err(Error::ShapeMismatch { op, lhs: x.shape().clone(), rhs: w.shape().clone() });
    }
    let (xt, wt, bt) = (x.value().clone(), w.value().clone(), bias.value().clone());
    let g = MatmulGeometry { m, k, n, transpose_a: false, transpose_b: false };
    let y = tensor_like(&xt, xt.device().backend().linear(xt.storage(), wt.storage(), bt.storage(), &g, act)?, [m, n]);
    let saved = y.clone();
    Var::record(op, &[x, w, bias], y, move |dy, needs| {
        let be = dy.device().backend();
        let dz = match act {
            Activation::Relu => tensor_like(dy, be.relu_backward(dy.storage(), saved.storage())?, [m, n]),
            Activation::Identity => dy.clone(),
        };
        let dbias = if needs[2] {
            Some(tensor_like(dy, be.sum_rows(dz.storage(), Rows { rows: m, cols: n })?, [n]))
        } else {
            None
        };
        let mut grads = matmul_grads(&dz, [&xt, &wt], [needs[0], needs[1]])?;
        grads.push(dbias);
        Ok(grads)
    })
}
