//! Matrix product and the fully connected layer (`y = x·W + b`, W is `[in, out]`).

use super::{add_bias, check_inputs, rank, tensor_like};
use crate::autograd::Var;
use crate::backend::MatmulGeometry;
use crate::error::{Error, Result};

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
    Var::record(op, &[a, b], y, move |dy, needs| {
        let be = dy.device().backend();
        // da = dy · bᵀ ([m, n]·[n, k]); db = aᵀ · dy ([k, m]·[m, n]).
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
    })
}

/// Fully connected layer: `x[b, in] · w[in, out] + bias[out]`.
pub fn linear(x: &Var, w: &Var, bias: &Var) -> Result<Var> {
    add_bias(&matmul(x, w)?, bias)
}
