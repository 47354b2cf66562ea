//! The multi-task network of the paper: a shared Inception-ResNet trunk to Mixed_7a,
//! three task branches, and the dynamic-weight module; the objectives that train them.

mod branch;
mod config;
mod network;
mod objective;
mod state;
mod warm_start;
mod weight_module;
mod weighting;

pub use branch::{Branch, BranchOutput};
pub use config::{NetworkConfig, ObjectiveConfig};
pub use network::{LayerRow, MultiTaskNet, CENTERS};
pub use objective::{
    arg_max, training_objective, weight_objective, ReadoutTensors, StepReadouts, TaskForward, TrainForward,
};
pub use state::{update_centers, update_moving_averages};
pub use warm_start::{
    copy_branch, init_id_branches_from_verification, load_matching, name_matches, BranchCopy, FcCopy, LoadReport,
    OnShapeMismatch, SkippedTensor,
};
pub use weight_module::{TaskWeights, WeightModule};
pub use weighting::{Weighting, LOG_VARIANCE};
