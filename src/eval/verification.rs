//! Verification beyond accuracy (DATASETS.md §3): the ROC curve of scored pairs with its
//! AUC and equal error rate, and VAL at a target FAR over folds.
//!
//! Pairs are `(distance, same)`; "same" is predicted when the distance is below the
//! threshold. TAR (= VAL) is the fraction of same pairs accepted, FAR the fraction of
//! different pairs accepted.

use super::metrics::{check_folds, FoldStats};
use crate::distance::{accept_rates, check_distances, count_kinds, largest_threshold_within, next_up};
use crate::error::{Error, Result};
use serde::Serialize;
use std::ops::Range;

/// The ROC of a set of pairs: one point per distinct distance, plus the point where nothing
/// is accepted, as scikit-learn's `roc_curve(same, -distance, drop_intermediate=False)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RocCurve {
    /// Point k accepts the pairs at distance below `thresholds[k]`: the first is the
    /// smallest distance (nothing accepted), the next ones each following distinct distance,
    /// the last the float just above the largest distance (everything accepted).
    pub thresholds: Vec<f32>,
    /// False accept rate of each point, non-decreasing from 0 to 1.
    pub far: Vec<f64>,
    /// True accept rate of each point, non-decreasing from 0 to 1.
    pub tar: Vec<f64>,
    /// Area under the curve by the trapezoid rule (scikit-learn's `roc_auc_score`): a tie
    /// between a same and a different pair counts one half.
    pub auc: f64,
    /// Equal error rate: where FAR = FRR (= 1 − TAR) on the curve drawn as straight lines
    /// between its points.
    pub eer: f64,
    /// The threshold there, interpolated linearly between the two points around it.
    pub eer_threshold: f64,
    pub same_pairs: usize,
    pub different_pairs: usize,
}

/// The ROC curve, AUC and EER of `pairs`; both kinds of pair must be present.
pub fn roc_curve(pairs: &[(f32, bool)]) -> Result<RocCurve> {
    check_distances(pairs, "ROC pairs")?;
    let (same_pairs, different_pairs) = count_kinds(pairs);
    if same_pairs == 0 || different_pairs == 0 {
        return Err(Error::invalid(
            "ROC pairs",
            format!("{same_pairs} same and {different_pairs} different pair(s): both kinds are needed"),
        ));
    }
    let mut sorted = pairs.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));

    let mut thresholds = vec![sorted[0].0];
    let (mut far, mut tar) = (vec![0.0], vec![0.0]);
    let (mut true_accepts, mut false_accepts) = (0usize, 0usize);
    let mut i = 0;
    while i < sorted.len() {
        let distance = sorted[i].0;
        while i < sorted.len() && sorted[i].0 == distance {
            if sorted[i].1 {
                true_accepts += 1;
            } else {
                false_accepts += 1;
            }
            i += 1;
        }
        thresholds.push(sorted.get(i).map_or_else(|| next_up(distance), |next| next.0));
        far.push(false_accepts as f64 / different_pairs as f64);
        tar.push(true_accepts as f64 / same_pairs as f64);
    }

    let auc = far.windows(2).zip(tar.windows(2)).map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) / 2.0).sum();
    let (eer, eer_threshold) = equal_error_rate(&thresholds, &far, &tar);
    Ok(RocCurve { thresholds, far, tar, auc, eer, eer_threshold, same_pairs, different_pairs })
}

/// Where the polyline through the ROC points crosses FAR = 1 − TAR. `far + tar − 1` rises
/// from −1 at the first point to +1 at the last, so one segment holds the crossing.
fn equal_error_rate(thresholds: &[f32], far: &[f64], tar: &[f64]) -> (f64, f64) {
    let excess = |k: usize| far[k] + tar[k] - 1.0;
    let k = (0..far.len() - 1).find(|&k| excess(k + 1) >= 0.0).unwrap_or(far.len() - 2);
    let along = -excess(k) / (excess(k + 1) - excess(k));
    let eer = far[k] + along * (far[k + 1] - far[k]);
    let (t0, t1) = (f64::from(thresholds[k]), f64::from(thresholds[k + 1]));
    (eer, t0 + along * (t1 - t0))
}

/// The FAR targets that WebCaricature's protocol reports VAL at: 0.1% and 1%.
pub const VAL_FAR_TARGETS: [f64; 2] = [0.001, 0.01];

/// How VAL@FAR picks each fold's threshold and where it measures VAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValProtocol {
    /// DATASETS.md §3: on each test fold, the largest threshold whose FAR on that fold is
    /// at most the target, and VAL on that fold at it.
    TestFold,
    /// Reference-compatible (for comparing with published figures only): for each fold, the
    /// threshold where the FAR of the other nine folds reaches the target, interpolated over
    /// the grid 0, 0.001, …, 3.999 (0 when the FAR never reaches it), and VAL measured on
    /// those same training folds, as the paper's code does.
    ReferenceTrainingFolds,
}

