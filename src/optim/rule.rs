//! The update rules the optimizer offers, with the state slots each keeps per parameter.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "lowercase")]
pub enum Rule {
    /// `v ← μ·v + g; θ ← θ − lr·v`.
    Sgd { momentum: f32 },
    /// TF's RMSProp (the reference's optimizer): `ms ← ρ·ms + (1 − ρ)·g²;
    /// mom ← μ·mom + lr·g/√(ms + ε); θ ← θ − mom`, with `ms` starting at 1.
    RmsProp { decay: f32, momentum: f32, epsilon: f32 },
    /// TF's Adam: bias correction folded into the step size.
    Adam { beta1: f32, beta2: f32, epsilon: f32 },
}

impl Rule {
    /// The reference's RMSProp: decay 0.9, momentum 0.9, ε 1.0 inside the root.
    pub const REFERENCE_RMSPROP: Rule = Rule::RmsProp { decay: 0.9, momentum: 0.9, epsilon: 1.0 };

    pub fn name(&self) -> &'static str {
        match self {
            Rule::Sgd { .. } => "sgd",
            Rule::RmsProp { .. } => "rmsprop",
            Rule::Adam { .. } => "adam",
        }
    }

    /// The per-parameter state tensors, with their initial value.
    pub fn slots(&self) -> &'static [(&'static str, f32)] {
        match self {
            Rule::Sgd { .. } => &[("velocity", 0.0)],
            // TF starts the mean square at 1, so the first steps are small.
            Rule::RmsProp { .. } => &[("mean_square", 1.0), ("momentum", 0.0)],
            Rule::Adam { .. } => &[("m", 0.0), ("v", 0.0)],
        }
    }
}

impl FromStr for Rule {
    type Err = Error;

    /// `rmsprop`, `sgd` or `adam` with the reference code's settings: RMSProp as above,
    /// SGD momentum 0.9, Adam β 0.9/0.999 with ε 0.1 (large, which bounds the first steps).
    fn from_str(name: &str) -> Result<Rule> {
        match name {
            "rmsprop" => Ok(Rule::REFERENCE_RMSPROP),
            "sgd" => Ok(Rule::Sgd { momentum: 0.9 }),
            "adam" => Ok(Rule::Adam { beta1: 0.9, beta2: 0.999, epsilon: 0.1 }),
            other => Err(Error::invalid("optimizer", format!("`{other}` is not one of rmsprop, sgd, adam"))),
        }
    }
}
