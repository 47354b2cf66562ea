//! Evaluation: the metrics of the published protocols.

mod metrics;

pub use metrics::{
    fold_ranges, identification_accuracy, shuffled_order, squared_distance, verification_accuracy, FoldStats,
    VerificationAccuracy,
};
