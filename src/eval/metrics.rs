//! Evaluation maths (DATASETS.md §3): verification accuracy by 10-fold threshold
//! selection, and identification accuracy.

use crate::error::{Error, Result};
use crate::rng::Rng;
use serde::Serialize;
use std::ops::Range;

/// A figure measured on each fold, with its mean and population standard deviation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FoldStats {
    pub per_fold: Vec<f64>,
    pub mean: f64,
    pub std: f64,
}

impl FoldStats {
    /// The mean and population standard deviation of `per_fold` (NaN for no fold).
    pub fn new(per_fold: Vec<f64>) -> FoldStats {
        let n = per_fold.len() as f64;
        let mean = per_fold.iter().sum::<f64>() / n;
        let std = (per_fold.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        FoldStats { per_fold, mean, std }
    }
}

/// Verification accuracy with the threshold of each fold chosen on the others.
#[derive(Clone, Debug, PartialEq)]
pub struct VerificationAccuracy {
    pub accuracy: FoldStats,
    /// The threshold each fold was tested at.
    pub thresholds: Vec<f32>,
}

/// Thresholds tried: 0, 0.01, …, 3.99.
const THRESHOLD_STEPS: usize = 400;

fn threshold(i: usize) -> f32 {
    i as f32 / 100.0
}

/// Contiguous folds of `n` items: the first `n mod k` folds get one extra item.
pub fn fold_ranges(n: usize, k: usize) -> Vec<std::ops::Range<usize>> {
    let (base, extra) = (n / k, n % k);
    let mut start = 0;
    (0..k)
        .map(|f| {
            let len = base + usize::from(f < extra);
            let r = start..start + len;
            start += len;
            r
        })
        .collect()
}

/// A fixed-seed shuffle (Fisher–Yates) of pair indices, so folds mix positives and
/// negatives however the file orders them.
pub fn shuffled_order(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng::derive(seed, 0x5EED_F01D);
    for i in (1..n).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order
}

/// Pairs `(distance, same)` split into `folds` (ranges tiling the pairs in order, see
/// [`fold_ranges`]; shuffle first with [`shuffled_order`] when the file orders the pairs by
/// kind). "Same" is predicted when the distance is below the threshold. For each fold the
/// threshold maximising accuracy on the other folds is taken (the first maximum).
pub fn verification_accuracy(pairs: &[(f32, bool)], folds: &[Range<usize>]) -> Result<VerificationAccuracy> {
    check_folds(folds, pairs.len(), "verification folds")?;
    // correct[f][i]: pairs of fold f classified right at threshold i, counted on the fold's
    // sorted distances so the grid costs a binary search per threshold, not a pass.
    let correct: Vec<Vec<usize>> = folds
        .iter()
        .map(|r| {
            let sorted = |kind: bool| {
                let mut d: Vec<f32> = pairs[r.clone()].iter().filter(|p| p.1 == kind).map(|p| p.0).collect();
                d.sort_by(f32::total_cmp);
                d
            };
            let (same, different) = (sorted(true), sorted(false));
            (0..THRESHOLD_STEPS)
                .map(|i| {
                    let below = |d: &[f32]| d.partition_point(|&v| v < threshold(i));
                    below(&same) + different.len() - below(&different)
                })
                .collect()
        })
        .collect();
    let mut per_fold = Vec::with_capacity(folds.len());
    let mut thresholds = Vec::with_capacity(folds.len());
    for (test, range) in folds.iter().enumerate() {
        let train_correct =
            |i: usize| -> usize { (0..folds.len()).filter(|&f| f != test).map(|f| correct[f][i]).sum() };
        let best =
            (0..THRESHOLD_STEPS).fold(0, |best, i| if train_correct(i) > train_correct(best) { i } else { best });
        per_fold.push(correct[test][best] as f64 / range.len() as f64);
        thresholds.push(threshold(best));
    }
    Ok(VerificationAccuracy { accuracy: FoldStats::new(per_fold), thresholds })
}

/// Folds must tile `0..n` in order, at least two, none empty; `what` names them in errors.
pub(super) fn check_folds(folds: &[Range<usize>], n: usize, what: &str) -> Result<()> {
    if folds.len() < 2 {
        return Err(Error::invalid(what, format!("{} fold(s): at least 2 are needed", folds.len())));
    }
    let mut end = 0;
    for (fold, range) in folds.iter().enumerate() {
        if range.start != end || range.end <= range.start {
            return Err(Error::invalid(
                what,
                format!("fold {fold} is pairs {range:?}: folds must be non-empty and follow each other from pair 0"),
            ));
        }
        end = range.end;
    }
    if end != n {
        return Err(Error::invalid(what, format!("the folds cover {end} of {n} pairs")));
    }
    Ok(())
}

/// The fraction of `(predicted, actual)` that agree; `None` for no sample.
pub fn identification_accuracy(predictions: &[(usize, usize)]) -> Option<f64> {
    if predictions.is_empty() {
        return None;
    }
    Some(predictions.iter().filter(|(p, a)| p == a).count() as f64 / predictions.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_give_the_remainder_to_the_first_ones() {
        let r = fold_ranges(23, 10);
        assert_eq!(r.iter().map(|r| r.len()).collect::<Vec<_>>(), [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]);
        assert_eq!(r.last().unwrap().end, 23);
    }

    #[test]
    fn separable_pairs_score_one_and_pick_a_threshold_between() {
        let pairs: Vec<(f32, bool)> = (0..40).map(|i| if i % 2 == 0 { (0.5, true) } else { (1.5, false) }).collect();
        let v = verification_accuracy(&pairs, &fold_ranges(pairs.len(), 10)).unwrap();
        assert_eq!(v.accuracy.mean, 1.0);
        assert_eq!(v.accuracy.std, 0.0);
        // The first maximum: the smallest threshold above 0.5.
        assert!(v.thresholds.iter().all(|&t| (t - 0.51).abs() < 1e-6), "{:?}", v.thresholds);
    }

    #[test]
    fn a_fold_is_tested_at_the_threshold_of_the_others() {
        // Nine folds separate at 1.0; the last fold's pairs are all beyond it, so tested
        // at the others' threshold its positives fail: accuracy 1/2 there.
        let mut pairs = Vec::new();
        for _ in 0..9 {
            pairs.extend([(0.9, true), (1.1, false)]);
        }
        pairs.extend([(2.0, true), (3.0, false)]);
        let v = verification_accuracy(&pairs, &fold_ranges(pairs.len(), 10)).unwrap();
        assert_eq!(v.accuracy.per_fold[9], 0.5);
        assert!((v.accuracy.mean - 0.95).abs() < 1e-12);
        assert!((v.accuracy.std - 0.15).abs() < 1e-12);
    }

    #[test]
    fn accuracy_counts_match_a_pass_over_every_pair() {
        let mut rng = Rng::derive(7, 0);
        let pairs: Vec<(f32, bool)> = (0..257).map(|_| (rng.uniform() * 4.0, rng.uniform() < 0.4)).collect();
        let folds = fold_ranges(pairs.len(), 10);
        let v = verification_accuracy(&pairs, &folds).unwrap();
        for (f, range) in folds.iter().enumerate() {
            let t = v.thresholds[f];
            let right = pairs[range.clone()].iter().filter(|&&(d, same)| (d < t) == same).count();
            assert_eq!(v.accuracy.per_fold[f], right as f64 / range.len() as f64, "fold {f}");
            let others = |t: f32| {
                folds
                    .iter()
                    .enumerate()
                    .filter(|&(g, _)| g != f)
                    .flat_map(|(_, r)| &pairs[r.clone()])
                    .filter(|&&(d, same)| (d < t) == same)
                    .count()
            };
            assert!((0..THRESHOLD_STEPS).all(|i| others(threshold(i)) <= others(t)), "fold {f}: not the best");
        }
    }

    #[test]
    fn folds_must_tile_the_pairs() {
        assert!(check_folds(&[0..2, 2..4], 4, "folds").is_ok());
        assert!(check_folds(&[0..2, 3..4], 4, "folds").is_err());
        assert!(check_folds(&[0..2, 2..3], 4, "folds").is_err());
        assert!(check_folds(&[0..2, 2..2, 2..4], 4, "folds").is_err());
        assert!(check_folds(std::slice::from_ref(&(0..4)), 4, "folds").is_err());
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let a = shuffled_order(100, 1);
        assert_eq!(a, shuffled_order(100, 1));
        assert_ne!(a, shuffled_order(100, 2));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn identification_counts_agreement() {
        assert_eq!(identification_accuracy(&[(1, 1), (2, 0), (3, 3), (0, 0)]), Some(0.75));
        assert_eq!(identification_accuracy(&[]), None);
    }
}
