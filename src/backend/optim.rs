//! Fused optimizer updates, in place.

use super::Storage;
use crate::error::Result;

/// One SGD-with-momentum update's numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep {
    pub lr: f32,
    pub momentum: f32,
    pub grad_scale: f32,
}

/// One RMSProp update's numbers, TF's semantics (DESIGN.md §2): the caller starts `ms` at
/// 1 and `mom` at 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropStep {
    pub lr: f32,
    pub decay: f32,
    pub momentum: f32,
    pub epsilon: f32,
    pub grad_scale: f32,
}

/// One Adam update's numbers; `step` counts from 1 (TF's bias-corrected step size).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    pub step: u64,
    pub grad_scale: f32,
}

/// What one optimizer update reads and writes: a parameter and its `SLOTS` state tensors,
/// updated in place, and the gradient. All hold one length.
pub struct ParamUpdate<'a, const SLOTS: usize> {
    pub param: &'a mut Storage,
    pub slots: [&'a mut Storage; SLOTS],
    pub grad: &'a Storage,
}

pub trait OptimOps {
    /// SGD with momentum (slot: the velocity `v`), in place and in one pass:
    /// `v ← μ·v + s·g; θ ← θ − lr·v` (`s` scales the gradient, e.g. for clipping). Updating
    /// in place saves the optimizer a third of its memory traffic: it is the one op whose
    /// inputs nobody else reads.
    fn sgd_momentum(&self, update: ParamUpdate<1>, hyper: SgdStep) -> Result<()>;
    /// RMSProp as TF implements it (slots: `ms`, `mom`), in place, with `g = s·grad`:
    /// `ms ← ρ·ms + (1 − ρ)·g²; mom ← μ·mom + lr·g/√(ms + ε); θ ← θ − mom`.
    fn rmsprop(&self, update: ParamUpdate<2>, hyper: RmsPropStep) -> Result<()>;
    /// Adam as TF implements it (slots: `m`, `v`), in place, with `g = s·grad`:
    /// `m ← β₁·m + (1 − β₁)·g; v ← β₂·v + (1 − β₂)·g²; θ ← θ − lr_t·m/(√v + ε)`,
    /// `lr_t = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)`.
    fn adam(&self, update: ParamUpdate<2>, hyper: AdamStep) -> Result<()>;
}
