//! Activations as the next op reads them: a value, or a batch norm's output that is not
//! written unless a consumer needs it stored. A convolution or a concatenation computes such
//! an output from the batch norm's input where it loads each value, on backends that can
//! (`BatchNormOps::normalizes_where_loaded`; the CPU writes every batch norm's output), so
//! the training step writes and reads each of those activations once less.

use crate::autograd::Var;
use crate::backend::{BatchNorm, BatchNormGeometry, BnSums, Values};
use crate::error::Result;
use crate::tensor::{Shape, Tensor};
use std::cell::{Cell, RefCell};
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

/// A deferred batch norm's backward sums as its one consumer can leave them: computed in
/// the consumer's backward pass over the gradient it hands back (a convolution's
/// input-gradient tiles), so the batch norm's own backward skips that pass. They serve only
/// the very gradient they were computed from: with more consumers the tape adds theirs
/// into another tensor first.
#[derive(Default)]
pub(super) struct ConsumerSums {
    consumers: Cell<usize>,
    left: RefCell<Option<(Tensor, BnSums<Tensor>)>>,
}

impl ConsumerSums {
    /// Whether a consumer's sums could serve: it is the only consumer.
    pub fn wanted(&self) -> bool {
        self.consumers.get() == 1
    }

    /// Leaves `sums`, computed over the gradient `dy` the consumer hands back.
    pub fn leave(&self, dy: &Tensor, sums: BnSums<Tensor>) {
        *self.left.borrow_mut() = Some((dy.clone(), sums));
    }

    /// The sums left for exactly this gradient, if any (taken: each serves one backward pass).
    pub fn take_for(&self, dy: &Tensor) -> Option<BnSums<Tensor>> {
        let left = self.left.borrow_mut().take()?;
        left.0.shares_storage(dy).then_some(left.1)
    }
}

/// What a consumer's backward keeps of its input: the stored tensor, or the batch norm
/// whose output it computed (held as tensors, not variables, so the tape holds no cycle)
/// with the place to leave that batch norm's backward sums.
#[derive(Clone)]
pub(super) enum Operand {
    Stored(Tensor),
    Normalized(Normalization, Rc<ConsumerSums>),
}

impl Operand {
    pub fn values(&self) -> Values<'_> {
        match self {
            Operand::Stored(t) => Values::Stored(t.storage()),
            Operand::Normalized(n, _) => Values::Normalized(n.batch_norm()),
        }
    }

    /// A tensor on the operand's device (to shape results like).
    pub fn like(&self) -> &Tensor {
        match self {
            Operand::Stored(t) => t,
            Operand::Normalized(n, _) => &n.x,
        }
    }

    /// The batch norm whose output the consumer computes, if it does.
    pub fn normalization(&self) -> Option<&Normalization> {
        match self {
            Operand::Normalized(n, _) => Some(n),
            Operand::Stored(_) => None,
        }
    }

    /// Where this consumer leaves the input batch norm's backward sums, when they would serve.
    pub fn sums_wanted(&self) -> Option<&ConsumerSums> {
        match self {
            Operand::Normalized(_, sums) if sums.wanted() => Some(sums),
            _ => None,
        }
    }
}

/// A batch norm's output not yet written. `node` is the batch norm's op on the tape: its
/// value is the batch norm's input, its gradient the gradient of the output (the op's
/// backward takes it so), so consumers reading the output record `node` as their input.
pub struct DeferredBatchNorm {
    node: Var,
    normalization: Normalization,
    sums: Rc<ConsumerSums>,
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
    /// `normalization` (`node`'s value is that input); its one consumer may leave the
    /// backward sums in `sums`.
    pub(super) fn deferred(node: Var, normalization: Normalization, sums: Rc<ConsumerSums>) -> Features {
        Features::Deferred(Rc::new(DeferredBatchNorm { node, normalization, sums, written: RefCell::new(None) }))
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
        d.sums.consumers.set(d.sums.consumers.get() + 1);
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

    /// What a consumer reads, for its forward pass and its backward (counted as a consumer).
    pub(super) fn operand(&self) -> Operand {
        match self {
            Features::Value(v) => Operand::Stored(v.value().clone()),
            Features::Deferred(d) => {
                d.sums.consumers.set(d.sums.consumers.get() + 1);
                Operand::Normalized(d.normalization.clone(), d.sums.clone())
            }
        }
    }
}
