//! One training step of the multi-task model: a forward pass, the backward passes of the
//! strategy's objectives (network θ on L, weight module ψ on L_w), the two updates, then
//! the rule-based state (batch-norm moving averages, class centers).

use crate::autograd::{Gradients, ParamGroup, ParamStore, Tape};
use crate::backend::{Capture, DeviceGraph};
use crate::batch::{Batch, Task};
use crate::error::{Error, Result};
use crate::model::{
    training_objective, update_centers, update_moving_averages, MultiTaskNet, ObjectiveConfig, ReadoutTensors,
};
use crate::nn::Ctx;
use crate::optim::{LrSchedule, Optimizer, OptimizerConfig, Rule, UpdateStats};
use crate::rng::mix64;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Everything that decides how the model trains (stored in checkpoints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub objective: ObjectiveConfig,
    pub network_optimizer: OptimizerConfig,
    pub weight_optimizer: OptimizerConfig,
    /// The weight module's learning rate is the network's times this (1 in the
    /// reference's CaVI runs, 10 on WebCaricature).
    pub weight_lr_factor: f32,
    pub schedule: LrSchedule,
    /// Steps per schedule epoch (the reference's epoch is 100 batches).
    pub epoch_size: u64,
    /// Seeds the dropout masks (with the step number).
    pub seed: u64,
}

impl TrainConfig {
    /// The reference's choices: RMSProp (TF semantics) for both groups, clipped to global
    /// norm 5, the weight module at the network's rate, 100-step epochs.
    pub fn reference(schedule: LrSchedule, seed: u64) -> TrainConfig {
        TrainConfig {
            objective: ObjectiveConfig::default(),
            network_optimizer: OptimizerConfig::new(Rule::REFERENCE_RMSPROP),
            weight_optimizer: OptimizerConfig::new(Rule::REFERENCE_RMSPROP),
            weight_lr_factor: 1.0,
            schedule,
            epoch_size: 100,
            seed,
        }
    }

    /// SGD with momentum 0.9 at a constant `lr`, the weight module at 10·`lr`, both clipped
    /// to global norm 5 (the engine's tests and benchmarks).
    pub fn sgd(lr: f32, seed: u64) -> Result<TrainConfig> {
        let sgd = OptimizerConfig::new(Rule::Sgd { momentum: 0.9 });
        Ok(TrainConfig {
            network_optimizer: sgd,
            weight_optimizer: sgd,
            weight_lr_factor: 10.0,
            ..TrainConfig::reference(LrSchedule::constant(lr)?, seed)
        })
    }
}

/// What one step measured.
#[derive(Clone, Debug)]
pub struct StepReport {
    /// The step's number, from 0.
    pub step: u64,
    pub epoch: u64,
    pub lr: f32,
    /// L_t of the tasks present in the batch.
    pub task_losses: [Option<f32>; 3],
    /// w_t used in this step's objective.
    pub task_weights: [f32; 3],
    pub task_accuracies: [Option<f32>; 3],
    pub loss: f32,
    pub loss_w: Option<f32>,
    pub network_update: UpdateStats,
    pub weight_update: Option<UpdateStats>,
}

pub struct Trainer {
    pub net: MultiTaskNet,
    pub params: ParamStore,
    pub config: TrainConfig,
    network_optimizer: Optimizer,
    weight_optimizer: Optimizer,
    /// Steps done.
    pub step: u64,
    /// Steps recorded and replayed as graphs, and the last step's graph.
    replay_steps: bool,
    step_graph: Option<DeviceGraph>,
}

/// A step's work queued on the device, with what its figures are read from
/// ([`Trainer::queue_step`]).
pub struct QueuedStep {
    epoch: u64,
    lr: f32,
    readouts: ReadoutTensors,
    network_control: Tensor,
    weight_control: Option<Tensor>,
}

/// Checkpoint name prefixes of the two optimizers' state.
pub const NETWORK_OPTIMIZER: &str = "optimizer/network";
pub const WEIGHT_OPTIMIZER: &str = "optimizer/weight_module";

impl Trainer {
    /// A trainer at step 0; adds the strategy's own parameters (at 0) to `params`.
    pub fn new(net: MultiTaskNet, mut params: ParamStore, config: TrainConfig) -> Result<Trainer> {
        if config.epoch_size == 0 {
            return Err(Error::invalid("epoch_size", "must be at least 1"));
        }
        let device = params.get(crate::model::CENTERS)?.device().clone();
        for (name, len, group) in config.objective.weighting.extra_parameters() {
            if !params.contains(name) {
                params.insert(name, Tensor::zeros([len], &device)?, group)?;
            }
        }
        Ok(Trainer {
            net,
            params,
            network_optimizer: Optimizer::new(config.network_optimizer),
            weight_optimizer: Optimizer::new(config.weight_optimizer),
            config,
            step: 0,
            replay_steps: false,
            step_graph: None,
        })
    }

