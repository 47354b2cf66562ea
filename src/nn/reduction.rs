//! Max pooling and the reduction blocks (Mixed_6a, Mixed_7a): stride-2 conv towers and a
//! stride-2 max pool side by side, concatenated.

use super::block::Tower;
use super::{ConvSpec, Ctx, Layer, ParamSpec};
use crate::error::{Error, Result};
use crate::ops::{self, pool_geometry, Features};
use crate::tensor::Shape;

/// 3×3 stride-2 VALID max pooling, the only pooling the network uses.
pub struct MaxPool {
    scope: String,
}

impl MaxPool {
    pub const WINDOW: usize = 3;
    pub const STRIDE: usize = 2;

    pub fn new(scope: impl Into<String>) -> MaxPool {
        MaxPool { scope: scope.into() }
    }
}

impl Layer for MaxPool {
    fn scope(&self) -> &str {
        &self.scope
    }

    fn forward(&self, _ctx: &Ctx, x: &Features) -> Result<Features> {
        Ok(ops::max_pool2d(&x.var()?, Self::WINDOW, Self::STRIDE)?.into())
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape> {
        let g = pool_geometry(input, Self::WINDOW, Self::STRIDE)?;
        Ok(Shape::new([g.batch, g.out_h, g.out_w, g.channels]))
    }

    fn declare(&self, _out: &mut Vec<ParamSpec>) {}
}

pub struct Reduction {
    scope: String,
    towers: Vec<Tower>,
    pool: MaxPool,
}

impl Reduction {
    /// `towers[i]` becomes `Branch_i`; the max pool is the last branch.
    pub fn new(scope: impl Into<String>, in_c: usize, towers: &[&[ConvSpec]]) -> Reduction {
        let scope = scope.into();
        let towers = towers
            .iter()
            .enumerate()
            .map(|(i, t)| Tower::new(&scope, &format!("Branch_{i}"), in_c, t))
            .collect::<Vec<_>>();
        let pool = MaxPool::new(format!("{scope}/Branch_{}/MaxPool_1a_3x3", towers.len()));
        Reduction { scope, towers, pool }
    }
}

impl Layer for Reduction {
    fn scope(&self) -> &str {
        &self.scope
    }

    fn forward(&self, ctx: &Ctx, x: &Features) -> Result<Features> {
        // The input feeds every tower and the pool: stored once for all of them.
        let x = Features::Value(x.var()?);
        let mut outs = self.towers.iter().map(|t| t.forward(ctx, &x)).collect::<Result<Vec<_>>>()?;
        outs.push(self.pool.forward(ctx, &x)?);
        Ok(ops::concat_features(&outs)?.into())
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape> {
        let pooled = self.pool.output_shape(input)?;
        let mut channels = pooled.last();
        for t in &self.towers {
            let s = t.output_shape(input)?;
            if s.dims()[..3] != pooled.dims()[..3] {
                return Err(Error::ShapeMismatch { op: "reduction block", lhs: pooled, rhs: s });
            }
            channels += s.last();
        }
        Ok(pooled.with_last(channels))
    }

    fn declare(&self, out: &mut Vec<ParamSpec>) {
        self.towers.iter().for_each(|t| t.declare(out));
    }
}
