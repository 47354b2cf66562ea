//! The dynamic-weight module ψ (paper §3.2): a_b = W·flatten(Z_b) + β ∈ R³ (no activation),
//! â_b = a_b/‖a_b‖, π_b = softmax(s·â_b), w = (1/B)·Σ_b π_b.

use crate::autograd::{ParamGroup, Var};
use crate::error::Result;
use crate::nn::{Ctx, Layer, Linear, ParamSpec};
use crate::ops;

pub const SCOPE: &str = "Logits_lossweights";

pub struct WeightModule {
    fc: Linear,
    logit_scale: f32,
}

pub struct TaskWeights {
    /// π, `[b, tasks]` (only when the weight module computed w).
    pub per_sample: Option<Var>,
    /// w, `[tasks]`.
    pub weights: Var,
}

impl WeightModule {
    /// A module weighting `tasks` tasks (the model has three).
    pub fn new(z_features: usize, tasks: usize, logit_scale: f32) -> WeightModule {
        WeightModule { fc: Linear::new(SCOPE, z_features, tasks, ParamGroup::WeightModule), logit_scale }
    }

    pub fn forward(&self, ctx: &Ctx, z: &Var) -> Result<TaskWeights> {
        let b = z.dims()[0];
        let flat = ops::reshape(z, [b, z.value().len() / b])?;
        let (a, bias) = self.fc.unbiased(ctx, &flat)?;
        let per_sample = ops::weight_head(&a, &bias, self.logit_scale, 1e-10)?;
        let weights = ops::mean_rows(&per_sample)?;
        Ok(TaskWeights { per_sample: Some(per_sample), weights })
    }

    pub fn declare(&self, out: &mut Vec<ParamSpec>) {
        self.fc.declare(out);
    }
}