    /// The schedule's epoch of the next step (from 1).
    pub fn epoch(&self) -> u64 {
        self.step / self.config.epoch_size + 1
    }

    /// The network's learning rate for the next step.
    pub fn lr(&self) -> f32 {
        self.config.schedule.rate(self.epoch())
    }

    /// One step. A non-finite task loss or gradient norm stops it, naming the step and the
    /// task or group, and the parameters stay those of the last good step: every update
    /// of the step is gated on the device by the last group control, which opens only if
    /// the loss and every group's gradient norm are finite. Nothing is read back until the
    /// updates are queued; then the step's figures come back in one read. With
    /// [`replay_steps`](Trainer::replay_steps) on a device that records graphs, the queued
    /// work is recorded instead and replayed as one graph (the previous step's, updated).
    pub fn step(&mut self, batch: &Batch) -> Result<StepReport> {
        let queued = self.queue_step(batch)?;
        self.finish_step(queued, batch)
    }

    /// The first half of [`step`](Trainer::step): the step's work queued on the device (or
    /// recorded and replayed as a graph), nothing read back. The host may then queue more
    /// (the next batch's upload, `data::BatchUploads`) before [`finish_step`](Trainer::finish_step).
    pub fn queue_step(&mut self, batch: &Batch) -> Result<QueuedStep> {
        let device = self.params.get(crate::model::CENTERS)?.device().clone();
        let backend = device.backend();
        if !(self.replay_steps && backend.records_graphs()) {
            return self.queue(batch);
        }
        backend.begin_capture(Capture::Once)?;
        let queued = self.queue(batch);
        // The capture ends whatever the step did, so the device runs work again.
        let graph = backend.end_capture();
        let (queued, graph) = (queued?, graph?);
        let graph = match self.step_graph.take() {
            Some(mut previous) => {
                previous.update(graph)?;
                previous
            }
            None => graph,
        };
        graph.replay()?;
        self.step_graph = Some(graph);
        Ok(queued)
    }

    /// Records each step as a graph replayed at once (on devices that record graphs): one
    /// graph launch per step instead of a launch per kernel.
    pub fn replay_steps(&mut self, on: bool) {
        self.replay_steps = on;
        if !on {
            self.step_graph = None;
        }
    }

