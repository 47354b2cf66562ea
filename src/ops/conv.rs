//! 2-D convolution with TensorFlow's padding rules, NHWC input, HWIO weights.

use super::{check_inputs, non_empty, rank, tensor_like};
use crate::autograd::Var;
pub use crate::backend::Padding;
use crate::backend::{Conv2dBackward, Conv2dGeometry, Conv2dGrads};
use crate::error::{Error, Result};
use crate::tensor::{Shape, Storage, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dSpec {
    pub stride: usize,
    pub padding: Padding,
}

/// Resolves the geometry of `conv2d(x, w)`, or a typed error naming both shapes.
pub fn conv_geometry(x: &Shape, w: &Shape, spec: Conv2dSpec) -> Result<Conv2dGeometry> {
    let op = "conv2d";
    let (&[n, h, wd, c], &[kh, kw, ci, co]) = (x.dims(), w.dims()) else {
        return Err(Error::InvalidShape {
            op,
            shape: if x.rank() != 4 { x.clone() } else { w.clone() },
            reason: "expected input NHWC [n, h, w, c] and weights HWIO [kh, kw, in, out]".into(),
        });
    };
    if c != ci {
        return Err(Error::ShapeMismatch { op, lhs: x.clone(), rhs: w.clone() });
    }
    if spec.stride == 0 || kh == 0 || kw == 0 || co == 0 {
        return Err(Error::InvalidShape {
            op,
            shape: w.clone(),
            reason: format!("zero kernel extent or stride {}", spec.stride),
        });
    }
    if n == 0 || h == 0 || wd == 0 || c == 0 {
        return Err(Error::EmptyBatch { op, shape: x.clone() });
    }
    if spec.padding == Padding::Valid && (h < kh || wd < kw) {
        return Err(Error::InvalidShape {
            op,
            shape: x.clone(),
            reason: format!("input {h}×{wd} is smaller than the kernel {kh}×{kw} (VALID padding)"),
        });
    }
    let stride = (spec.stride, spec.stride);
    Ok(Conv2dGeometry::with_padding(n, (h, wd), c, co, (kh, kw), stride, spec.padding))
}

/// `y = conv(x, w)`; x NHWC, w HWIO, y NHWC.
pub fn conv2d(x: &Var, w: &Var, spec: Conv2dSpec) -> Result<Var> {
    let g = checked_geometry(x, w, spec)?;
    let (xt, wt) = (x.value(), w.value());
    let y = xt.device().backend().conv2d(xt.storage(), wt.storage(), &g)?;
    record(x, w, g, y)
}

/// [`conv2d`] and the batch statistics of its output (per channel over batch and
/// positions, as a training batch norm computes them), from one pass where the backend
/// can: what a conv followed by a batch norm runs in training.
pub fn conv2d_with_stats(x: &Var, w: &Var, spec: Conv2dSpec) -> Result<(Var, (Tensor, Tensor))> {
    let g = checked_geometry(x, w, spec)?;
    let (xt, wt) = (x.value(), w.value());
    let (y, mean, var) = xt.device().backend().conv2d_with_stats(xt.storage(), wt.storage(), &g)?;
    let stats = (tensor_like(xt, mean, [g.out_c]), tensor_like(xt, var, [g.out_c]));
    Ok((record(x, w, g, y)?, stats))
}

fn checked_geometry(x: &Var, w: &Var, spec: Conv2dSpec) -> Result<Conv2dGeometry> {
    check_inputs("conv2d", &[x, w])?;
    rank("conv2d", x, 4)?;
    non_empty("conv2d", x)?;
    conv_geometry(x.shape(), w.shape(), spec)
}

/// The output `y` of the convolution of `x` by `w`, recorded with its backward.
fn record(x: &Var, w: &Var, g: Conv2dGeometry, y: Storage) -> Result<Var> {
    let (xt, wt) = (x.value().clone(), w.value().clone());
    let y = tensor_like(&xt, y, [g.batch, g.out_h, g.out_w, g.out_c]);
    Var::record("conv2d", &[x, w], y, move |dy, needs| {
        let on = Conv2dBackward { x: xt.storage(), w: wt.storage(), dy: dy.storage() };
        let wanted = Conv2dGrads { input: needs[0], weights: needs[1] };
        let (dx, dw) = dy.device().backend().conv2d_backward(on, &g, wanted)?;
        Ok(vec![
            dx.map(|dx| tensor_like(dy, dx, xt.shape().clone())),
            dw.map(|dw| tensor_like(dy, dw, wt.shape().clone())),
        ])
    })
}
