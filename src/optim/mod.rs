//! Optimizers: each reads one backward pass's [`Gradients`] and updates the named
//! tensors of one parameter group; learning-rate schedules.

mod optimizer;
mod rule;
mod schedule;

pub use optimizer::{Optimizer, OptimizerConfig, PreparedUpdate, UpdateStats};
pub use rule::Rule;
pub use schedule::LrSchedule;

use crate::backend::Device;
use crate::backend::{control_values, CONTROL_LEN};
use crate::error::Result;
use crate::tensor::Tensor;

/// A group control whose gate is open and whose factor is 1: for an update outside a
/// training step (tests, tools) that should always run unscaled.
pub fn open_gate(device: &Device) -> Result<Tensor> {
    Tensor::from_slice(&control_values(0.0, None, true), [CONTROL_LEN], device)
}
