//! Per-row losses over `[rows, cols]` against integer labels: softmax cross-entropy and
//! center loss.

use super::{Rows, Storage};
use crate::error::Result;

/// The rows a loss runs over: `shape` (`[rows, cols]`) and one class label per row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelledRows<'a> {
    pub labels: &'a [usize],
    pub shape: Rows,
}

pub trait LossOps {
    /// Per-row cross-entropy of `logits` against the labels: `(losses[rows], probs[rows, cols])`.
    fn softmax_cross_entropy(&self, logits: &Storage, on: LabelledRows) -> Result<(Storage, Storage)>;
    /// `dlogits[r] = dy[r]·(probs[r] − onehot(labels[r]))`.
    fn softmax_cross_entropy_backward(&self, dy: &Storage, probs: &Storage, on: LabelledRows) -> Result<Storage>;
    /// Per-row `½‖e_r − centers[labels[r]]‖²` → `[rows]`.
    fn center_loss(&self, embeddings: &Storage, centers: &Storage, on: LabelledRows) -> Result<Storage>;
    /// `de[r] = dy[r]·(e_r − centers[labels[r]])`.
    fn center_loss_backward(&self, dy: &Storage, e: &Storage, centers: &Storage, on: LabelledRows) -> Result<Storage>;
    /// The centers after the batch's update (center loss, Wen et al. 2016): for every class
    /// j among the labels, with ē_j the mean of its rows of `e` (summed in row order, in
    /// f32), `c_j − rest·(c_j − ē_j)`; the other classes unchanged. `rest` is 1 − α.
    fn center_update(&self, centers: &Storage, e: &Storage, on: LabelledRows, rest: f32) -> Result<Storage>;
}
