//! One training forward and the two objectives of the chosen weighting strategy. For the
//! paper's dynamic weighting (eq. 1, 7, 11, 12):
//! - network θ: L = Σ_t sg(w_t)·L_t,
//! - weight module ψ: L_w = Σ_t w_t/(sg(L_t) + σ),
//!
//! with L_t = mean over the task's samples of CE(logits, y) + λ·½‖e − c_y‖².
//! A task with no sample in the batch contributes no term.

use super::network::CENTERS;
use super::weight_module::TaskWeights;
use super::weighting::LOG_VARIANCE;
use super::{BranchOutput, MultiTaskNet, ObjectiveConfig, Weighting};
use crate::autograd::Var;
use crate::batch::{Batch, Task};
use crate::error::{Error, Result};
use crate::nn::Ctx;
use crate::ops::{self, LossTerm};
use crate::tensor::Tensor;

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
    /// L, the network's objective. Strategies without `loss_w` also train their weight
    /// parameters (if any) on it.
    pub loss: Var,
    /// L_w, the weight module's own objective (dynamic and naive weighting).
    pub loss_w: Option<Var>,
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

    /// What a step reports, still on the device, to be read back together with whatever
    /// else the step reads (one wait): each present task's loss and logits, the task
    /// weights w, L and L_w.
    pub fn readout_tensors(&self) -> ReadoutTensors {
        let tasks: Vec<&TaskForward> = self.tasks.iter().flatten().collect();
        let mut tensors = vec![self.weights.weights.value().clone(), self.loss.value().clone()];
        tensors.extend(self.loss_w.as_ref().map(|l| l.value().clone()));
        for t in &tasks {
            tensors.extend([t.loss.value().clone(), t.output.logits.value().clone()]);
        }
        let tasks = tasks.iter().map(|t| (t.task, t.samples.clone())).collect();
        ReadoutTensors { tensors, has_loss_w: self.loss_w.is_some(), tasks }
    }
}

/// A step's figures on the device ([`TrainForward::readout_tensors`]).
pub struct ReadoutTensors {
    tensors: Vec<Tensor>,
    has_loss_w: bool,
    /// The present tasks with the batch positions each read.
    tasks: Vec<(Task, Vec<usize>)>,
}

impl ReadoutTensors {
    pub fn tensors(&self) -> Vec<&Tensor> {
        self.tensors.iter().collect()
    }

    /// The figures from the tensors' values, in [`ReadoutTensors::tensors`]' order: each
    /// present task's loss and accuracy (the fraction of its samples whose logits' arg-max
    /// is the label), the task weights w, L and L_w.
    pub fn decode(&self, values: Vec<Vec<f32>>, batch: &Batch) -> StepReadouts {
        let mut values = values.into_iter();
        let mut next = || values.next().expect("one value list per tensor read");
        let weights = next();
        let loss = next()[0];
        let loss_w = self.has_loss_w.then(|| next()[0]);
        let (mut task_losses, mut task_accuracies) = ([None; 3], [None; 3]);
        for (task, samples) in &self.tasks {
            task_losses[task.index()] = Some(next()[0]);
            let logits = next();
            let classes = logits.len() / samples.len().max(1);
            let correct =
                logits.chunks(classes.max(1)).zip(samples).filter(|(row, &i)| arg_max(row) == batch.labels[i]).count();
            task_accuracies[task.index()] = Some(correct as f32 / samples.len() as f32);
        }
        StepReadouts { task_losses, task_accuracies, task_weights: [weights[0], weights[1], weights[2]], loss, loss_w }
    }
}

/// The figures of one training step, as [`ReadoutTensors::decode`] gives them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReadouts {
    pub task_losses: [Option<f32>; 3],
    pub task_accuracies: [Option<f32>; 3],
    pub task_weights: [f32; 3],
    pub loss: f32,
    pub loss_w: Option<f32>,
}

/// The first index of the largest value.
pub fn arg_max(row: &[f32]) -> usize {
    row.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &v)| if v > best.1 { (i, v) } else { best }).0
}

/// Branch t's dropout stream: `dropout_seed + t` (t = 0, 1, 2).
fn branch_seed(dropout_seed: u64, task: Task) -> u64 {
    dropout_seed.wrapping_add(task.index() as u64)
}

