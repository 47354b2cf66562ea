//! One optimizer for one parameter group: optional L2 weight decay, global-norm clipping,
//! then the rule's fused in-place update of every parameter that has a gradient.

use super::{clip_factor, Rule};
use crate::autograd::{Gradients, ParamStore};
use crate::backend::{AdamStep, ParamUpdate, RmsPropStep, SgdStep};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    pub rule: Rule,
    /// Clip the group's gradients to this global norm (the reference clips at 5).
    pub max_grad_norm: Option<f32>,
    /// L2 weight decay on tensors named `…/weights` (conv and FC kernels, as slim's
    /// regulariser): the gradient gains `decay·θ`. The reference sets 5e-5 but never adds
    /// it to the optimised loss, so 0 by default.
    pub weight_decay: f32,
}

impl OptimizerConfig {
    pub fn new(rule: Rule) -> OptimizerConfig {
        OptimizerConfig { rule, max_grad_norm: Some(5.0), weight_decay: 0.0 }
    }
}

/// What one update did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpdateStats {
    /// Global norm of the gradients before clipping (weight decay included).
    pub grad_norm: f32,
    /// The factor clipping scaled them by (1 when below the threshold).
    pub clip_scale: f32,
}

pub struct Optimizer {
    pub config: OptimizerConfig,
    /// Updates applied so far (Adam's bias correction counts them).
    steps: u64,
    /// Per parameter, one tensor per slot of the rule.
    state: BTreeMap<String, Vec<Tensor>>,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig) -> Optimizer {
        Optimizer { config, steps: 0, state: BTreeMap::new() }
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Applies one update at rate `lr` to every parameter in `grads`.
    pub fn step(&mut self, params: &mut ParamStore, grads: &Gradients, lr: f32) -> Result<UpdateStats> {
        let decayed;
        let grads = if self.config.weight_decay > 0.0 {
            decayed = with_weight_decay(params, grads, self.config.weight_decay)?;
            &decayed
        } else {
            grads
        };
        let grad_norm = grads.global_norm()?;
        let clip_scale = match self.config.max_grad_norm {
            Some(max) => clip_factor(grad_norm, max),
            None => 1.0,
        };
        self.steps += 1;
        for (name, g) in grads.iter() {
            if !self.state.contains_key(name) {
                let slots =
                    self.config.rule.slots().iter().map(|&(_, init)| Tensor::full(init, g.shape().clone(), g.device()));
                self.state.insert(name.to_string(), slots.collect::<Result<_>>()?);
            }
            let slots = self.state.get_mut(name).expect("state was just created");
            let p = params.get_mut(name)?;
            // In place: `p` is shared with nobody once the step's tape is gone (otherwise
            // `storage_mut` copies it first, so a recorded value never changes under it).
            let be = g.device().backend();
            let (param, grad) = (p.storage_mut()?, g.storage());
            match (self.config.rule, slots.as_mut_slice()) {
                (Rule::Sgd { momentum }, [v]) => {
                    let update = ParamUpdate { param, slots: [v.storage_mut()?], grad };
                    be.sgd_momentum(update, SgdStep { lr, momentum, grad_scale: clip_scale })?
                }
                (Rule::RmsProp { decay, momentum, epsilon }, [ms, mom]) => {
                    let update = ParamUpdate { param, slots: [ms.storage_mut()?, mom.storage_mut()?], grad };
                    be.rmsprop(update, RmsPropStep { lr, decay, momentum, epsilon, grad_scale: clip_scale })?
                }
                (Rule::Adam { beta1, beta2, epsilon }, [m, v]) => {
                    let update = ParamUpdate { param, slots: [m.storage_mut()?, v.storage_mut()?], grad };
                    let step = self.steps;
                    be.adam(update, AdamStep { lr, beta1, beta2, epsilon, step, grad_scale: clip_scale })?
                }
                _ => unreachable!("every rule's state has its own slots"),
            }
        }
        Ok(UpdateStats { grad_norm, clip_scale })
    }

    /// The state as named tensors, `{prefix}/{slot}/{parameter}`.
    pub fn state_tensors(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let slots = self.config.rule.slots();
        self.state
            .iter()
            .flat_map(|(name, tensors)| {
                tensors.iter().zip(slots).map(move |(t, (slot, _))| (format!("{prefix}/{slot}/{name}"), t.clone()))
            })
            .collect()
    }

    /// Replaces the state with the one `state_tensors` gave: `lookup` returns the tensor
    /// of a name; every parameter in `names` with any slot present must have them all.
    pub fn restore(
        &mut self,
        prefix: &str,
        steps: u64,
        names: &[String],
        mut lookup: impl FnMut(&str) -> Result<Option<Tensor>>,
    ) -> Result<()> {
        let mut state = BTreeMap::new();
        for name in names {
            let mut tensors = Vec::new();
            for (slot, _) in self.config.rule.slots() {
                let key = format!("{prefix}/{slot}/{name}");
                match lookup(&key)? {
                    Some(t) => tensors.push(t),
                    None if tensors.is_empty() => break,
                    None => return Err(Error::Parameter { name: key, reason: "missing optimizer state".into() }),
                }
            }
            if !tensors.is_empty() {
                state.insert(name.clone(), tensors);
            }
        }
        self.state = state;
        self.steps = steps;
        Ok(())
    }
}

/// `g + decay·θ` for every `…/weights` gradient, the others unchanged.
fn with_weight_decay(params: &ParamStore, grads: &Gradients, decay: f32) -> Result<Gradients> {
    let mut out = Gradients::default();
    for (name, g) in grads.iter() {
        let g = if name.ends_with("/weights") {
            let p = params.get(name)?;
            let sum = g.device().backend().add_scaled(g.storage(), p.storage(), decay)?;
            Tensor::from_storage(sum, g.shape().clone(), g.device())
        } else {
            g.clone()
        };
        out.insert(name.to_string(), g);
    }
    Ok(out)
}
