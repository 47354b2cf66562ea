//! Channel concat and slice, row gather, reshape, element pick.

use super::features::Features;
use super::{check_inputs, rows_of, tensor_like};
use crate::autograd::Var;
use crate::backend::{BnSums, Rows};
use crate::error::{Error, Result};
use crate::tensor::{Shape, Tensor};
use std::ops::Range;

/// Concatenates along the last dimension; all other dimensions must agree.
pub fn concat_channels(parts: &[&Var]) -> Result<Var> {
    concat_features(&parts.iter().map(|&p| Features::Value(p.clone())).collect::<Vec<_>>())
}

/// [`concat_channels`] of activations, a deferred batch norm's output computed as it is
/// copied.
pub fn concat_features(parts: &[Features]) -> Result<Var> {
    let op = "concat";
    let Some(first) = parts.first() else {
        return Err(Error::invalid(op, "no tensors to concatenate"));
    };
    let nodes: Vec<&Var> = parts.iter().map(Features::node).collect();
    check_inputs(op, &nodes)?;
    let lead = &first.shape().dims()[..first.shape().rank().saturating_sub(1)];
    for p in parts {
        if p.shape().rank() != first.shape().rank() || &p.shape().dims()[..lead.len()] != lead {
            return Err(Error::ShapeMismatch { op, lhs: first.shape().clone(), rhs: p.shape().clone() });
        }
    }
    let rows = first.shape().rows();
    let widths: Vec<usize> = parts.iter().map(|p| p.shape().last()).collect();
    let total: usize = widths.iter().sum();
    let operands: Vec<_> = parts.iter().map(Features::operand).collect();
    let values: Vec<_> = operands.iter().zip(&widths).map(|(p, &c)| (p.values(), c)).collect();
    let ft = operands[0].like();
    let y = ft.device().backend().concat_cols(&values, rows)?;
    let out_shape = first.shape().with_last(total);
    let y = tensor_like(ft, y, out_shape);
    let in_shapes: Vec<Shape> = parts.iter().map(|p| p.shape().clone()).collect();
    Var::record(op, &nodes, y, move |dy, needs| {
        // Every needed part's columns in one pass.
        let mut start = 0;
        let ranges: Vec<Range<usize>> = widths
            .iter()
            .map(|&c| {
                start += c;
                start - c..start
            })
            .collect();
        let needed: Vec<Range<usize>> = ranges.iter().zip(needs).filter(|(_, &n)| n).map(|(r, _)| r.clone()).collect();
        let be = dy.device().backend();
        let mut slices = be.slice_cols(dy.storage(), Rows { rows, cols: total }, &needed)?.into_iter();
        let grads: Vec<Option<Tensor>> = needs
            .iter()
            .zip(&in_shapes)
            .map(|(&need, shape)| {
                need.then(|| tensor_like(dy, slices.next().expect("a slice per needed part"), shape.clone()))
            })
            .collect();
        // The deferred parts this concatenation alone consumes: their batch norms' backward
        // sums over their slices, all in one pass, left for the batch norms' own backward.
        let deferred: Vec<_> = operands
            .iter()
            .zip(&grads)
            .filter_map(|(p, g)| Some((p.sums_wanted()?, p.normalization()?, g.as_ref()?)))
            .collect();
        let parts: Vec<_> = deferred.iter().map(|(_, n, g)| (g.storage(), n.batch_norm())).collect();
        for ((slot, n, g), sums) in deferred.iter().zip(be.batch_norm_backward_sums(&parts)?) {
            let c = n.x.shape().last();
            slot.leave(
                g,
                BnSums { dbeta: tensor_like(g, sums.dbeta, [c]), means: tensor_like(g, sums.means, [2 * c]) },
            );
        }
        Ok(grads)
    })
}

/// Channels `start..start + len` of the last dimension.
pub fn slice_channels(x: &Var, start: usize, len: usize) -> Result<Var> {
    let op = "slice";
    check_inputs(op, &[x])?;
    let shape = rows_of(x.shape());
    if len == 0 || start + len > shape.cols {
        return Err(Error::InvalidShape {
            op,
            shape: x.shape().clone(),
            reason: format!("channels {start}..{} out of range", start + len),
        });
    }
    let xt = x.value();
    let y =
        xt.device().backend().slice_cols(xt.storage(), shape, std::slice::from_ref(&(start..start + len)))?.remove(0);
    let y = tensor_like(xt, y, x.shape().with_last(len));
    let in_shape = x.shape().clone();
    Var::record(op, &[x], y, move |dy, _| {
        // The adjoint of a slice pads the gradient with zeros on both sides.
        let be = dy.device().backend();
        let before = be.zeros(shape.rows * start)?;
        let after = be.zeros(shape.rows * (shape.cols - start - len))?;
        let dx = be.concat_cols(
            &[(&before, start), (dy.storage(), len), (&after, shape.cols - start - len)].map(|(s, c)| (s.into(), c)),
            shape.rows,
        )?;
        Ok(vec![Some(tensor_like(dy, dx, in_shape.clone()))])
    })
}

/// Element `i` of a vector as a `[1]` tensor (e.g. one task's weight).
pub fn element(x: &Var, i: usize) -> Result<Var> {
    let flat = reshape(x, [1, x.value().len()])?;
    reshape(&slice_channels(&flat, i, 1)?, Shape::scalar())
}

/// Rows `index[i]` of the first dimension, in order (e.g. a task's samples of the batch).
pub fn gather_rows(x: &Var, index: &[usize]) -> Result<Var> {
    let op = "gather_rows";
    check_inputs(op, &[x])?;
    let n = x.dims().first().copied().unwrap_or(0);
    if index.is_empty() {
        return Err(Error::EmptyBatch { op, shape: Shape::new([0]) });
    }
    if let Some(&bad) = index.iter().find(|&&i| i >= n) {
        return Err(Error::InvalidShape { op, shape: x.shape().clone(), reason: format!("row {bad} out of range") });
    }
    let shape = Rows { rows: n, cols: x.value().len() / n };
    let xt = x.value();
    let y = xt.device().backend().gather_rows(xt.storage(), shape, index)?;
    let mut dims = x.dims().to_vec();
    dims[0] = index.len();
    let y = tensor_like(xt, y, dims);
    let index = index.to_vec();
    let in_shape = x.shape().clone();
    Var::record(op, &[x], y, move |dy, _| {
        let dx = dy.device().backend().scatter_add_rows(dy.storage(), shape, &index)?;
        Ok(vec![Some(tensor_like(dy, dx, in_shape.clone()))])
    })
}

/// The same values under another shape with as many elements.
pub fn reshape(x: &Var, shape: impl Into<Shape>) -> Result<Var> {
    let y = x.value().reshape(shape)?;
    let in_shape = x.shape().clone();
    Var::record("reshape", &[x], y, move |dy, _| Ok(vec![Some(dy.reshape(in_shape.clone())?)]))
}
