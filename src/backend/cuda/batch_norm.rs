//! PLACEHOLDER: replace with the real kernels' launches.
#![allow(unused_variables, clippy::too_many_arguments)]

use super::CudaBackend;
use crate::backend::*;
use crate::error::Result;
use crate::tensor::Storage;

pub fn stats(b: &CudaBackend, x: &Storage, shape: Rows) -> Result<(Storage, Storage)> {
    Err(b.fail("stats", "not implemented"))
}

pub fn forward(b: &CudaBackend, x: &Storage, mean: &Storage, var: &Storage, beta: &Storage, shape: Rows, eps: f32, act: Activation) -> Result<Storage> {
    Err(b.fail("forward", "not implemented"))
}

pub fn backward(b: &CudaBackend, dy: &Storage, x: &Storage, mean: &Storage, var: &Storage, beta: &Storage, shape: Rows, eps: f32, act: Activation) -> Result<(Storage, Storage)> {
    Err(b.fail("backward", "not implemented"))
}
