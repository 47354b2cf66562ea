//! Evaluation: the metrics of the published protocols and a model's scores on a
//! protocol's test part.

mod evaluate;
mod metrics;
mod rank;
mod verification;

pub use evaluate::{evaluate, run_test_images, score, EvalLoading, EvalReport, TestOutputs, MAX_RANK, PAIR_SHUFFLE_SEED};
pub use metrics::{
    fold_ranges, identification_accuracy, shuffled_order, squared_distance, verification_accuracy, FoldStats,
    VerificationAccuracy,
};
pub use rank::{cmc, cmc_over_folds, distance_matrix, identify, Cmc, CmcOverFolds};
pub use verification::{
    operating_point, roc_curve, val_at_far, OperatingPoint, RocCurve, ValAtFar, ValProtocol, VAL_FAR_TARGETS,
};
