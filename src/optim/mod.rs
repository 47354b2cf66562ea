//! Optimizers: each reads one backward pass's [`Gradients`] and updates the named
//! tensors of one parameter group; learning-rate schedules.

mod optimizer;
mod rule;
mod schedule;

pub use optimizer::{Optimizer, OptimizerConfig, UpdateStats};
pub use rule::Rule;
pub use schedule::LrSchedule;

/// The factor that scales gradients of global norm `norm` down to at most `max_norm`
/// (1 when already below it).
pub fn clip_factor(norm: f32, max_norm: f32) -> f32 {
    if norm > max_norm {
        max_norm / norm
    } else {
        1.0
    }
}
