//! Per-row losses over `[rows, cols]` against integer labels: softmax cross-entropy and
//! center loss.

use super::{Rows, Storage};
use crate::error::Result;

pub trait LossOps {
    /// Per-row cross-entropy of `logits` against `labels`: `(losses[rows], probs[rows, cols])`.
    fn softmax_cross_entropy(&self, logits: &Storage, labels: &[usize], shape: Rows) -> Result<(Storage, Storage)>;
    /// `dlogits[r] = dloss[r]·(probs[r] − onehot(labels[r]))`.
    fn softmax_cross_entropy_backward(
        &self,
        dloss: &Storage,
        probs: &Storage,
        labels: &[usize],
        shape: Rows,
    ) -> Result<Storage>;
    /// Per-row `½‖e_r − centers[labels[r]]‖²` → `[rows]`.
    fn center_loss(&self, embeddings: &Storage, centers: &Storage, labels: &[usize], shape: Rows) -> Result<Storage>;
    /// `de[r] = dloss[r]·(e_r − centers[labels[r]])`.
    fn center_loss_backward(
        &self,
        dloss: &Storage,
        embeddings: &Storage,
        centers: &Storage,
        labels: &[usize],
        shape: Rows,
    ) -> Result<Storage>;
}
