//! 2-D convolution over NHWC activations with HWIO weights: forward, input gradient and
//! weight gradient.

use super::Storage;
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

pub trait Conv2dOps {
    /// `y[n, oh, ow, o] = Σ x[n, ih, iw, i]·w[kh, kw, i, o]`.
    fn conv2d(&self, x: &Storage, w: &Storage, g: &Conv2dGeometry) -> Result<Storage>;
    /// ∂L/∂x from ∂L/∂y.
    fn conv2d_input_grad(&self, dy: &Storage, w: &Storage, g: &Conv2dGeometry) -> Result<Storage>;
    /// ∂L/∂w from the input and ∂L/∂y.
    fn conv2d_weight_grad(&self, x: &Storage, dy: &Storage, g: &Conv2dGeometry) -> Result<Storage>;
}
