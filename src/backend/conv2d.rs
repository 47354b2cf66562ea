//! 2-D convolution over NHWC activations with HWIO weights: forward, input gradient and
//! weight gradient.

use super::{BatchNorm, BnSums, ResidualTail, Storage, Values};
use crate::error::Result;

/// A convolution's full geometry, TF padding resolved to explicit top/left padding
/// (the bottom/right padding follows from the output size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_c: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub out_h: usize,
    pub out_w: usize,
}

/// TensorFlow's padding modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// `out = ⌈in/stride⌉`, the odd padding pixel at the bottom/right.
    Same,
    /// No padding: `out = ⌊(in − k)/stride⌋ + 1` (0 when the kernel does not fit).
    Valid,
}

impl Padding {
    /// Output extent and leading pad along one axis.
    pub fn resolve(self, input: usize, kernel: usize, stride: usize) -> (usize, usize) {
        match self {
            Padding::Valid => ((input + 1).saturating_sub(kernel).div_ceil(stride), 0),
            Padding::Same => {
                let out = input.div_ceil(stride);
                (out, ((out.max(1) - 1) * stride + kernel).saturating_sub(input) / 2)
            }
        }
    }
}

impl Conv2dGeometry {
    /// The geometry of a convolution of `[batch, h, w, in_c]` by a `[kh, kw, in_c, out_c]`
    /// kernel with strides `(sh, sw)` and TF padding. No validation: `ops::conv_geometry`
    /// checks shapes first.
    pub fn with_padding(
        batch: usize,
        (in_h, in_w): (usize, usize),
        in_c: usize,
        out_c: usize,
        (kernel_h, kernel_w): (usize, usize),
        (stride_h, stride_w): (usize, usize),
        padding: Padding,
    ) -> Conv2dGeometry {
        let (out_h, pad_top) = padding.resolve(in_h, kernel_h, stride_h);
        let (out_w, pad_left) = padding.resolve(in_w, kernel_w, stride_w);
        Conv2dGeometry {
            batch,
            in_h,
            in_w,
            in_c,
            out_c,
            kernel_h,
            kernel_w,
            stride_h,
            stride_w,
            pad_top,
            pad_left,
            out_h,
            out_w,
        }
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.in_h * self.in_w * self.in_c
    }
    pub fn weight_len(&self) -> usize {
        self.kernel_h * self.kernel_w * self.in_c * self.out_c
    }
    pub fn output_len(&self) -> usize {
        self.batch * self.out_h * self.out_w * self.out_c
    }
    /// Multiply-adds of the forward pass (each backward pass costs the same).
    pub fn macs(&self) -> usize {
        self.output_len() * self.kernel_h * self.kernel_w * self.in_c
    }
}

/// Which gradients a conv2d backward pass computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGrads {
    /// ∂L/∂x.
    pub input: bool,
    /// ∂L/∂w.
    pub weights: bool,
}

impl Conv2dGrads {
    pub const BOTH: Conv2dGrads = Conv2dGrads { input: true, weights: true };
    pub const INPUT: Conv2dGrads = Conv2dGrads { input: true, weights: false };
    pub const WEIGHTS: Conv2dGrads = Conv2dGrads { input: false, weights: true };
}

/// What a conv2d backward pass reads: the input `x`, the weights `w` and `dy = ∂L/∂y`.
#[derive(Clone, Copy)]
pub struct Conv2dBackward<'a> {
    pub x: &'a Storage,
    pub w: &'a Storage,
    pub dy: &'a Storage,
}

