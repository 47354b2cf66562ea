//! Thresholds on the distance of scored pairs `(distance, same)`: "same" is predicted when
//! the distance is below the threshold. TAR (= VAL) is the fraction of same pairs accepted,
//! FAR the fraction of different pairs accepted.

use crate::error::{Error, Result};
use serde::Serialize;

/// An operating point: the largest threshold whose FAR on `pairs` is at most `target_far`,
/// with the VAL and FAR there (`cari eval --calibrate` fits serving thresholds with it).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct OperatingPoint {
    pub threshold: f64,
    pub val: f64,
    pub far: f64,
}

pub fn operating_point(pairs: &[(f32, bool)], target_far: f64) -> Result<OperatingPoint> {
    check_distances(pairs, "calibration pairs")?;
    if !(target_far > 0.0 && target_far < 1.0) {
        return Err(Error::invalid("target FAR", format!("{target_far} is not in (0, 1)")));
    }
    let threshold = largest_threshold_within(pairs, target_far, 0)?;
    let (val, far) = accept_rates(pairs, threshold);
    Ok(OperatingPoint { threshold, val, far })
}

/// The largest t with FAR(t) ≤ target on `pairs`: with k = the most false accepts the target
/// allows among n different pairs, t is the (k+1)-th smallest different-pair distance.
/// `fold` names the pairs in errors.
pub(crate) fn largest_threshold_within(pairs: &[(f32, bool)], target_far: f64, fold: usize) -> Result<f64> {
    let mut different: Vec<f32> = pairs.iter().filter(|p| !p.1).map(|p| p.0).collect();
    let same = pairs.len() - different.len();
    if same == 0 || different.is_empty() {
        return Err(Error::invalid(
            "VAL@FAR pairs",
            format!("fold {fold} has {same} same and {} different pair(s): both kinds are needed", different.len()),
        ));
    }
    different.sort_by(f32::total_cmp);
    let n = different.len();
    // k/n compared as FAR is computed, so rounding of target·n cannot move k.
    let mut allowed = ((target_far * n as f64).floor() as usize).min(n);
    while allowed > 0 && allowed as f64 / n as f64 > target_far {
        allowed -= 1;
    }
    while allowed < n && (allowed + 1) as f64 / n as f64 <= target_far {
        allowed += 1;
    }
    Ok(match different.get(allowed) {
        Some(&d) => f64::from(d),
        // Every different pair may be accepted: take everything in the fold.
        None => f64::from(next_up(pairs.iter().map(|p| p.0).fold(f32::MIN, f32::max))),
    })
}

/// (TAR, FAR) of `pairs` accepting those at distance below `threshold`.
pub(crate) fn accept_rates(pairs: &[(f32, bool)], threshold: f64) -> (f64, f64) {
    let (same, different) = count_kinds(pairs);
    let accepted = |kind: bool| pairs.iter().filter(|p| p.1 == kind && f64::from(p.0) < threshold).count();
    (accepted(true) as f64 / same as f64, accepted(false) as f64 / different as f64)
}

/// How many pairs are same pairs, and how many different.
pub(crate) fn count_kinds(pairs: &[(f32, bool)]) -> (usize, usize) {
    let same = pairs.iter().filter(|p| p.1).count();
    (same, pairs.len() - same)
}

/// Some pairs, every distance finite; `what` names them in errors.
pub(crate) fn check_distances(pairs: &[(f32, bool)], what: &str) -> Result<()> {
    if pairs.is_empty() {
        return Err(Error::invalid(what, "no pair"));
    }
    match pairs.iter().position(|p| !p.0.is_finite()) {
        Some(i) => Err(Error::invalid(what, format!("pair {i} has distance {}", pairs[i].0))),
        None => Ok(()),
    }
}

/// The smallest f32 above `x` (finite `x`).
pub(crate) fn next_up(x: f32) -> f32 {
    if x == 0.0 {
        f32::from_bits(1)
    } else if x > 0.0 {
        f32::from_bits(x.to_bits() + 1)
    } else {
        f32::from_bits(x.to_bits() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_up_is_the_next_float() {
        assert_eq!(next_up(1.0), 1.0 + f32::EPSILON);
        assert!(next_up(0.0) > 0.0 && next_up(0.0) < f32::MIN_POSITIVE);
        assert!(next_up(-1.0) > -1.0 && next_up(-1.0) < -1.0 + f32::EPSILON);
    }
}
