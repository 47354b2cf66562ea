//! Dense matrix products.

use super::{Activation, Storage};
use crate::error::Result;

/// A matrix product `c[m, n] = op(a) · op(b)` where `op(a)` is `[m, k]` and `op(b)` `[k, n]`;
/// a transposed operand is stored as its transpose (`a` as `[k, m]`, `b` as `[n, k]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulGeometry {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub transpose_a: bool,
    pub transpose_b: bool,
}

pub trait MatmulOps {
    fn matmul(&self, a: &Storage, b: &Storage, g: &MatmulGeometry) -> Result<Storage>;
    /// A fully connected layer, `act(x[m, k]·w[k, n] + bias[n])` (`g` untransposed), with the
    /// roundings of `matmul`, `add_bias` and `relu`; on CUDA one launch, the bias and the
    /// activation in the GEMM's epilogue.
    fn linear(&self, x: &Storage, w: &Storage, bias: &Storage, g: &MatmulGeometry, act: Activation) -> Result<Storage>;
}
