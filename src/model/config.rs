//! Network and objective settings, with the reference's values as defaults.

use super::Weighting;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// Square input side; 160 in the paper, at least 75 (Mixed_7a needs a 3×3 input).
    pub image_size: usize,
    pub num_classes: usize,
    /// Every channel count of §3 divided by this (1 is the paper's network; tests use
    /// narrower instances of the same structure).
    pub width_divisor: usize,
    /// Dropout keep probability after the branches' average pool.
    pub keep_prob: f32,
    /// Logit scale s of the weight module's softmax (1 for CaVI, 2 for WebCaricature).
    pub logit_scale: f32,
    /// ReLU after FC_2 and FC_3, as the reference code has it.
    pub fc_relu: bool,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            image_size: 160,
            num_classes: 195,
            width_divisor: 1,
            keep_prob: 0.5,
            logit_scale: 1.0,
            fc_relu: true,
        }
    }
}

impl NetworkConfig {
    /// The smallest input that still leaves Mixed_7a a spatial extent of one.
    pub const MIN_IMAGE_SIZE: usize = 75;

    pub fn validate(&self) -> Result<()> {
        if self.image_size < Self::MIN_IMAGE_SIZE {
            return Err(Error::invalid(
                "image size",
                format!("{} is below the network's minimum of {}", self.image_size, Self::MIN_IMAGE_SIZE),
            ));
        }
        if self.num_classes == 0 {
            return Err(Error::invalid("number of identities", "must be at least 1"));
        }
        // 16 divides every channel count of §3 (32, 64, 80, 128, 192, 256, 384, 896, 1792).
        if self.width_divisor == 0 || 16 % self.width_divisor != 0 {
            return Err(Error::invalid("width divisor", format!("{} must be 1, 2, 4, 8 or 16", self.width_divisor)));
        }
        if !(self.keep_prob > 0.0 && self.keep_prob <= 1.0) {
            return Err(Error::invalid("keep probability", format!("{} is not in (0, 1]", self.keep_prob)));
        }
        Ok(())
    }

    /// A channel count of §3 at this width.
    pub fn width(&self, channels: usize) -> usize {
        channels / self.width_divisor
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveConfig {
    /// λ of the center-loss term.
    pub center_loss_lambda: f32,
    /// σ in the weight module's objective Σ w_t/(L_t + σ).
    pub sigma: f32,
    /// α of the center update c ← c − (1−α)(c − ē).
    pub center_alpha: f32,
    /// The reference code's gradient path: no stop-gradient on w inside L, so L's
    /// gradient also reaches the trunk through the weight module's input.
    pub reference_gradient_path: bool,
    pub weighting: Weighting,
}

impl Default for ObjectiveConfig {
    fn default() -> Self {
        ObjectiveConfig {
            center_loss_lambda: 0.1,
            sigma: 0.01,
            center_alpha: 0.5,
            reference_gradient_path: false,
            weighting: Weighting::Dynamic,
        }
    }
}
