//! Ops: validate shapes, dtypes and devices (typed errors naming the op and the shapes),
//! run the forward on the inputs' backend, and record the backward on the tape.
//!
//! Gradient contract: every backward returns fresh tensors; the tape accumulates them.

mod arith;
mod batch_norm;
mod conv;
mod dropout;
mod features;
mod layout;
mod linear;
mod loss;
mod normalize;
mod pool;

pub use crate::backend::{Activation, LossTerm};
pub use arith::{add, add_bias, add_scaled, affine, div, exp, mean, mean_rows, mul, relu, residual_tail, sub, sum};
pub use batch_norm::{batch_norm_infer, batch_norm_train, BatchNormStats};
pub use conv::{
    conv2d, conv_bn_infer, conv_bn_train, conv_geometry, conv_residual_tail, Conv2dSpec, MovingStats, Padding,
};
pub use dropout::dropout;
pub use features::{DeferredBatchNorm, Features};
pub use layout::{concat_channels, concat_features, element, gather_rows, reshape, slice_channels};
pub use linear::{linear, matmul};
pub use loss::{center_loss, softmax_cross_entropy, task_loss, weighted_losses};
pub use normalize::{l2_normalize, softmax, weight_head};
pub use pool::{global_avg_pool, max_pool2d, pool_geometry};

use crate::autograd::Var;
use crate::backend::Rows;
use crate::error::{Error, Result};
use crate::tensor::{Shape, Storage, Tensor};

/// Checks that every input is f32 and on the first input's device.
fn check_inputs(op: &'static str, inputs: &[&Var]) -> Result<()> {
    let first = inputs[0].device();
    for v in inputs {
        v.value().expect_f32(op)?;
        if !v.device().same_as(first) {
            return Err(Error::DeviceMismatch { op, lhs: first.name(), rhs: v.device().name() });
        }
    }
    Ok(())
}

fn same_shape(op: &'static str, a: &Var, b: &Var) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::ShapeMismatch { op, lhs: a.shape().clone(), rhs: b.shape().clone() });
    }
    Ok(())
}

fn non_empty(op: &'static str, x: &Var) -> Result<()> {
    if x.value().is_empty() {
        return Err(Error::EmptyBatch { op, shape: x.shape().clone() });
    }
    Ok(())
}

fn rank(op: &'static str, x: &Var, rank: usize) -> Result<()> {
    if x.shape().rank() != rank {
        return Err(Error::InvalidShape { op, shape: x.shape().clone(), reason: format!("expected rank {rank}") });
    }
    Ok(())
}

/// The `[rows, last dim]` view of a shape.
fn rows_of(shape: &Shape) -> Rows {
    Rows { rows: shape.rows(), cols: shape.last() }
}

/// A tensor of `shape` on `like`'s device holding `storage`.
fn tensor_like(like: &Tensor, storage: Storage, shape: impl Into<Shape>) -> Tensor {
    Tensor::from_storage(storage, shape, like.device())
}