/// VAL at a target FAR over folds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValAtFar {
    pub target_far: f64,
    pub protocol: ValProtocol,
    /// VAL (true accept rate) of each fold, with mean and population std.
    pub val: FoldStats,
    /// The FAR reached at each fold's threshold, measured where VAL is.
    pub far: FoldStats,
    /// Each fold's threshold: pairs at distance below it are accepted.
    pub thresholds: Vec<f64>,
}

/// Thresholds of the reference's VAL search: 0, 0.001, …, 3.999.
const REFERENCE_GRID_STEPS: usize = 4000;

/// Threshold `i` of the reference's grid, as numpy's `arange(0, 4, 0.001)` computes it.
fn reference_grid(i: usize) -> f64 {
    i as f64 * 0.001
}

/// VAL at `target_far` (in (0, 1)) for pairs split into `folds`: ranges that cover the pairs
/// in order (see [`fold_ranges`](super::fold_ranges)). In [`ValProtocol::TestFold`] every fold
/// needs both kinds of pair; in the reference protocol, every fold's complement does.
pub fn val_at_far(
    pairs: &[(f32, bool)],
    folds: &[Range<usize>],
    target_far: f64,
    protocol: ValProtocol,
) -> Result<ValAtFar> {
    check_distances(pairs, "VAL@FAR pairs")?;
    check_folds(folds, pairs.len(), "VAL@FAR folds")?;
    if !(target_far > 0.0 && target_far < 1.0) {
        return Err(Error::invalid("target FAR", format!("{target_far} is not in (0, 1)")));
    }
    let mut val = Vec::with_capacity(folds.len());
    let mut far = Vec::with_capacity(folds.len());
    let mut thresholds = Vec::with_capacity(folds.len());
    for (fold, range) in folds.iter().enumerate() {
        let (threshold, measured) = match protocol {
            ValProtocol::TestFold => {
                let test = &pairs[range.clone()];
                (largest_threshold_within(test, target_far, fold)?, test.to_vec())
            }
            ValProtocol::ReferenceTrainingFolds => {
                let training: Vec<(f32, bool)> =
                    pairs[..range.start].iter().chain(&pairs[range.end..]).copied().collect();
                (reference_threshold(&training, target_far, fold)?, training)
            }
        };
        let (v, f) = accept_rates(&measured, threshold);
        val.push(v);
        far.push(f);
        thresholds.push(threshold);
    }
    Ok(ValAtFar { target_far, protocol, val: FoldStats::new(val), far: FoldStats::new(far), thresholds })
}

/// The reference's threshold on `training` pairs: FAR at every grid threshold, then the
/// grid's threshold-vs-FAR polyline read at the target as `scipy.interpolate.interp1d(far,
/// thresholds, kind='slinear')` did when the reference ran (before scipy refused repeated
/// FAR values): between the last grid point whose FAR is at most the target and the next.
fn reference_threshold(training: &[(f32, bool)], target_far: f64, fold: usize) -> Result<f64> {
    let mut different: Vec<f64> = training.iter().filter(|p| !p.1).map(|p| f64::from(p.0)).collect();
    let same = training.len() - different.len();
    if same == 0 || different.is_empty() {
        return Err(Error::invalid(
            "VAL@FAR pairs",
            format!(
                "the folds other than fold {fold} have {same} same and {} different pair(s): both kinds are needed",
                different.len()
            ),
        ));
    }
    different.sort_by(f64::total_cmp);
    let grid = reference_grid;
    let mut below = 0;
    let far: Vec<f64> = (0..REFERENCE_GRID_STEPS)
        .map(|i| {
            while below < different.len() && different[below] < grid(i) {
                below += 1;
            }
            below as f64 / different.len() as f64
        })
        .collect();
    if far[REFERENCE_GRID_STEPS - 1] < target_far {
        return Ok(0.0);
    }
    let i = (0..REFERENCE_GRID_STEPS - 1).rev().find(|&i| far[i] <= target_far).unwrap_or(0);
    if far[i + 1] == far[i] {
        return Ok(grid(i + 1));
    }
    Ok(grid(i) + (target_far - far[i]) / (far[i + 1] - far[i]) * (grid(i + 1) - grid(i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_grid_is_numpys_arange() {
        // numpy.arange(0, 4, 0.001)[[9, 18, 1234, 3999]]: i·0.001, not the nearest float to i/1000.
        let grid = reference_grid;
        assert_eq!(grid(9), 0.009000000000000001);
        assert_eq!(grid(18), 0.018000000000000002);
        assert_eq!(grid(1234), 1.234);
        assert_eq!(grid(3999), 3.999);
    }
}
