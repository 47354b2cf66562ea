//! Fully connected layer `y = x·W + b`, W `[in, out]`.

use super::{declare_weights_and_biases, weights_and_biases, Ctx, Init, Layer, ParamSpec};
use crate::autograd::{ParamGroup, Var};
use crate::error::{Error, Result};
use crate::ops::{self, Activation, Features};
use crate::tensor::Shape;

pub struct Linear {
    scope: String,
    in_features: usize,
    out_features: usize,
    group: ParamGroup,
    init: Init,
}

impl Linear {
    /// Weights start truncated-normal σ 0.1, biases at zero (the reference's logits layers).
    pub fn new(scope: impl Into<String>, in_features: usize, out_features: usize, group: ParamGroup) -> Linear {
        Linear { scope: scope.into(), in_features, out_features, group, init: Init::TruncatedNormal(0.1) }
    }

    /// `act(x·W + b)`, the activation in the layer's own pass.
    pub fn forward_with(&self, ctx: &Ctx, x: &Var, act: Activation) -> Result<Var> {
        let (w, b) = weights_and_biases(ctx, &self.scope)?;
        ops::linear(x, &w, &b, act)
    }

    /// The product without its bias, and the bias: for a consumer that adds the bias in
    /// its own pass (the weight module's head).
    pub fn unbiased(&self, ctx: &Ctx, x: &Var) -> Result<(Var, Var)> {
        let (w, b) = weights_and_biases(ctx, &self.scope)?;
        Ok((ops::matmul(x, &w)?, b))
    }
}

impl Layer for Linear {
    fn scope(&self) -> &str {
        &self.scope
    }

    fn forward(&self, ctx: &Ctx, x: &Features) -> Result<Features> {
        Ok(self.forward_with(ctx, &x.var()?, Activation::Identity)?.into())
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape> {
        match input.dims() {
            &[b, f] if f == self.in_features => Ok(Shape::new([b, self.out_features])),
            _ => Err(Error::ShapeMismatch {
                op: "linear",
                lhs: input.clone(),
                rhs: Shape::new([self.in_features, self.out_features]),
            }),
        }
    }

    fn declare(&self, out: &mut Vec<ParamSpec>) {
        let weights = Shape::new([self.in_features, self.out_features]);
        declare_weights_and_biases(&self.scope, weights, self.init, self.out_features, self.group, out);
    }
}
