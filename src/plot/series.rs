//! The figure's data: each task's weight and loss per step, smoothed, cut into gap-free
//! segments.

use crate::train::StepRecord;

/// One quantity of one task over a run's steps: `None` where the step has no value (a
/// task with no sample in the batch, or a non-finite figure), which leaves a gap.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Curve {
    pub steps: Vec<u64>,
    pub values: Vec<Option<f64>>,
}

impl Curve {
    pub fn weight(records: &[StepRecord], task: usize) -> Curve {
        Curve::from_records(records, |record| Some(record.weights[task]))
    }

    pub fn loss(records: &[StepRecord], task: usize) -> Curve {
        Curve::from_records(records, |record| record.losses[task])
    }

    fn from_records(records: &[StepRecord], value: impl Fn(&StepRecord) -> Option<f32>) -> Curve {
        Curve {
            steps: records.iter().map(|record| record.step).collect(),
            values: records.iter().map(|record| value(record).filter(|v| v.is_finite()).map(f64::from)).collect(),
        }
    }

    /// Centred moving average over `window` steps (fewer at the ends and across gaps, where
    /// only the values present count); a step without a value stays a gap.
    pub fn moving_average(&self, window: usize) -> Curve {
        let window = window.max(1);
        // Running sums of the values present and of their count, so each mean is O(1).
        let mut sums = vec![0.0; self.values.len() + 1];
        let mut counts = vec![0usize; self.values.len() + 1];
        for (i, value) in self.values.iter().enumerate() {
            sums[i + 1] = sums[i] + value.unwrap_or(0.0);
            counts[i + 1] = counts[i] + usize::from(value.is_some());
        }
        let before = window / 2;
        let after = window - 1 - before;
        let values = (0..self.values.len())
            .map(|i| {
                self.values[i]?;
                let lo = i.saturating_sub(before);
                let hi = (i + after + 1).min(self.values.len());
                Some((sums[hi] - sums[lo]) / (counts[hi] - counts[lo]) as f64)
            })
            .collect();
        Curve { steps: self.steps.clone(), values }
    }

    /// The runs of consecutive steps with a value, as (step, value) points.
    pub fn segments(&self) -> Vec<Vec<(u64, f64)>> {
        let mut segments = Vec::new();
        let mut current = Vec::new();
        for (&step, value) in self.steps.iter().zip(&self.values) {
            match value {
                Some(v) => current.push((step, *v)),
                None if !current.is_empty() => segments.push(std::mem::take(&mut current)),
                None => {}
            }
        }
        if !current.is_empty() {
            segments.push(current);
        }
        segments
    }

    /// Smallest and largest value, if any step has one.
    pub fn value_range(&self) -> Option<(f64, f64)> {
        self.values.iter().flatten().fold(None, |range, &v| match range {
            None => Some((v, v)),
            Some((lo, hi)) => Some((f64::min(lo, v), f64::max(hi, v))),
        })
    }
}

/// A line through `points` cut to at most two points per bucket of consecutive points,
/// `buckets` buckets in all: each bucket's lowest and highest, in step order. On a plot
/// `buckets` pixels wide it draws like the full line (the same envelope in every pixel
/// column) while keeping an SVG of a long run small.
pub(crate) fn thin(points: &[(u64, f64)], buckets: usize) -> Vec<(u64, f64)> {
    if points.len() <= 2 * buckets.max(1) {
        return points.to_vec();
    }
    let mut thinned = Vec::with_capacity(2 * buckets);
    for bucket in points.chunks(points.len().div_ceil(buckets)) {
        let by_value = |a: &&(u64, f64), b: &&(u64, f64)| a.1.total_cmp(&b.1);
        let low = bucket.iter().min_by(by_value).copied();
        let high = bucket.iter().max_by(by_value).copied();
        if let (Some(low), Some(high)) = (low, high) {
            let (first, second) = if low.0 <= high.0 { (low, high) } else { (high, low) };
            thinned.push(first);
            if second != first {
                thinned.push(second);
            }
        }
    }
    thinned
}

/// The smoothing window used when none is asked for: about 2% of the run, so a few
/// thousand steps read as a trend while a short run is drawn as it is.
pub(crate) fn default_window(steps: usize) -> usize {
    (steps / 50).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(values: &[Option<f64>]) -> Curve {
        Curve { steps: (1..=values.len() as u64).collect(), values: values.to_vec() }
    }

    #[test]
    fn moving_average_is_centred_and_shrinks_at_the_ends() {
        let smoothed = curve(&[Some(0.0), Some(3.0), Some(6.0), Some(9.0)]).moving_average(3);
        assert_eq!(smoothed.values, vec![Some(1.5), Some(3.0), Some(6.0), Some(7.5)]);
    }

    #[test]
    fn moving_average_keeps_gaps_and_averages_only_present_values() {
        let smoothed = curve(&[Some(2.0), None, Some(4.0), Some(8.0)]).moving_average(3);
        assert_eq!(smoothed.values, vec![Some(2.0), None, Some(6.0), Some(6.0)]);
    }

    #[test]
    fn window_of_one_changes_nothing() {
        let raw = curve(&[Some(1.0), None, Some(5.0)]);
        assert_eq!(raw.moving_average(1), raw);
    }

    #[test]
    fn segments_break_at_gaps() {
        let segments = curve(&[None, Some(1.0), Some(2.0), None, None, Some(3.0)]).segments();
        assert_eq!(segments, vec![vec![(2, 1.0), (3, 2.0)], vec![(6, 3.0)]]);
    }

    #[test]
    fn thinning_keeps_each_buckets_extremes_in_step_order() {
        let points: Vec<(u64, f64)> = (0..1000u64).map(|s| (s, ((s * 37) % 100) as f64)).collect();
        let thinned = thin(&points, 10);
        assert!(thinned.len() <= 20, "{} points", thinned.len());
        assert!(thinned.windows(2).all(|pair| pair[0].0 < pair[1].0));
        for bucket in points.chunks(100) {
            let in_bucket: Vec<f64> =
                thinned.iter().filter(|p| p.0 >= bucket[0].0 && p.0 <= bucket[99].0).map(|p| p.1).collect();
            assert_eq!(in_bucket.iter().copied().fold(f64::INFINITY, f64::min), 0.0);
            assert_eq!(in_bucket.iter().copied().fold(f64::NEG_INFINITY, f64::max), 99.0);
        }
        assert_eq!(thin(&points[..15], 10), points[..15].to_vec(), "short lines stay whole");
    }

    #[test]
    fn value_range_ignores_gaps() {
        assert_eq!(curve(&[None, Some(2.0), Some(-1.0)]).value_range(), Some((-1.0, 2.0)));
        assert_eq!(curve(&[None, None]).value_range(), None);
    }
}
