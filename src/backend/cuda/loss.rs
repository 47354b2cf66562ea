//! PLACEHOLDER: replace with the real kernels' launches.
#![allow(unused_variables, clippy::too_many_arguments)]

use super::CudaBackend;
use crate::backend::*;
use crate::error::Result;
use crate::tensor::Storage;

pub fn softmax_cross_entropy(b: &CudaBackend, logits: &Storage, labels: &[usize], shape: Rows) -> Result<(Storage, Storage)> {
    Err(b.fail("softmax_cross_entropy", "not implemented"))
}

pub fn softmax_cross_entropy_backward(b: &CudaBackend, dloss: &Storage, probs: &Storage, labels: &[usize], shape: Rows) -> Result<Storage> {
    Err(b.fail("softmax_cross_entropy_backward", "not implemented"))
}

pub fn center_loss(b: &CudaBackend, embeddings: &Storage, centers: &Storage, labels: &[usize], shape: Rows) -> Result<Storage> {
    Err(b.fail("center_loss", "not implemented"))
}

pub fn center_loss_backward(b: &CudaBackend, dloss: &Storage, embeddings: &Storage, centers: &Storage, labels: &[usize], shape: Rows) -> Result<Storage> {
    Err(b.fail("center_loss_backward", "not implemented"))
}
