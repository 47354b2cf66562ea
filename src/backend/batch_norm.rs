//! Batch normalisation with a shift and no scale, statistics per channel of
//! `x[rows, channels]`, the following activation fused in.

use super::{Rows, Storage};
use crate::error::Result;

/// The activation an op applies to its result before writing it (fused, so the
/// activations are read and written once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Relu,
}

/// What a batch norm computes over `x[rows, channels]`:
/// `act((x − mean)/√(var + eps) + beta)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormGeometry {
    pub shape: Rows,
    pub eps: f32,
    pub act: Activation,
}

/// One batch norm: what it normalises (`x`), the per-channel statistics it normalises with
/// and the shift (`[channels]` each), and how. `T` is what holds the values: `&Storage` at
/// the backend boundary, `&[f32]` in the CPU's kernels.
#[derive(Clone, Copy, Debug)]
pub struct BatchNorm<T> {
    pub x: T,
    pub mean: T,
    pub var: T,
    pub beta: T,
    pub geometry: BatchNormGeometry,
}

/// A training batch norm's backward sums over its output gradient dy, with g = dy·act'(x̂ + β):
/// `dbeta = Σg` (`[channels]`) and `means = [mean(g), mean(g·x̂)]` (`[2·channels]`), what
/// its dx needs besides dy.
#[derive(Clone, Copy, Debug)]
pub struct BnSums<T> {
    pub dbeta: T,
    pub means: T,
}

/// Values an op reads: stored, or a batch norm's output that the op computes from the batch
/// norm's input as it loads each value, so the normalised tensor is never written (the
/// convolutions' loaders and the concatenation do this on CUDA; see
/// [`BatchNormOps::normalizes_where_loaded`]).
#[derive(Clone, Copy, Debug)]
pub enum Values<'a> {
    Stored(&'a Storage),
    Normalized(BatchNorm<&'a Storage>),
}

impl<'a> From<&'a Storage> for Values<'a> {
    fn from(s: &'a Storage) -> Values<'a> {
        Values::Stored(s)
    }
}

impl<'a> Values<'a> {
    /// The stored values (a normalised operand's input for `Normalized`).
    pub fn storage(&self) -> &'a Storage {
        match self {
            Values::Stored(s) => s,
            Values::Normalized(bn) => bn.x,
        }
    }
}

pub trait BatchNormOps {
    /// Whether [`Values::Normalized`] operands cost no pass of their own here: when not
    /// (the CPU), ops write a batch norm's output once and hand consumers the stored values.
    fn normalizes_where_loaded(&self) -> bool {
        false
    }

    /// Per-channel batch mean and biased variance of `x[rows, channels]`.
    fn batch_norm_stats(&self, x: &Storage, shape: Rows) -> Result<(Storage, Storage)>;
    /// `act((x − mean)/√(var + eps) + beta)`.
    fn batch_norm(&self, bn: BatchNorm<&Storage>) -> Result<Storage>;
    /// The training-mode backward's sums (see [`BnSums`]) of each batch norm of `parts`
    /// over its `dy`, in one pass where the backend can (one launch on CUDA).
    fn batch_norm_backward_sums(&self, parts: &[(&Storage, BatchNorm<&Storage>)]) -> Result<Vec<BnSums<Storage>>>;
    /// Gradient of the training-mode batch norm (`mean` and `var` are `x`'s batch
    /// statistics) followed by `act`: `(dx, dbeta)`. The activation's derivative is
    /// recomputed from `x`.
    fn batch_norm_backward(&self, dy: &Storage, bn: BatchNorm<&Storage>) -> Result<(Storage, Storage)>;
}
