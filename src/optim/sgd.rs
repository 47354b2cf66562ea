//! SGD with momentum: v ← μ·v + g; θ ← θ − lr·v (one fused backend pass per tensor).

use super::clip_factor;
use crate::autograd::{Gradients, ParamStore};
use crate::backend::SgdStep;
use crate::error::Result;
use crate::tensor::Tensor;
use std::collections::hash_map::Entry;
use std::collections::HashMap;

pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    /// Global-norm clipping threshold (the reference clips at 5).
    pub max_grad_norm: Option<f32>,
    velocity: HashMap<String, Tensor>,
}

impl Sgd {
    pub fn new(lr: f32, momentum: f32, max_grad_norm: Option<f32>) -> Sgd {
        Sgd { lr, momentum, max_grad_norm, velocity: HashMap::new() }
    }

    pub fn step(&mut self, params: &mut ParamStore, grads: &Gradients) -> Result<()> {
        let grad_scale = match self.max_grad_norm {
            Some(max) => clip_factor(grads, max)?,
            None => 1.0,
        };
        let hyper = SgdStep { lr: self.lr, momentum: self.momentum, grad_scale };
        for (name, g) in grads.iter() {
            let v = match self.velocity.entry(name.to_string()) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(Tensor::zeros(g.shape().clone(), g.device())?),
            };
            let p = params.get_mut(name)?;
            // In place: `p` is shared with nobody once the step's tape is gone (otherwise
            // `storage_mut` copies it first, so a recorded value never changes under it).
            g.device().backend().sgd_momentum(p.storage_mut()?, v.storage_mut()?, g.storage(), hyper)?;
        }
        Ok(())
    }
}
