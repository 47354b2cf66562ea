//! 2-D convolution with TensorFlow's padding rules, NHWC input, HWIO weights.

use super::{check_inputs, non_empty, rank, tensor_like};
use crate::autograd::Var;
pub use crate::backend::Padding;
use crate::backend::{Conv2dBackward, Conv2dGeometry, Conv2dGrads};
use crate::error::{Error, Result};
use crate::tensor::Shape;

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
    check_inputs("conv2d", &[x, w])?;
    rank("conv2d", x, 4)?;
    non_empty("conv2d", x)?;
    let g = conv_geometry(x.shape(), w.shape(), spec)?;
    let (xt, wt) = (x.value().clone(), w.value().clone());
    let y = xt.device().backend().conv2d(xt.storage(), wt.storage(), &g)?;
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
