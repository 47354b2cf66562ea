//! The Inception-ResNet residual blocks (Block35, Block17, Block8): parallel conv
//! branches, concatenated, projected back by a biased 1×1 "up" conv, added to the input
//! with a scale, then an optional ReLU.

use super::{Conv, ConvBn, ConvSpec, Ctx, Layer, ParamSpec};
use crate::error::{Error, Result};
use crate::ops::{self, Activation, Features};
use crate::tensor::Shape;

/// A chain of conv + BN + ReLU layers named `<scope>/<branch>/<conv name>`.
pub(super) struct Tower {
    layers: Vec<ConvBn>,
}

impl Tower {
    pub(super) fn new(scope: &str, branch: &str, in_c: usize, specs: &[ConvSpec]) -> Tower {
        let mut c = in_c;
        let layers = specs
            .iter()
            .map(|s| {
                let l = ConvBn::new(format!("{scope}/{branch}/{}", s.name), c, *s);
                c = s.out_c;
                l
            })
            .collect();
        Tower { layers }
    }

    pub(super) fn out_c(&self) -> usize {
        self.layers.last().map(ConvBn::out_c).unwrap_or(0)
    }

    pub(super) fn forward(&self, ctx: &Ctx, x: &Features) -> Result<Features> {
        let mut y = x.clone();
        for l in &self.layers {
            y = l.forward(ctx, &y)?;
        }
        Ok(y)
    }

    pub(super) fn output_shape(&self, input: &Shape) -> Result<Shape> {
        self.layers.iter().try_fold(input.clone(), |s, l| l.output_shape(&s))
    }

    pub(super) fn declare(&self, out: &mut Vec<ParamSpec>) {
        self.layers.iter().for_each(|l| l.declare(out));
    }
}

pub struct ResidualBlock {
    scope: String,
    towers: Vec<Tower>,
    up: Conv,
    scale: f32,
    activation: bool,
}

impl ResidualBlock {
    /// `towers[i]` becomes `Branch_i`; `channels` is the residual width (input and output).
    pub fn new(
        scope: impl Into<String>,
        channels: usize,
        towers: &[&[ConvSpec]],
        scale: f32,
        activation: bool,
    ) -> ResidualBlock {
        let scope = scope.into();
        let towers: Vec<Tower> =
            towers.iter().enumerate().map(|(i, t)| Tower::new(&scope, &format!("Branch_{i}"), channels, t)).collect();
        let mixed: usize = towers.iter().map(Tower::out_c).sum();
        let up = Conv::new(format!("{scope}/Conv2d_1x1"), mixed, ConvSpec::new("Conv2d_1x1", (1, 1), channels));
        ResidualBlock { scope, towers, up, scale, activation }
    }
}

impl Layer for ResidualBlock {
    fn scope(&self) -> &str {
        &self.scope
    }

    fn forward(&self, ctx: &Ctx, x: &Features) -> Result<Features> {
        // The input feeds the towers and the residual sum: stored once for all of them.
        let x = Features::Value(x.var()?);
        let outs = self.towers.iter().map(|t| t.forward(ctx, &x)).collect::<Result<Vec<_>>>()?;
        let mixed = ops::concat_features(&outs)?;
        let act = if self.activation { Activation::Relu } else { Activation::Identity };
        Ok(self.up.residual_tail(ctx, &x.var()?, &mixed, self.scale, act)?.into())
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape> {
        for t in &self.towers {
            let s = t.output_shape(input)?;
            if s.dims()[..3] != input.dims()[..3] {
                return Err(Error::ShapeMismatch { op: "residual block", lhs: input.clone(), rhs: s });
            }
        }
        let mixed: usize = self.towers.iter().map(Tower::out_c).sum();
        let out = self.up.output_shape(&input.with_last(mixed))?;
        if &out != input {
            return Err(Error::ShapeMismatch { op: "residual block", lhs: input.clone(), rhs: out });
        }
        Ok(out)
    }

    fn declare(&self, out: &mut Vec<ParamSpec>) {
        self.towers.iter().for_each(|t| t.declare(out));
        self.up.declare(out);
    }
}
