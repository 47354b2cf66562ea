//! Max pooling (VALID) and global average pooling over NHWC input.

use super::{check_inputs, non_empty, rank, tensor_like};
use crate::autograd::Var;
use crate::backend::Pool2dGeometry;
use crate::error::{Error, Result};
use crate::tensor::Shape;

pub fn pool_geometry(x: &Shape, window: usize, stride: usize) -> Result<Pool2dGeometry> {
    let op = "max_pool2d";
    let &[n, h, w, c] = x.dims() else {
        return Err(Error::InvalidShape { op, shape: x.clone(), reason: "expected NHWC input".into() });
    };
    if window == 0 || stride == 0 {
        return Err(Error::invalid(op, format!("window {window} and stride {stride} must be positive")));
    }
    if h < window || w < window {
        return Err(Error::InvalidShape {
            op,
            shape: x.clone(),
            reason: format!("spatial extent smaller than the {window}×{window} window (VALID padding)"),
        });
    }
    Ok(Pool2dGeometry {
        batch: n,
        in_h: h,
        in_w: w,
        channels: c,
        window,
        stride,
        out_h: (h - window) / stride + 1,
        out_w: (w - window) / stride + 1,
    })
}

/// `window×window` max pooling with `stride`, VALID padding.
pub fn max_pool2d(x: &Var, window: usize, stride: usize) -> Result<Var> {
    check_inputs("max_pool2d", &[x])?;
    non_empty("max_pool2d", x)?;
    let g = pool_geometry(x.shape(), window, stride)?;
    let xt = x.value().clone();
    let y = xt.device().backend().max_pool2d(xt.storage(), &g)?;
    let y = tensor_like(&xt, y, [g.batch, g.out_h, g.out_w, g.channels]);
    Var::record("max_pool2d", &[x], y, move |dy, _| {
        let dx = dy.device().backend().max_pool2d_backward(dy.storage(), xt.storage(), &g)?;
        Ok(vec![Some(tensor_like(dy, dx, xt.shape().clone()))])
    })
}

/// Mean over the spatial positions: `[n, h, w, c]` → `[n, c]`.
pub fn global_avg_pool(x: &Var) -> Result<Var> {
    check_inputs("global_avg_pool", &[x])?;
    rank("global_avg_pool", x, 4)?;
    non_empty("global_avg_pool", x)?;
    let &[n, h, w, c] = x.dims() else { unreachable!("rank checked") };
    let xt = x.value();
    let y = xt.device().backend().global_avg_pool(xt.storage(), n, h * w, c)?;
    let y = tensor_like(xt, y, [n, c]);
    let in_shape = xt.shape().clone();
    Var::record("global_avg_pool", &[x], y, move |dy, _| {
        let dx = dy.device().backend().global_avg_pool_backward(dy.storage(), n, h * w, c)?;
        Ok(vec![Some(tensor_like(dy, dx, in_shape.clone()))])
    })
}
