//! Activations as the next op reads them: a value, or a batch norm's output that is not
//! written unless a consumer needs it stored. A convolution or a concatenation computes such
//! an output from the batch norm's input where it loads each value, on backends that can
//! (`BatchNormOps::normalizes_where_loaded`; the CPU writes every batch norm's output), so
//! the training step writes and reads each of those activations once less.

use crate::autograd::Var;
use crate::backend::{BatchNorm, BatchNormGeometry, Values};
use crate::error::Result;
use crate::tensor::{Shape, Tensor};
use std::cell::RefCell;
use std::rc::Rc;

/// A batch norm as tensors: its input `x`, the statistics it normalises with, its shift.
#[derive(Clone)]
pub(super) struct Normalization {
    pub x: Tensor,
    pub mean: Tensor,
    pub var: Tensor,
    pub beta: Tensor,
    pub geometry: BatchNormGeometry,
}

impl Normalization {
    pub fn batch_norm(&self) -> BatchNorm<&crate::tensor::Storage> {
        BatchNorm {
            x: self.x.storage(),
            mean: self.mean.storage(),
            var: self.var.storage(),
            beta: self.beta.storage(),
            geometry: self.geometry,
        }
    }
}

/// What a consumer's backward keeps of its input: the stored tensor, or the batch norm
/// whose output it computed (held as tensors, not variables, so the tape holds no cycle).
#[derive(Clone)]
pub(super) enum Operand {
    Stored(Tensor),
    Normalized(Normalization),
}

impl Operand {
    pub fn values(&self) -> Values<'_> {
        match self {
            Operand::Stored(t) => Values::Stored(t.storage()),
            Operand::Normalized(n) => Values::Normalized(n.batch_norm()),
        }
    }

    /// A tensor on the operand's device (to shape results like).
    pub fn like(&self) -> &Tensor {
        match self {
            Operand::Stored(t) => t,
            Operand::Normalized(n) => &n.x,
        }
    }
}

/// A batch norm's output not yet written. `node` is the batch norm's op on the tape: its
/// value is the batch norm's input, its gradient the gradient of the output (the op's
/// backward takes it so), so consumers reading the output record `node` as their input.
pub struct DeferredBatchNorm {
    node: Var,
    normalization: Normalization,
    written: RefCell<Option<Var>>,
}

/// An activation as the next op reads it.
#[derive(Clone)]
pub enum Features {
    Value(Var),
    Deferred(Rc<DeferredBatchNorm>),
}

impl From<Var> for Features {
    fn from(v: Var) -> Features {
        Features::Value(v)
    }
}

impl Features {
    /// The output of the batch norm on `node`'s op whose input and statistics are
    /// `normalization` (`node`'s value is that input).
    pub(super) fn deferred(node: Var, normalization: Normalization) -> Features {
        Features::Deferred(Rc::new(DeferredBatchNorm { node, normalization, written: RefCell::new(None) }))
    }

    pub fn shape(&self) -> &Shape {
        self.node().shape()
    }

    /// The activation as a stored value: a deferred batch norm's output is written now (once,
    /// however many consumers ask), recorded as an op whose gradient passes straight to the
    /// batch norm's node.
    pub fn var(&self) -> Result<Var> {
        let d = match self {
            Features::Value(v) => return Ok(v.clone()),
            Features::Deferred(d) => d,
        };
        if let Some(v) = d.written.borrow().as_ref() {
            return Ok(v.clone());
        }
        let n = &d.normalization;
        let y = n.x.device().backend().batch_norm(n.batch_norm())?;
        let y = Tensor::from_storage(y, n.x.shape().clone(), n.x.device());
        let v = Var::record("batch_norm_output", &[&d.node], y, |dy, _| Ok(vec![Some(dy.clone())]))?;
        *d.written.borrow_mut() = Some(v.clone());
        Ok(v)
    }

    /// The variable a consumer records as its input.
    pub(super) fn node(&self) -> &Var {
        match self {
            Features::Value(v) => v,
            Features::Deferred(d) => &d.node,
        }
    }

    /// What a consumer reads, for its forward pass and its backward.
    pub(super) fn operand(&self) -> Operand {
        match self {
            Features::Value(v) => Operand::Stored(v.value().clone()),
            Features::Deferred(d) => Operand::Normalized(d.normalization.clone()),
        }
    }
}