/// Σ of the present terms, or `None` when there is none.
fn sum(terms: Vec<Var>) -> Result<Option<Var>> {
    let mut total: Option<Var> = None;
    for t in terms {
        total = Some(match total {
            None => t,
            Some(acc) => ops::add(&acc, &t)?,
        });
    }
    Ok(total)
}

/// The weight module's own objective over the present tasks' losses (held constant):
/// dynamic Σ_t w_t/(L_t + σ) (eq. 12), naive Σ_t w_t·L_t; `None` for the strategies
/// whose weights have no objective of their own.
pub fn weight_objective(
    weighting: Weighting,
    weights: &Var,
    losses: &[(Task, Var)],
    sigma: f32,
) -> Result<Option<Var>> {
    let term = match weighting {
        Weighting::Dynamic => LossTerm::Inverse { sigma },
        Weighting::Naive => LossTerm::Product,
        _ => return Ok(None),
    };
    let losses: Vec<(usize, Var)> = losses.iter().map(|(task, loss)| (task.index(), loss.detach())).collect();
    ops::weighted_losses(weights, &losses, term).map(Some)
}

/// The training forward of the multi-task model under `obj.weighting`.
pub fn training_objective(
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
        if samples.is_empty() || !obj.weighting.runs(task) {
            continue;
        }
        let input = if samples.len() == batch.len() { z.clone() } else { ops::gather_rows(&z, &samples)? };
        let output = branch.forward(ctx, &input, branch_seed(dropout_seed, task))?;
        let labels: Vec<usize> = samples.iter().map(|&i| batch.labels[i]).collect();
        let loss = ops::task_loss(&output.logits, &output.embeddings, centers, &labels, obj.center_loss_lambda)?;
        *slot = Some(TaskForward { task, samples, output, loss });
    }
    let present: Vec<&TaskForward> = tasks.iter().flatten().collect();
    if present.is_empty() {
        let reason = format!("no task of strategy {} has a sample in the batch", obj.weighting);
        return Err(Error::invalid("batch", reason));
    }

    let (weights, loss, loss_w) = match obj.weighting {
        Weighting::Dynamic | Weighting::Naive => {
            // In the paper's objectives ψ sees Z as a constant, so L_w's gradient cannot
            // reach θ; the reference code's path lets L's gradient flow back through w
            // into the trunk.
            let z_for_weights = if obj.reference_gradient_path { z.clone() } else { z.detach() };
            let weights = net.weight_module.forward(ctx, &z_for_weights)?;
            let w_in_l = if obj.reference_gradient_path { weights.weights.clone() } else { weights.weights.detach() };
            let task_losses: Vec<(usize, Var)> = present.iter().map(|t| (t.task.index(), t.loss.clone())).collect();
            let losses: Vec<(Task, Var)> = present.iter().map(|t| (t.task, t.loss.clone())).collect();
            let loss_w = weight_objective(obj.weighting, &weights.weights, &losses, obj.sigma)?;
            (weights, Some(ops::weighted_losses(&w_in_l, &task_losses, LossTerm::Product)?), loss_w)
        }
        Weighting::Fixed(_) | Weighting::Single(_) => {
            let w = match obj.weighting {
                Weighting::Fixed(w) => w,
                Weighting::Single(task) => std::array::from_fn(|i| if i == task.index() { 1.0 } else { 0.0 }),
                _ => unreachable!("matched above"),
            };
            let weights = Var::constant(Tensor::from_slice(&w, [3], z.device())?);
            let mut terms = Vec::new();
            for t in &present {
                terms.push(ops::affine(&t.loss, w[t.task.index()], 0.0)?);
            }
            (TaskWeights { per_sample: None, weights }, sum(terms)?, None)
        }
        Weighting::Uncertainty => {
            let s = ctx.param(LOG_VARIANCE)?;
            let weights = ops::exp(&ops::affine(&s, -1.0, 0.0)?)?;
            let mut terms = Vec::new();
            for t in &present {
                let i = t.task.index();
                let weighted = ops::mul(&ops::element(&weights, i)?, &t.loss)?;
                terms.push(ops::add(&weighted, &ops::affine(&ops::element(&s, i)?, 0.5, 0.0)?)?);
            }
            (TaskWeights { per_sample: None, weights }, sum(terms)?, None)
        }
    };
    let loss = loss.expect("a present task gives a term");
    Ok(TrainForward { z, tasks, weights, loss, loss_w })
}