/// What the backward pass of a convolution followed by a training batch norm reads: the
/// convolution's input `x` and weights `w`, the batch norm (its `x` the convolution's
/// output, with the statistics of the forward pass) and `dy = ∂L/∂` of the batch norm's
/// output.
#[derive(Clone, Copy)]
pub struct ConvBnBackward<'a> {
    pub x: Values<'a>,
    pub w: &'a Storage,
    pub bn: BatchNorm<&'a Storage>,
    pub dy: &'a Storage,
    /// The batch norm's backward sums over `dy`, when its consumer computed them already
    /// (see `input_sums`): the pass then skips its own.
    pub sums: Option<BnSums<&'a Storage>>,
    /// Also the backward sums, over ∂L/∂x, of the batch norm whose output `x` is (`x` is
    /// `Values::Normalized` and ∂L/∂x is wanted): its producer's `sums`.
    pub input_sums: bool,
}

impl<'a> ConvBnBackward<'a> {
    /// The pass with nothing computed ahead and no sums of the input's batch norm.
    pub fn new(x: Values<'a>, w: &'a Storage, bn: BatchNorm<&'a Storage>, dy: &'a Storage) -> ConvBnBackward<'a> {
        ConvBnBackward { x, w, bn, dy, sums: None, input_sums: false }
    }
}

/// The residual tail an up-conv's output goes into (`Conv2dOps::conv2d_residual`): the
/// block's input `x` (the output's shape), the up-conv's bias, and the tail's numbers.
#[derive(Clone, Copy)]
pub struct ConvResidual<'a> {
    pub x: &'a Storage,
    pub bias: &'a Storage,
    pub tail: ResidualTail,
}

/// `(∂L/∂x, ∂L/∂w)` of a conv2d backward pass, each when it was asked for.
pub type Conv2dGradients = (Option<Storage>, Option<Storage>);

/// What a conv + batch norm backward pass gives: ∂L/∂x and ∂L/∂w when asked for, ∂L/∂β
/// unless its sums were given (it is their `dbeta`), and the input's batch norm's sums when
/// asked for.
pub struct ConvBnGradients {
    pub dx: Option<Storage>,
    pub dw: Option<Storage>,
    pub dbeta: Option<Storage>,
    pub input_sums: Option<BnSums<Storage>>,
}

pub trait Conv2dOps {
    /// `y[n, oh, ow, o] = Σ x[n, ih, iw, i]·w[kh, kw, i, o]`.
    /// `x` may be a batch norm's output computed as the patches are loaded.
    fn conv2d(&self, x: Values, w: &Storage, g: &Conv2dGeometry) -> Result<Storage>;
    /// `conv2d` and the per-channel batch statistics of its output viewed as
    /// `[batch·out_h·out_w, out_c]`: `(y, mean, var)`, the statistics as `batch_norm_stats`
    /// computes them (to f64 rounding), in one pass where the backend can (CUDA: from each
    /// output tile while it is in cache).
    fn conv2d_with_stats(&self, x: Values, w: &Storage, g: &Conv2dGeometry) -> Result<(Storage, Storage, Storage)>;
    /// `residual_tail(x, conv2d(input, w), bias)`, in one pass where the backend can (CUDA:
    /// in the convolution's epilogue, the product never stored), with the roundings of
    /// `residual_tail`.
    fn conv2d_residual(&self, input: &Storage, w: &Storage, g: &Conv2dGeometry, on: ConvResidual) -> Result<Storage>;
    /// `(∂L/∂x, ∂L/∂w)`, each when `wanted`, in one pass where the backend can (one launch
    /// on CUDA: the two are independent given ∂L/∂y).
    fn conv2d_backward(&self, on: Conv2dBackward, g: &Conv2dGeometry, wanted: Conv2dGrads) -> Result<Conv2dGradients>;
    /// The backward pass of a convolution and the training batch norm after it (see
    /// [`ConvBnBackward`], [`ConvBnGradients`]). On CUDA one launch, the convolution's
    /// backward, which computes the batch norm's dx where it loads it (never stored) and the
    /// input's batch norm's sums from its input-gradient tiles, after one for the batch
    /// norm's sums unless they are given.
    fn conv2d_bn_backward(&self, on: ConvBnBackward, g: &Conv2dGeometry, want: Conv2dGrads) -> Result<ConvBnGradients>;
}
