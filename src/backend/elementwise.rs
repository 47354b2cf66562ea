//! Element-wise maps, bias and broadcast over rows, the residual tail, column sums.

use super::{Activation, Rows, Storage};
use crate::error::Result;

/// Element-wise operations on two operands of the same length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// The shape and numbers of a residual block's tail (`ElementwiseOps::residual_tail`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResidualTail {
    pub shape: Rows,
    pub scale: f32,
    pub act: Activation,
}

/// The gradients of a residual tail: `dx = act'·dy` (the ReLU's mask from the output, as
/// `relu_backward`), `dup = dx·scale + 0` (as `affine` rounds it) and the bias's,
/// `dbias = sum_rows(dup)` (as `sum_rows` computes it, to the order of its f64 sums).
pub struct ResidualTailGradients {
    pub dx: Storage,
    pub dup: Storage,
    pub dbias: Storage,
}

pub trait ElementwiseOps {
    fn binary(&self, op: BinaryOp, a: &Storage, b: &Storage) -> Result<Storage>;
    /// `x·mul + add`.
    fn affine(&self, x: &Storage, mul: f32, add: f32) -> Result<Storage>;
    /// `eˣ` (the uncertainty weighting's task precisions).
    fn exp(&self, x: &Storage) -> Result<Storage>;
    /// `a + alpha·b`: the scaled residual add, and every gradient accumulation.
    fn add_scaled(&self, a: &Storage, b: &Storage, alpha: f32) -> Result<Storage>;
    /// `xs[0] + xs[1] + …` element-wise, added left to right (each addition rounded), in
    /// one pass: a tensor's gradient summed over all its consumers. At least one input,
    /// all of one length.
    fn sum_all(&self, xs: &[&Storage]) -> Result<Storage>;
    fn relu(&self, x: &Storage) -> Result<Storage>;
    /// `dy` where the ReLU output `y` is positive, else 0.
    fn relu_backward(&self, dy: &Storage, y: &Storage) -> Result<Storage>;
    /// `x[r, c] + bias[c]`.
    fn add_bias(&self, x: &Storage, bias: &Storage, shape: Rows) -> Result<Storage>;
    /// The tail of a residual block in one pass, `act(x + scale·(up + bias[c]))` over
    /// `[rows, cols]`, each operation rounded as `add_bias`, `add_scaled` and `relu` round it.
    fn residual_tail(&self, x: &Storage, up: &Storage, bias: &Storage, tail: ResidualTail) -> Result<Storage>;
    /// Its backward from `dy` and the output `y`, in one pass (see [`ResidualTailGradients`]).
    fn residual_tail_backward(&self, dy: &Storage, y: &Storage, tail: ResidualTail) -> Result<ResidualTailGradients>;
    /// Column sums of `x[rows, cols]` → `[cols]` (bias gradients, batch means).
    fn sum_rows(&self, x: &Storage, shape: Rows) -> Result<Storage>;
    /// `[cols]` repeated `rows` times → `[rows, cols]`.
    fn broadcast_rows(&self, x: &Storage, shape: Rows) -> Result<Storage>;
}
