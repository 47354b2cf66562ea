//! PLACEHOLDER: replace with the real kernels' launches.
#![allow(unused_variables, clippy::too_many_arguments)]

use super::CudaBackend;
use crate::backend::*;
use crate::error::Result;
use crate::tensor::Storage;

pub fn mask(b: &CudaBackend, len: usize, keep: f32, seed: u64) -> Result<Storage> {
    Err(b.fail("mask", "not implemented"))
}
