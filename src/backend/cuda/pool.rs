//! PLACEHOLDER: replace with the real kernels' launches.
#![allow(unused_variables, clippy::too_many_arguments)]

use super::CudaBackend;
use crate::backend::*;
use crate::error::Result;
use crate::tensor::Storage;

pub fn max_pool2d(b: &CudaBackend, x: &Storage, g: &Pool2dGeometry) -> Result<Storage> {
    Err(b.fail("max_pool2d", "not implemented"))
}

pub fn max_pool2d_backward(b: &CudaBackend, dy: &Storage, x: &Storage, g: &Pool2dGeometry) -> Result<Storage> {
    Err(b.fail("max_pool2d_backward", "not implemented"))
}

pub fn global_avg_pool(b: &CudaBackend, x: &Storage, batch: usize, hw: usize, channels: usize) -> Result<Storage> {
    Err(b.fail("global_avg_pool", "not implemented"))
}

pub fn global_avg_pool_backward(b: &CudaBackend, dy: &Storage, batch: usize, hw: usize, channels: usize) -> Result<Storage> {
    Err(b.fail("global_avg_pool_backward", "not implemented"))
}
