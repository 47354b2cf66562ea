//! SGD with momentum: v ← μ·v + g; θ ← θ − lr·v (one fused backend pass per tensor).

use super::clip_factor;
use crate::autograd::{Gradients, ParamStore};
use crate::backend::SgdStep;
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
        let grad_scale = match self.max_grad_norm {
            Some(max) => clip_factor(grads, max)?,
            None => 1.0,
        };
        let hyper = SgdStep { lr: self.lr, momentum: self.momentum, grad_scale };
        for (name, g) in grads.iter() {
            let be = g.device().backend();
            let p = params.get(name)?;
            let v = match self.velocity.remove(name) {
                Some(v) => v,
                None => Tensor::zeros(g.shape().clone(), g.device())?,
            };
            let (p_new, v_new) = be.sgd_momentum(p.storage(), v.storage(), g.storage(), hyper)?;
            let (shape, device) = (p.shape().clone(), p.device().clone());
            params.set(name, Tensor::from_storage(p_new, shape.clone(), &device))?;
            self.velocity.insert(name.to_string(), Tensor::from_storage(v_new, shape, &device));
        }
        Ok(())
    }
}
