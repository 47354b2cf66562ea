//! PLACEHOLDER: replace with the real kernels' launches.
#![allow(unused_variables, clippy::too_many_arguments)]

use super::CudaBackend;
use crate::backend::*;
use crate::error::Result;
use crate::tensor::Storage;

pub fn forward(b: &CudaBackend, x: &Storage, w: &Storage, g: &Conv2dGeometry) -> Result<Storage> {
    Err(b.fail("forward", "not implemented"))
}

pub fn input_grad(b: &CudaBackend, dy: &Storage, w: &Storage, g: &Conv2dGeometry) -> Result<Storage> {
    Err(b.fail("input_grad", "not implemented"))
}

pub fn weight_grad(b: &CudaBackend, x: &Storage, dy: &Storage, g: &Conv2dGeometry) -> Result<Storage> {
    Err(b.fail("weight_grad", "not implemented"))
}
