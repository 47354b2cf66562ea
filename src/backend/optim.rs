//! The in-place updates of a training step: each group's gradient norm and clip factor
//! (computed on the device), the fused optimizer updates, and the blends of rule-based
//! state (moving averages). Each op takes a whole group, so a backend may serve it with
//! one launch; the updates read their gradient scale and whether to run from controls on
//! the device, so nothing waits for the host between the backward pass and the updates.

use super::Storage;
use crate::error::Result;

/// One SGD-with-momentum update's numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep {
    pub lr: f32,
    pub momentum: f32,
}

/// One RMSProp update's numbers, TF's semantics (DESIGN.md §2): the caller starts `ms` at
/// 1 and `mom` at 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropStep {
    pub lr: f32,
    pub decay: f32,
    pub momentum: f32,
    pub epsilon: f32,
}

/// One Adam update's numbers; `step` counts from 1 (TF's bias-corrected step size).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    pub step: u64,
}

/// What one optimizer update reads and writes: a parameter and its `SLOTS` state tensors,
/// updated in place, and the gradient. All hold one length.
pub struct ParamUpdate<'a, const SLOTS: usize> {
    pub param: &'a mut Storage,
    pub slots: [&'a mut Storage; SLOTS],
    pub grad: &'a Storage,
}

/// The length of a group control: `[gate, norm, factor]`, f32 on the group's device.
/// `gate` is 1 when the group's updates may run and NaN when not (a non-finite gradient
/// norm, or a non-finite guard); `norm` is `√Σ‖g‖²` over the group's gradients; `factor`
/// scales them to at most the group's maximum norm (1 when below it).
pub const CONTROL_LEN: usize = 3;

/// The control of a group whose gradients have norm `norm` (`optim_group_control`'s
/// finish, here for the CPU and the tests): the gate opens when the norm is finite and
/// the guard was; the factor clips to `max_norm`.
pub fn control_values(norm: f32, max_norm: Option<f32>, guard_finite: bool) -> [f32; CONTROL_LEN] {
    let gate = if norm.is_finite() && guard_finite { 1.0 } else { f32::NAN };
    let factor = match max_norm {
        Some(max) if norm > max => max / norm,
        _ => 1.0,
    };
    [gate, norm, factor]
}

/// Where an update finds its numbers: the gradient scale in `scale`'s factor, and whether
/// it runs in `gate`'s gate (both group controls; the gate may be another group's, so one
/// bad group stops every update of a step).
#[derive(Clone, Copy)]
pub struct UpdateControl<'a> {
    pub scale: &'a Storage,
    pub gate: &'a Storage,
}

/// One blend of rule-based state, in place: `target ← keep·target + take·source`.
pub struct Blend<'a> {
    pub target: &'a mut Storage,
    pub source: &'a Storage,
    pub keep: f32,
    pub take: f32,
}

pub trait OptimOps {
    /// The group control (`CONTROL_LEN` values, see there) of gradients `grads`, clipped to
    /// `max_norm` when given. `guard`, a tensor whose first value must be finite for the
    /// gate to open (a loss, or another group's control), chains the checks of a step.
    /// The norm adds each gradient's `Σ g²` in f64, in order, as one reduction would.
    fn group_control(&self, grads: &[&Storage], max_norm: Option<f32>, guard: Option<&Storage>) -> Result<Storage>;
    /// SGD with momentum (slot: the velocity `v`), in place and in one pass:
    /// `v ← μ·v + s·g; θ ← θ − lr·v` (`s` the control's factor). Updating in place saves
    /// the optimizer a third of its memory traffic: it is the one op whose inputs nobody
    /// else reads.
    fn sgd_momentum(&self, group: Vec<ParamUpdate<1>>, hyper: SgdStep, control: UpdateControl) -> Result<()>;
    /// RMSProp as TF implements it (slots: `ms`, `mom`), in place, with `g = s·grad`:
    /// `ms ← ρ·ms + (1 − ρ)·g²; mom ← μ·mom + lr·g/√(ms + ε); θ ← θ − mom`.
    fn rmsprop(&self, group: Vec<ParamUpdate<2>>, hyper: RmsPropStep, control: UpdateControl) -> Result<()>;
    /// Adam as TF implements it (slots: `m`, `v`), in place, with `g = s·grad`:
    /// `m ← β₁·m + (1 − β₁)·g; v ← β₂·v + (1 − β₂)·g²; θ ← θ − lr_t·m/(√v + ε)`,
    /// `lr_t = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)`.
    fn adam(&self, group: Vec<ParamUpdate<2>>, hyper: AdamStep, control: UpdateControl) -> Result<()>;
    /// Every blend of `group`, when `gate`'s gate is open (a group control).
    fn blend(&self, group: Vec<Blend>, gate: &Storage) -> Result<()>;
}
