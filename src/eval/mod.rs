//! Evaluation: the metrics of the published protocols, what an evaluation measures on a
//! dataset (an [`EvalPlan`]) and a model's scores on it.

mod evaluate;
mod metrics;
mod plan;
mod rank;
mod text;
mod verification;

pub use evaluate::{
    calibrate, evaluate_models, run_images, score, EvalReport, TestOutputs, VerificationReport, MAX_RANK,
};
pub use metrics::{
    fold_ranges, identification_accuracy, shuffled_order, verification_accuracy, FoldStats, VerificationAccuracy,
};
pub use plan::{EvalPlan, GallerySplit, IdentificationFolds, FOLDS, PAIR_SHUFFLE_SEED};
pub use rank::{cmc, cmc_over_folds, identify, Cmc, CmcOverFolds};
pub use verification::{roc_curve, val_at_far, RocCurve, ValAtFar, ValProtocol, VAL_FAR_TARGETS};