    /// The step's work, queued on the device: the forward pass, both backward passes, the
    /// updates and the rule-based state, every update gated by the step's last control.
    fn queue(&mut self, batch: &Batch) -> Result<QueuedStep> {
        let (epoch, lr) = (self.epoch(), self.lr());
        let tape = Tape::new();
        let ctx = Ctx::train(&self.params, &tape);
        let dropout_seed = mix64(self.config.seed ^ self.step.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let fwd = training_objective(&self.net, &ctx, batch, dropout_seed, &self.config.objective)?;
        let readouts = fwd.readout_tensors();
        let trains_weights = self.config.objective.weighting.trains_weights();
        let (net_grads, wm_grads) = match &fwd.loss_w {
            Some(loss_w) => (
                fwd.loss.backward_for(self.params.in_group(ParamGroup::Network))?,
                loss_w.backward_for(self.params.in_group(ParamGroup::WeightModule))?,
            ),
            // One backward pass reaches both groups; each optimizer takes its own.
            None => {
                let all = fwd.loss.backward_for(|name| {
                    self.params
                        .group(name)
                        .is_ok_and(|g| g == ParamGroup::Network || (trains_weights && g == ParamGroup::WeightModule))
                })?;
                split_by_group(&self.params, all)?
            }
        };
        let bn_stats = ctx.take_bn_stats();
        let verification = fwd.tasks[Task::Verification.index()].as_ref().map(|t| t.output.embeddings.value().clone());
        // Each group control guards the next: the last one's gate is the whole step's.
        let network = self.network_optimizer.prepare(&self.params, &net_grads, Some(fwd.loss.value()))?;
        let weights = match wm_grads.is_empty() {
            true => None,
            false => Some(self.weight_optimizer.prepare(&self.params, &wm_grads, Some(&network.control))?),
        };
        let gate = weights.as_ref().map_or(&network.control, |w| &w.control).clone();
        // Release the tape's references to the parameters so the updates run in place.
        drop(ctx);
        drop((fwd, tape, net_grads, wm_grads));

        self.network_optimizer.apply(&mut self.params, &network, lr, &gate)?;
        if let Some(w) = &weights {
            self.weight_optimizer.apply(&mut self.params, w, lr * self.config.weight_lr_factor, &gate)?;
        }
        update_moving_averages(&mut self.params, &bn_stats, &gate)?;
        if let Some(e) = verification {
            update_centers(&mut self.params, &e, &batch.labels, self.config.objective.center_alpha, &gate)?;
        }
        let weight_control = weights.map(|w| w.control);
        Ok(QueuedStep { epoch, lr, readouts, network_control: network.control, weight_control })
    }

    /// The second half of [`step`](Trainer::step): the queued step's figures read back (one
    /// read) and reported, or the refusal. `batch` is the one the step was queued with.
    pub fn finish_step(&mut self, queued: QueuedStep, batch: &Batch) -> Result<StepReport> {
        let QueuedStep { epoch, lr, readouts, network_control, weight_control } = queued;
        let mut tensors: Vec<&Tensor> = readouts.tensors();
        tensors.push(&network_control);
        tensors.extend(weight_control.as_ref());
        let mut values = Tensor::read_together(&tensors)?;
        let weight_control =
            weight_control.as_ref().map(|_| values.pop().expect("the weight module's control was read"));
        let network_control = values.pop().expect("the network's control was read");
        let figures = readouts.decode(values, batch);
        if !gate_is_open(weight_control.as_deref().unwrap_or(&network_control)) {
            self.network_optimizer.uncount_step();
            if weight_control.is_some() {
                self.weight_optimizer.uncount_step();
            }
            return Err(self.refusal(&figures.task_losses, &network_control, weight_control.as_deref()));
        }
        let report = StepReport {
            step: self.step,
            epoch,
            lr,
            task_losses: figures.task_losses,
            task_weights: figures.task_weights,
            task_accuracies: figures.task_accuracies,
            loss: figures.loss,
            loss_w: figures.loss_w,
            network_update: UpdateStats::from_control(&network_control),
            weight_update: weight_control.as_deref().map(UpdateStats::from_control),
        };
        self.step += 1;
        Ok(report)
    }

    /// Why the step's gate stayed shut: the first non-finite task loss, else the first
    /// group whose gradient norm is not finite, else the total loss.
    fn refusal(&self, task_losses: &[Option<f32>; 3], network: &[f32], weights: Option<&[f32]>) -> Error {
        let at = self.step + 1;
        for (task, loss) in Task::ALL.iter().zip(task_losses) {
            if let Some(l) = loss.filter(|l| !l.is_finite()) {
                return Error::NonFinite { what: format!("loss of task {} at step {at}", task.name()), value: l };
            }
        }
        for (group, control) in [("network", Some(network)), ("weight-module", weights)] {
            if let Some(c) = control.filter(|c| !c[1].is_finite()) {
                return Error::NonFinite {
                    what: format!("gradient norm of the {group} parameters at step {at}"),
                    value: c[1],
                };
            }
        }
        Error::NonFinite { what: format!("total loss at step {at}"), value: f32::NAN }
    }

    /// Every tensor a checkpoint needs to resume exactly: parameters and buffers under
    /// their own names, each optimizer's state under its prefix.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = self.params.iter().map(|(n, t, _)| (n.to_string(), t.clone())).collect();
        out.extend(self.network_optimizer.state_tensors(NETWORK_OPTIMIZER));
        out.extend(self.weight_optimizer.state_tensors(WEIGHT_OPTIMIZER));
        out
    }

    /// The optimizers' update counts (stored beside `state_tensors`).
    pub fn optimizer_steps(&self) -> [u64; 2] {
        [self.network_optimizer.steps(), self.weight_optimizer.steps()]
    }

    /// Restores the optimizers from a checkpoint's tensors (`lookup` gives a tensor by
    /// name, `None` when absent) and the step counters; the parameters are restored by the
    /// caller into `self.params`.
    pub fn restore_optimizers(
        &mut self,
        step: u64,
        optimizer_steps: [u64; 2],
        mut lookup: impl FnMut(&str) -> Result<Option<Tensor>>,
    ) -> Result<()> {
        let names = self.params.iter().map(|(n, _, _)| n.to_string()).collect::<Vec<_>>();
        self.network_optimizer.restore(NETWORK_OPTIMIZER, optimizer_steps[0], &names, &mut lookup)?;
        self.weight_optimizer.restore(WEIGHT_OPTIMIZER, optimizer_steps[1], &names, &mut lookup)?;
        self.step = step;
        Ok(())
    }
}

/// Whether a group control's gate is open (its first value finite).
fn gate_is_open(control: &[f32]) -> bool {
    control.first().is_some_and(|g| g.is_finite())
}

/// `(network, weight module)` gradients of one backward pass.
fn split_by_group(params: &ParamStore, grads: Gradients) -> Result<(Gradients, Gradients)> {
    let (mut net, mut wm) = (Gradients::default(), Gradients::default());
    for (name, g) in grads.iter() {
        match params.group(name)? {
            ParamGroup::WeightModule => wm.insert(name.to_string(), g.clone()),
            _ => net.insert(name.to_string(), g.clone()),
        }
    }
    Ok((net, wm))
}
