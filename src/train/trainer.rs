//! One training step of the paper's model: a forward pass, the two backward passes
//! (network θ on L, weight module ψ on L_w), the two updates, then the rule-based state
//! (batch-norm moving averages, class centers).

use crate::autograd::{ParamGroup, ParamStore, Tape};
use crate::model::Batch;
use crate::error::{Error, Result};
use crate::model::{dynamic_objective, update_centers, update_moving_averages, MultiTaskNet, ObjectiveConfig, Task};
use crate::nn::Ctx;
use crate::optim::Sgd;
use crate::rng::mix64;

/// What one step measured.
#[derive(Clone, Debug)]
pub struct StepReport {
    pub step: u64,
    /// L_t of the tasks present in the batch.
    pub task_losses: [Option<f32>; 3],
    /// w_t before the update.
    pub task_weights: [f32; 3],
    pub loss: f32,
    pub loss_w: f32,
}

pub struct Trainer {
    pub net: MultiTaskNet,
    pub params: ParamStore,
    pub objective: ObjectiveConfig,
    pub network_optimizer: Sgd,
    pub weight_optimizer: Sgd,
    pub seed: u64,
    pub step: u64,
}

impl Trainer {
    /// A trainer with the paper's objective and the command line's optimizers: SGD with
    /// momentum 0.9 at `lr` for the network and 10·`lr` for the weight module, each group
    /// clipped to global norm 5.
    pub fn with_sgd(net: MultiTaskNet, params: ParamStore, lr: f32, seed: u64) -> Trainer {
        Trainer {
            net,
            params,
            objective: ObjectiveConfig::default(),
            network_optimizer: Sgd::new(lr, 0.9, Some(5.0)),
            weight_optimizer: Sgd::new(lr * 10.0, 0.9, Some(5.0)),
            seed,
            step: 0,
        }
    }

    pub fn step(&mut self, batch: &Batch) -> Result<StepReport> {
        let tape = Tape::new();
        let ctx = Ctx::train(&self.params, &tape);
        let dropout_seed = mix64(self.seed ^ self.step.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let fwd = dynamic_objective(&self.net, &ctx, batch, dropout_seed, &self.objective)?;
        let task_losses = fwd.task_losses()?;
        for (task, loss) in Task::ALL.iter().zip(task_losses) {
            if let Some(l) = loss.filter(|l| !l.is_finite()) {
                return Err(Error::NonFinite { what: format!("loss of task {} at step {}", task.name(), self.step), value: l });
            }
        }
        let w = fwd.weights.weights.value().to_vec()?;
        let report = StepReport {
            step: self.step,
            task_losses,
            task_weights: [w[0], w[1], w[2]],
            loss: fwd.loss.value().to_scalar()?,
            loss_w: fwd.loss_w.value().to_scalar()?,
        };
        let net_grads = fwd.loss.backward_for(self.params.in_group(ParamGroup::Network))?;
        let wm_grads = fwd.loss_w.backward_for(self.params.in_group(ParamGroup::WeightModule))?;
        let bn_stats = ctx.take_bn_stats();
        let verification = fwd.tasks[Task::Verification.index()].as_ref().map(|t| t.output.embeddings.value().clone());
        // Release the tape's references to the parameters so the updates run in place.
        drop(ctx);
        drop((fwd, tape));

        self.network_optimizer.step(&mut self.params, &net_grads)?;
        self.weight_optimizer.step(&mut self.params, &wm_grads)?;
        update_moving_averages(&mut self.params, &bn_stats)?;
        if let Some(e) = verification {
            update_centers(&mut self.params, &e, &batch.labels, self.objective.center_alpha)?;
        }
        self.step += 1;
        Ok(report)
    }
}
