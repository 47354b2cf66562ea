//! One training forward and the paper's two objectives (eq. 1, 7, 11, 12):
//! - network θ: L = Σ_t sg(w_t)·L_t,
//! - weight module ψ: L_w = Σ_t w_t/(sg(L_t) + σ),
//!
//! with L_t = mean over the task's samples of CE(logits, y) + λ·½‖e − c_y‖².
//! A task with no sample in the batch contributes no term.

use super::network::CENTERS;
use super::weight_module::TaskWeights;
use super::{Batch, BranchOutput, MultiTaskNet, ObjectiveConfig, Task};
use crate::autograd::Var;
use crate::error::{Error, Result};
use crate::nn::Ctx;
use crate::ops;

pub struct TaskForward {
    pub task: Task,
    /// The batch positions the task read.
    pub samples: Vec<usize>,
    pub output: BranchOutput,
    /// L_t.
    pub loss: Var,
}

pub struct TrainForward {
    pub z: Var,
    pub tasks: [Option<TaskForward>; 3],
    pub weights: TaskWeights,
    /// L, the network's objective.
    pub loss: Var,
    /// L_w, the weight module's objective.
    pub loss_w: Var,
}

impl TrainForward {
    /// L_t of each task present in the batch.
    pub fn task_losses(&self) -> Result<[Option<f32>; 3]> {
        let mut out = [None; 3];
        for (o, t) in out.iter_mut().zip(&self.tasks) {
            if let Some(t) = t {
                *o = Some(t.loss.value().to_scalar()?);
            }
        }
        Ok(out)
    }
}

/// Branch t's dropout stream: `dropout_seed + t` (t = 0, 1, 2).
fn branch_seed(dropout_seed: u64, task: Task) -> u64 {
    dropout_seed.wrapping_add(task.index() as u64)
}

/// The training forward of the paper's dynamic multi-task model.
pub fn dynamic_objective(
    net: &MultiTaskNet,
    ctx: &Ctx,
    batch: &Batch,
    dropout_seed: u64,
    obj: &ObjectiveConfig,
) -> Result<TrainForward> {
    let centers = ctx.params.get(CENTERS)?;
    let z = net.trunk_forward(ctx, &Var::constant(batch.images.clone()))?;
    let mut tasks: [Option<TaskForward>; 3] = [None, None, None];
    for (slot, branch) in tasks.iter_mut().zip(&net.branches) {
        let task = branch.task;
        let samples = batch.samples(task);
        if samples.is_empty() {
            continue;
        }
        let input = if samples.len() == batch.len() { z.clone() } else { ops::gather_rows(&z, &samples)? };
        let output = branch.forward(ctx, &input, branch_seed(dropout_seed, task))?;
        let labels: Vec<usize> = samples.iter().map(|&i| batch.labels[i]).collect();
        let ce = ops::softmax_cross_entropy(&output.logits, &labels)?;
        let center = ops::center_loss(&output.embeddings, centers, &labels)?;
        let loss = ops::mean(&ops::add_scaled(&ce, &center, obj.center_loss_lambda)?)?;
        *slot = Some(TaskForward { task, samples, output, loss });
    }

    // In the paper's objectives ψ sees Z as a constant, so L_w's gradient cannot reach
    // θ; the reference code's path lets L's gradient flow back through w into the trunk.
    let z_for_weights = if obj.reference_gradient_path { z.clone() } else { z.detach() };
    let weights = net.weight_module.forward(ctx, &z_for_weights)?;
    let mut loss: Option<Var> = None;
    let mut loss_w: Option<Var> = None;
    for t in tasks.iter().flatten() {
        let w_t = ops::element(&weights.weights, t.task.index())?;
        let w_in_l = if obj.reference_gradient_path { w_t.clone() } else { w_t.detach() };
        let term = ops::mul(&w_in_l, &t.loss)?;
        let term_w = ops::div(&w_t, &ops::affine(&t.loss.detach(), 1.0, obj.sigma)?)?;
        loss = Some(match loss {
            None => term,
            Some(l) => ops::add(&l, &term)?,
        });
        loss_w = Some(match loss_w {
            None => term_w,
            Some(l) => ops::add(&l, &term_w)?,
        });
    }
    // Verification reads every sample, so only an empty batch has no term.
    let (Some(loss), Some(loss_w)) = (loss, loss_w) else {
        return Err(Error::EmptyBatch { op: "dynamic_objective", shape: batch.images.shape().clone() });
    };
    Ok(TrainForward { z, tasks, weights, loss, loss_w })
}
