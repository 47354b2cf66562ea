//! One line of the training log (JSONL): everything a step measured.

use serde::{Deserialize, Serialize};

/// A training step's figures. Task arrays are in the paper's order (verification,
/// photo-id, caricature-id); a task with no sample in the batch has `None` loss and
/// accuracy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Steps done, counting this one (1 for the first step).
    pub step: u64,
    /// The schedule's epoch (from 1).
    pub epoch: u64,
    /// L_t.
    pub losses: [Option<f32>; 3],
    /// w_t as used in this step's objective.
    pub weights: [f32; 3],
    /// Training accuracy of each task's branch on its samples of the batch.
    pub accuracies: [Option<f32>; 3],
    /// The network's objective L.
    pub loss: f32,
    /// The weight module's objective (absent for strategies without one).
    pub weight_loss: Option<f32>,
    /// Learning rate of the network.
    pub lr: f32,
    /// Images per second over this step (data wait included).
    pub images_per_second: f32,
    /// Seconds since the run (or the resumed run) started.
    pub elapsed: f64,
}
