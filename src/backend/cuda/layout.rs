//! PLACEHOLDER: replace with the real kernels' launches.
#![allow(unused_variables, clippy::too_many_arguments)]

use super::CudaBackend;
use crate::backend::*;
use crate::error::Result;
use crate::tensor::Storage;

pub fn concat_cols(b: &CudaBackend, parts: &[(&Storage, usize)], rows: usize) -> Result<Storage> {
    Err(b.fail("concat_cols", "not implemented"))
}

pub fn slice_cols(b: &CudaBackend, x: &Storage, shape: Rows, start: usize, len: usize) -> Result<Storage> {
    Err(b.fail("slice_cols", "not implemented"))
}

pub fn gather_rows(b: &CudaBackend, x: &Storage, shape: Rows, index: &[usize]) -> Result<Storage> {
    Err(b.fail("gather_rows", "not implemented"))
}

pub fn scatter_add_rows(b: &CudaBackend, src: &Storage, shape: Rows, index: &[usize]) -> Result<Storage> {
    Err(b.fail("scatter_add_rows", "not implemented"))
}
