//! Max pooling over windows and global average pooling of NHWC activations.

use super::Storage;
use crate::error::Result;

/// A pooling window over NHWC input with VALID padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dGeometry {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub channels: usize,
    pub window: usize,
    pub stride: usize,
    pub out_h: usize,
    pub out_w: usize,
}

pub trait PoolOps {
    fn max_pool2d(&self, x: &Storage, g: &Pool2dGeometry) -> Result<Storage>;
    /// Routes each output gradient to the first maximum of its window in `x`.
    fn max_pool2d_backward(&self, dy: &Storage, x: &Storage, g: &Pool2dGeometry) -> Result<Storage>;
    /// Mean over the spatial positions of `x[batch, hw, channels]` → `[batch, channels]`.
    fn global_avg_pool(&self, x: &Storage, batch: usize, hw: usize, channels: usize) -> Result<Storage>;
    fn global_avg_pool_backward(&self, dy: &Storage, batch: usize, hw: usize, channels: usize) -> Result<Storage>;
}
