//! How the three task losses are weighted: the paper's dynamic weights and the
//! baselines it compares with, behind one interface chosen by `--strategy`.

use crate::autograd::ParamGroup;
use crate::batch::Task;
use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// The uncertainty weighting's learned log variances `s_t` (one per task).
pub const LOG_VARIANCE: &str = "Uncertainty/log_variance";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Weighting {
    /// The paper: w from the weight module, which alone is trained on Σ w_t/(L_t + σ)
    /// (eq. 11–12), so the harder task gains weight.
    Dynamic,
    /// The paper's baseline after Yin & Liu: the weight module trained on Σ w_t·L_t,
    /// which drives weight away from the hard task.
    Naive,
    /// Constant weights.
    Fixed([f32; 3]),
    /// One task alone (the other branches are not run).
    Single(Task),
    /// Kendall et al. 2018: L = Σ_t e^(−s_t)·L_t + ½·s_t with learned s_t = log σ_t²,
    /// trained with the network's objective; w_t = e^(−s_t).
    Uncertainty,
}

impl Weighting {
    /// Whether the task's branch runs at all.
    pub fn runs(&self, task: Task) -> bool {
        match self {
            Weighting::Single(t) => *t == task,
            Weighting::Fixed(w) => w[task.index()] != 0.0,
            _ => true,
        }
    }

    /// Whether anything in the weight-module group is trained.
    pub fn trains_weights(&self) -> bool {
        matches!(self, Weighting::Dynamic | Weighting::Naive | Weighting::Uncertainty)
    }

    /// Parameters the strategy adds to the model: `(name, shape, group)`, all starting at 0.
    pub fn extra_parameters(&self) -> Vec<(&'static str, usize, ParamGroup)> {
        match self {
            Weighting::Uncertainty => vec![(LOG_VARIANCE, 3, ParamGroup::WeightModule)],
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Weighting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Weighting::Dynamic => f.write_str("dynamic"),
            Weighting::Naive => f.write_str("naive"),
            Weighting::Fixed(w) => write!(f, "fixed:{},{},{}", w[0], w[1], w[2]),
            Weighting::Single(t) => write!(f, "single:{}", t.name()),
            Weighting::Uncertainty => f.write_str("uncertainty"),
        }
    }
}

impl FromStr for Weighting {
    type Err = Error;

    /// `dynamic`, `naive`, `fixed:w1,w2,w3`, `single:<task>` (`verification`, `photo-id`,
    /// `caricature-id`, or 1–3), `uncertainty`.
    fn from_str(s: &str) -> Result<Weighting> {
        let bad = |reason: String| Error::invalid("strategy", format!("`{s}`: {reason}"));
        let (head, arg) = match s.split_once(':') {
            Some((h, a)) => (h, Some(a)),
            None => (s, None),
        };
        match (head, arg) {
            ("dynamic", None) => Ok(Weighting::Dynamic),
            ("naive", None) => Ok(Weighting::Naive),
            ("uncertainty", None) => Ok(Weighting::Uncertainty),
            ("fixed", Some(list)) => {
                let w: Vec<f32> = list
                    .split(',')
                    .map(|v| v.trim().parse::<f32>().map_err(|_| bad(format!("`{}` is not a number", v.trim()))))
                    .collect::<Result<_>>()?;
                let w: [f32; 3] =
                    w.try_into().map_err(|w: Vec<f32>| bad(format!("{} weights, expected 3", w.len())))?;
                if w.iter().any(|v| !v.is_finite() || *v < 0.0) || w.iter().all(|&v| v == 0.0) {
                    return Err(bad("weights must be finite, non-negative and not all zero".into()));
                }
                Ok(Weighting::Fixed(w))
            }
            ("single", Some(name)) => Task::ALL
                .into_iter()
                .find(|t| t.name() == name || (t.index() + 1).to_string() == name)
                .map(Weighting::Single)
                .ok_or_else(|| bad("the task is one of verification, photo-id, caricature-id (or 1, 2, 3)".into())),
            _ => Err(bad("expected dynamic, naive, fixed:w1,w2,w3, single:<task> or uncertainty".into())),
        }
    }
}

/// Stored as its flag text (`fixed:1,0.5,0.5`) in checkpoints.
impl serde::Serialize for Weighting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Weighting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Weighting, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_strategy_parses_and_prints_back() {
        for s in ["dynamic", "naive", "uncertainty", "fixed:1,0.5,0", "single:photo-id", "single:caricature-id"] {
            assert_eq!(s.parse::<Weighting>().unwrap().to_string(), s);
        }
        assert_eq!("single:3".parse::<Weighting>().unwrap(), Weighting::Single(Task::CaricatureId));
        for bad in ["dynamc", "fixed:1,2", "fixed:1,x,2", "fixed:0,0,0", "fixed:-1,1,1", "single:face", "naive:1"] {
            let e = bad.parse::<Weighting>().unwrap_err().to_string();
            assert!(e.contains("invalid value for strategy:") && e.contains(bad), "{e}");
        }
    }
}
