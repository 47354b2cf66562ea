//! Per-row losses over `[rows, cols]` against integer labels: softmax cross-entropy and
//! center loss, the center update, and one task's whole loss.

use super::{Rows, Storage};
use crate::error::Result;

/// The rows a loss runs over: `shape` (`[rows, cols]`) and one class label per row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelledRows<'a> {
    pub labels: &'a [usize],
    pub shape: Rows,
}

/// The rows of one task's loss: a label per row, the logits' width (`classes`), the
/// embeddings' (`dim`), and the center term's weight λ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TaskRows<'a> {
    pub labels: &'a [usize],
    pub classes: usize,
    pub dim: usize,
    pub lambda: f32,
}

impl TaskRows<'_> {
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// The mean's factor over the rows, as `ops::mean` takes it.
    pub fn mean_scale(&self) -> f32 {
        1.0 / self.rows().max(1) as f32
    }
}

/// How a weighted sum of task losses takes each loss (`LossOps::weighted_losses`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LossTerm {
    /// `w·L`.
    Product,
    /// `w/(L + σ)` (the dynamic weight module's objective, eq. 12).
    Inverse { sigma: f32 },
}

/// A weighted sum of task losses, `Σ_t term(weights[indices[t]], losses[t])`, the terms
/// added in order: the objectives that combine the tasks' losses with their weights.
#[derive(Clone, Copy)]
pub struct WeightedLosses<'a> {
    pub weights: &'a Storage,
    /// One scalar (`[1]`) per term.
    pub losses: &'a [&'a Storage],
    /// Each term's weight, an index into `weights`.
    pub indices: &'a [usize],
    pub term: LossTerm,
}

/// What one task's loss reads beside its logits: the embeddings, the centers and the rows.
#[derive(Clone, Copy)]
pub struct TaskLoss<'a> {
    pub e: &'a Storage,
    pub centers: &'a Storage,
    pub rows: TaskRows<'a>,
}

/// The gradients of a weighted sum of losses: the weights', and each loss's when asked for.
pub type LossGradients = (Storage, Vec<Storage>);

pub trait LossOps {
    /// Per-row cross-entropy of `logits` against the labels: `(losses[rows], probs[rows, cols])`.
    fn softmax_cross_entropy(&self, logits: &Storage, on: LabelledRows) -> Result<(Storage, Storage)>;
    /// `dlogits[r] = dy[r]·(probs[r] − onehot(labels[r]))`.
    fn softmax_cross_entropy_backward(&self, dy: &Storage, probs: &Storage, on: LabelledRows) -> Result<Storage>;
    /// Per-row `½‖e_r − centers[labels[r]]‖²` → `[rows]`.
    fn center_loss(&self, embeddings: &Storage, centers: &Storage, on: LabelledRows) -> Result<Storage>;
    /// `de[r] = dy[r]·(e_r − centers[labels[r]])`.
    fn center_loss_backward(&self, dy: &Storage, e: &Storage, centers: &Storage, on: LabelledRows) -> Result<Storage>;
    /// The batch's update of the centers, in place (center loss, Wen et al. 2016): for every
    /// class j among the labels, with ē_j the mean of its rows of `e` (summed in row order,
    /// in f32), `c_j ← c_j − rest·(c_j − ē_j)`; the other classes unchanged. `rest` is 1 − α.
    /// Runs only when `gate`'s first value is finite (a group control).
    fn center_update(
        &self,
        centers: &mut Storage,
        e: &Storage,
        on: LabelledRows,
        rest: f32,
        gate: &Storage,
    ) -> Result<()>;
    /// One task's loss, `mean_r(CE(logits_r, y_r) + λ·½‖e_r − centers[y_r]‖²)`, in one pass:
    /// `(loss[1], probs[rows, classes])`, each term rounded as `softmax_cross_entropy`,
    /// `center_loss`, `add_scaled` and the mean (`sum_rows`, then `affine` by 1/rows) round
    /// it (the mean's f64 sum in row order).
    fn task_loss(&self, logits: &Storage, on: TaskLoss) -> Result<(Storage, Storage)>;
    /// Its backward from `dloss[1]`: `(dlogits, de)`, with the roundings of the same ops'
    /// backward passes.
    fn task_loss_backward(&self, dloss: &Storage, probs: &Storage, on: TaskLoss) -> Result<(Storage, Storage)>;
    /// `Σ_t term(w_{i_t}, L_t)` → `[1]`, in one pass, each operation rounded as `mul`,
    /// `affine(L, 1, σ)`, `div` and the left-to-right `add`s of the separate ops round it.
    fn weighted_losses(&self, on: WeightedLosses) -> Result<Storage>;
    /// Its backward from `dy[1]`: the weights' gradient (zero where no term reads a
    /// weight) and, when `want_losses`, each loss's (`[1]` each), as the separate ops'
    /// backward passes round them.
    fn weighted_losses_backward(&self, dy: &Storage, on: WeightedLosses, want_losses: bool) -> Result<LossGradients>;
}
