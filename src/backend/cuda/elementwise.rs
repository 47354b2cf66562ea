//! PLACEHOLDER: replace with the real kernels' launches.
#![allow(unused_variables, clippy::too_many_arguments)]

use super::CudaBackend;
use crate::backend::*;
use crate::error::Result;
use crate::tensor::Storage;

pub fn binary(b: &CudaBackend, op: BinaryOp, a: &Storage, b2: &Storage) -> Result<Storage> {
    Err(b.fail("binary", "not implemented"))
}

pub fn affine(b: &CudaBackend, x: &Storage, mul: f32, add: f32) -> Result<Storage> {
    Err(b.fail("affine", "not implemented"))
}

pub fn add_scaled(b: &CudaBackend, a: &Storage, b2: &Storage, alpha: f32) -> Result<Storage> {
    Err(b.fail("add_scaled", "not implemented"))
}

pub fn relu(b: &CudaBackend, x: &Storage) -> Result<Storage> {
    Err(b.fail("relu", "not implemented"))
}

pub fn relu_backward(b: &CudaBackend, dy: &Storage, y: &Storage) -> Result<Storage> {
    Err(b.fail("relu_backward", "not implemented"))
}

pub fn add_bias(b: &CudaBackend, x: &Storage, bias: &Storage, shape: Rows) -> Result<Storage> {
    Err(b.fail("add_bias", "not implemented"))
}

pub fn sum_rows(b: &CudaBackend, x: &Storage, shape: Rows) -> Result<Storage> {
    Err(b.fail("sum_rows", "not implemented"))
}

pub fn broadcast_rows(b: &CudaBackend, x: &Storage, shape: Rows) -> Result<Storage> {
    Err(b.fail("broadcast_rows", "not implemented"))
}

pub fn sum_squares(b: &CudaBackend, x: &Storage) -> Result<f64> {
    Err(b.fail("sum_squares", "not implemented"))
}
