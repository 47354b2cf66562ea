//! SGD with momentum: v ← μ·v + g; θ ← θ − lr·v.

use super::clip_factor;
use crate::autograd::{Gradients, ParamStore};
use crate::error::Result;
use crate::tensor::Tensor;
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
        let scale = match self.max_grad_norm {
            Some(max) => clip_factor(grads, max)?,
            None => 1.0,
        };
        for (name, g) in grads.iter() {
            let be = g.device().backend();
            let v = match self.velocity.get(name) {
                Some(v) => be.add_scaled(&be.affine(v.storage(), self.momentum, 0.0)?, g.storage(), scale)?,
                None => be.affine(g.storage(), scale, 0.0)?,
            };
            let v = Tensor::from_storage(v, g.shape().clone(), g.device());
            let p = params.get(name)?;
            let updated = be.add_scaled(p.storage(), v.storage(), -self.lr)?;
            params.set(name, Tensor::from_storage(updated, p.shape().clone(), p.device()))?;
            self.velocity.insert(name.to_string(), v);
        }
        Ok(())
    }
}
