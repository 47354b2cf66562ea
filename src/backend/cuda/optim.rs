//! PLACEHOLDER: replace with the real kernels' launches.
#![allow(unused_variables, clippy::too_many_arguments)]

use super::CudaBackend;
use crate::backend::*;
use crate::error::Result;
use crate::tensor::Storage;

pub fn sgd_momentum(b: &CudaBackend, param: &mut Storage, velocity: &mut Storage, grad: &Storage, hyper: SgdStep) -> Result<()> {
    Err(b.fail("sgd_momentum", "not implemented"))
}

pub fn rmsprop(b: &CudaBackend, param: &mut Storage, ms: &mut Storage, mom: &mut Storage, grad: &Storage, hyper: RmsPropStep) -> Result<()> {
    Err(b.fail("rmsprop", "not implemented"))
}

pub fn adam(b: &CudaBackend, param: &mut Storage, m: &mut Storage, v: &mut Storage, grad: &Storage, hyper: AdamStep) -> Result<()> {
    Err(b.fail("adam", "not implemented"))
}
