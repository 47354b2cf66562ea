//! Row-wise normalisations of `[rows, cols]`: L2 normalisation and softmax.

use super::{Rows, Storage};
use crate::error::Result;

/// The dynamic weight module's head over `a[rows, cols]` (the FC's product, before its
/// bias): `π = softmax(l2_normalize(a + bias, eps)·scale)` per row (the paper's eq. 5, 8).
#[derive(Clone, Copy)]
pub struct WeightHead<'a> {
    pub a: &'a Storage,
    pub bias: &'a Storage,
    pub shape: Rows,
    pub scale: f32,
    pub eps: f32,
}

pub trait NormalizeOps {
    /// `x / √max(Σx², eps)` per row.
    fn l2_normalize(&self, x: &Storage, shape: Rows, eps: f32) -> Result<Storage>;
    fn l2_normalize_backward(&self, dy: &Storage, x: &Storage, shape: Rows, eps: f32) -> Result<Storage>;
    fn softmax(&self, x: &Storage, shape: Rows) -> Result<Storage>;
    /// From the softmax output `y`: `dx = y ⊙ (dy − Σ dy⊙y)`.
    fn softmax_backward(&self, dy: &Storage, y: &Storage, shape: Rows) -> Result<Storage>;
    /// `π` of the weight head, in one pass, with the roundings of `add_bias`,
    /// `l2_normalize`, `affine(·, scale, 0)` and `softmax` in turn.
    fn weight_head(&self, on: WeightHead) -> Result<Storage>;
    /// Its backward from `dπ` and `π`: `∂L/∂a`, with the roundings of the same ops'
    /// backward passes (the bias gradient is its column sum).
    fn weight_head_backward(&self, dpi: &Storage, pi: &Storage, on: WeightHead) -> Result<Storage>;
}
