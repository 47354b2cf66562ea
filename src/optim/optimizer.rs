//! One optimizer for one parameter group: optional L2 weight decay, global-norm clipping,
//! then the rule's fused in-place update of every parameter that has a gradient.

use super::Rule;
use crate::autograd::{Gradients, ParamStore};
use crate::backend::{AdamStep, ParamUpdate, RmsPropStep, SgdStep, Storage, UpdateControl, CONTROL_LEN};
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

/// What one update did, read from its group control.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpdateStats {
    /// Global norm of the gradients before clipping (weight decay included).
    pub grad_norm: f32,
    /// The factor clipping scaled them by (1 when below the threshold).
    pub clip_scale: f32,
}

impl UpdateStats {
    /// From the values of a group control (`backend::CONTROL_LEN`: gate, norm, factor).
    pub fn from_control(values: &[f32]) -> UpdateStats {
        UpdateStats { grad_norm: values[1], clip_scale: values[2] }
    }
}

/// One group's update, prepared: the gradients it applies (weight decay included) and
/// their control on the device (`backend::CONTROL_LEN` values: gate, norm, factor).
pub struct PreparedUpdate {
    grads: Gradients,
    pub control: Tensor,
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

    /// Applies one update at rate `lr` to every parameter in `grads` and reads back what
    /// it did (one wait); a non-finite gradient norm is an error and changes nothing.
    pub fn step(&mut self, params: &mut ParamStore, grads: &Gradients, lr: f32) -> Result<UpdateStats> {
        let update = self.prepare(params, grads, None)?;
        self.apply(params, &update, lr, &update.control)?;
        let control = update.control.to_vec()?;
        if !control[0].is_finite() {
            self.uncount_step();
            return Err(Error::NonFinite { what: "gradient norm of the update".into(), value: control[1] });
        }
        Ok(UpdateStats::from_control(&control))
    }

    /// The gradients of one update (with weight decay) and their group control, computed
    /// on the device; the control's gate opens only if `guard`'s first value is finite.
    pub fn prepare(&self, params: &ParamStore, grads: &Gradients, guard: Option<&Tensor>) -> Result<PreparedUpdate> {
        let grads = if self.config.weight_decay > 0.0 {
            with_weight_decay(params, grads, self.config.weight_decay)?
        } else {
            grads.clone()
        };
        let device = match (grads.iter().next(), guard) {
            (Some((_, g)), _) => g.device().clone(),
            (None, Some(guard)) => guard.device().clone(),
            (None, None) => return Err(Error::invalid("optimizer update", "no gradients and no guard")),
        };
        let storages: Vec<_> = grads.iter().map(|(_, g)| g.storage()).collect();
        let control =
            device.backend().group_control(&storages, self.config.max_grad_norm, guard.map(Tensor::storage))?;
        Ok(PreparedUpdate { control: Tensor::from_storage(control, [CONTROL_LEN], &device), grads })
    }

    /// Applies `update` at rate `lr` in one fused pass per group, scaled by its control's
    /// factor and run only if `gate`'s gate is open: both decided on the device, so
    /// nothing waits for the host. A gated-off update still counts as a step until
    /// [`Optimizer::uncount_step`].
    pub fn apply(&mut self, params: &mut ParamStore, update: &PreparedUpdate, lr: f32, gate: &Tensor) -> Result<()> {
        self.steps += 1;
        for (name, g) in update.grads.iter() {
            if !self.state.contains_key(name) {
                let slots =
                    self.config.rule.slots().iter().map(|&(_, init)| Tensor::full(init, g.shape().clone(), g.device()));
                self.state.insert(name.to_string(), slots.collect::<Result<_>>()?);
            }
        }
        let Some((_, first)) = update.grads.iter().next() else { return Ok(()) };
        let be = first.device().backend();
        let control = UpdateControl { scale: update.control.storage(), gate: gate.storage() };
        let names: Vec<&str> = update.grads.iter().map(|(n, _)| n).collect();
        let grads = update.grads.iter().map(|(_, g)| g.storage());
        let states = self.state.iter_mut().filter(|(n, _)| update.grads.get(n).is_some()).map(|(_, s)| s);
        // In place: each parameter is shared with nobody once the step's tape is gone
        // (otherwise `storage_mut` copies it first, so a recorded value never changes under it).
        let tensors = params.get_many_mut(&names)?.into_iter().zip(states).zip(grads);
        match self.config.rule {
            Rule::Sgd { momentum } => {
                let group = tensors.map(|((p, s), grad)| slot_update(p, s, grad));
                be.sgd_momentum(group.collect::<Result<_>>()?, SgdStep { lr, momentum }, control)
            }
            Rule::RmsProp { decay, momentum, epsilon } => {
                let group = tensors.map(|((p, s), grad)| slot_update(p, s, grad));
                be.rmsprop(group.collect::<Result<_>>()?, RmsPropStep { lr, decay, momentum, epsilon }, control)
            }
            Rule::Adam { beta1, beta2, epsilon } => {
                let group = tensors.map(|((p, s), grad)| slot_update(p, s, grad));
                let step = self.steps;
                be.adam(group.collect::<Result<_>>()?, AdamStep { lr, beta1, beta2, epsilon, step }, control)
            }
        }
    }

    /// Takes back the count of the last [`Optimizer::apply`], whose gate kept it from running.
    pub fn uncount_step(&mut self) {
        self.steps = self.steps.saturating_sub(1);
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

/// The in-place update of a parameter with its `SLOTS` state tensors (the rule's slots).
fn slot_update<'a, const SLOTS: usize>(
    param: &'a mut Tensor,
    slots: &'a mut [Tensor],
    grad: &'a Storage,
) -> Result<ParamUpdate<'a, SLOTS>> {
    let slots: Vec<&mut Storage> = slots.iter_mut().map(Tensor::storage_mut).collect::<Result<_>>()?;
    let slots = slots.try_into().unwrap_or_else(|_| unreachable!("every rule's state has its own slots"));
    Ok(ParamUpdate { param: param.storage_mut()?, slots, grad })
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
