//! Optimizers: they read one backward pass's [`Gradients`] and update the named tensors
//! of one parameter group.

mod sgd;

pub use sgd::Sgd;

use crate::autograd::Gradients;
use crate::error::Result;

/// The factor that scales gradients down to a global norm of at most `max_norm`
/// (1 when already below it).
pub fn clip_factor(grads: &Gradients, max_norm: f32) -> Result<f32> {
    let norm = grads.global_norm()?;
    Ok(if norm > max_norm { max_norm / norm } else { 1.0 })
}
