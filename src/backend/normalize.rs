//! Row-wise normalisations of `[rows, cols]`: L2 normalisation and softmax.

use super::{Rows, Storage};
use crate::error::Result;

pub trait NormalizeOps {
    /// `x / √max(Σx², eps)` per row.
    fn l2_normalize(&self, x: &Storage, shape: Rows, eps: f32) -> Result<Storage>;
    fn l2_normalize_backward(&self, dy: &Storage, x: &Storage, shape: Rows, eps: f32) -> Result<Storage>;
    fn softmax(&self, x: &Storage, shape: Rows) -> Result<Storage>;
    /// From the softmax output `y`: `dx = y ⊙ (dy − Σ dy⊙y)`.
    fn softmax_backward(&self, dy: &Storage, y: &Storage, shape: Rows) -> Result<Storage>;
}
