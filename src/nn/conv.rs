//! Convolution layers: conv + batch norm (+ ReLU), and the biased 1×1 "up" projection.

use super::{declare_weights_and_biases, weights_and_biases, Ctx, Init, Layer, ParamSpec, BN_EPS};
use crate::autograd::{ParamGroup, Var};
use crate::error::Result;
use crate::ops::{self, conv_geometry, Activation, Conv2dSpec, Features, Padding};
use crate::tensor::Shape;

/// One convolution of a block: its name within the block, kernel, output channels,
/// stride and padding.
#[derive(Clone, Copy, Debug)]
pub struct ConvSpec {
    pub name: &'static str,
    pub kernel: (usize, usize),
    pub out_c: usize,
    pub stride: usize,
    pub padding: Padding,
}

impl ConvSpec {
    pub const fn new(name: &'static str, kernel: (usize, usize), out_c: usize) -> ConvSpec {
        ConvSpec { name, kernel, out_c, stride: 1, padding: Padding::Same }
    }

    /// Stride-2 VALID: the spatial reductions.
    pub const fn reduce(name: &'static str, out_c: usize) -> ConvSpec {
        ConvSpec { name, kernel: (3, 3), out_c, stride: 2, padding: Padding::Valid }
    }

    pub const fn valid(mut self) -> ConvSpec {
        self.padding = Padding::Valid;
        self
    }

    fn conv2d(&self) -> Conv2dSpec {
        Conv2dSpec { stride: self.stride, padding: self.padding }
    }

    fn weight_shape(&self, in_c: usize) -> Shape {
        Shape::new([self.kernel.0, self.kernel.1, in_c, self.out_c])
    }

    fn xavier(&self, in_c: usize) -> Init {
        let area = self.kernel.0 * self.kernel.1;
        Init::Xavier { fan_in: area * in_c, fan_out: area * self.out_c }
    }
}

/// conv (no bias) → batch norm (shift only) → optional ReLU.
pub struct ConvBn {
    scope: String,
    spec: ConvSpec,
    in_c: usize,
    relu: bool,
}

impl ConvBn {
    pub fn new(scope: impl Into<String>, in_c: usize, spec: ConvSpec) -> ConvBn {
        ConvBn { scope: scope.into(), spec, in_c, relu: true }
    }

    pub fn out_c(&self) -> usize {
        self.spec.out_c
    }

    fn name(&self, leaf: &str) -> String {
        format!("{}/{leaf}", self.scope)
    }
}

impl Layer for ConvBn {
    fn scope(&self) -> &str {
        &self.scope
    }

    fn forward(&self, ctx: &Ctx, x: &Features) -> Result<Features> {
        let w = ctx.param(&self.name("weights"))?;
        let beta = ctx.param(&self.name("BatchNorm/beta"))?;
        let act = if self.relu { Activation::Relu } else { Activation::Identity };
        if ctx.training() {
            let (y, stats) = ops::conv_bn_train(x, &w, &beta, self.spec.conv2d(), BN_EPS, act)?;
            ctx.push_bn_stats(self.scope.clone(), stats);
            Ok(y)
        } else {
            let mean = ctx.params.get(&self.name("BatchNorm/moving_mean"))?;
            let var = ctx.params.get(&self.name("BatchNorm/moving_variance"))?;
            let moving = ops::MovingStats { mean, variance: var };
            ops::conv_bn_infer(x, &w, &beta, moving, self.spec.conv2d(), BN_EPS, act)
        }
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape> {
        let g = conv_geometry(input, &self.spec.weight_shape(self.in_c), self.spec.conv2d())?;
        Ok(Shape::new([g.batch, g.out_h, g.out_w, g.out_c]))
    }

    fn declare(&self, out: &mut Vec<ParamSpec>) {
        let c = Shape::new([self.spec.out_c]);
        let spec = |name: String, shape: Shape, group, init| ParamSpec { name, shape, group, init };
        out.push(spec(
            self.name("weights"),
            self.spec.weight_shape(self.in_c),
            ParamGroup::Network,
            self.spec.xavier(self.in_c),
        ));
        out.push(spec(self.name("BatchNorm/beta"), c.clone(), ParamGroup::Network, Init::Zeros));
        out.push(spec(self.name("BatchNorm/moving_mean"), c.clone(), ParamGroup::Buffers, Init::Zeros));
        out.push(spec(self.name("BatchNorm/moving_variance"), c, ParamGroup::Buffers, Init::Ones));
    }
}

/// A convolution with a bias and neither batch norm nor activation (the blocks' "up"
/// projection back to the residual width).
pub struct Conv {
    scope: String,
    spec: ConvSpec,
    in_c: usize,
}

impl Conv {
    pub fn new(scope: impl Into<String>, in_c: usize, spec: ConvSpec) -> Conv {
        Conv { scope: scope.into(), spec, in_c }
    }

    /// A residual block's tail on this up-projection of `mixed`: `act(x + scale·(conv +
    /// bias))`, the bias added in the tail's pass.
    pub fn residual_tail(&self, ctx: &Ctx, x: &Var, mixed: &Var, scale: f32, act: Activation) -> Result<Var> {
        let (w, b) = weights_and_biases(ctx, &self.scope)?;
        ops::conv_residual_tail(x, mixed, &w, &b, self.spec.conv2d(), scale, act)
    }
}

impl Layer for Conv {
    fn scope(&self) -> &str {
        &self.scope
    }

    fn forward(&self, ctx: &Ctx, x: &Features) -> Result<Features> {
        let (w, b) = weights_and_biases(ctx, &self.scope)?;
        Ok(ops::add_bias(&ops::conv2d(&x.var()?, &w, self.spec.conv2d())?, &b)?.into())
    }

    fn output_shape(&self, input: &Shape) -> Result<Shape> {
        let g = conv_geometry(input, &self.spec.weight_shape(self.in_c), self.spec.conv2d())?;
        Ok(Shape::new([g.batch, g.out_h, g.out_w, g.out_c]))
    }

    fn declare(&self, out: &mut Vec<ParamSpec>) {
        let (weights, init) = (self.spec.weight_shape(self.in_c), self.spec.xavier(self.in_c));
        declare_weights_and_biases(&self.scope, weights, init, self.spec.out_c, ParamGroup::Network, out);
    }
}
