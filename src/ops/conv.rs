//! 2-D convolution with TensorFlow's padding rules, NHWC input, HWIO weights.

use super::features::{ConsumerSums, Features, Normalization};
use super::BatchNormStats;
use super::{check_inputs, non_empty, rank, tensor_like};
use crate::autograd::Var;
pub use crate::backend::Padding;
use crate::backend::{
    Activation, BatchNormGeometry, BnSums, Conv2dBackward, Conv2dGeometry, Conv2dGrads, ConvBnBackward, ConvResidual,
    ResidualTail, Rows,
};
use crate::error::{Error, Result};
use crate::tensor::{Shape, Storage, Tensor};
use std::rc::Rc;

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
    let y = xt.device().backend().conv2d(xt.storage().into(), wt.storage(), &g)?;
    record(x, w, g, y)
}

/// A convolution and the training batch norm after it (shift `beta`, then `act`), as one
/// op: the batch statistics come from the convolution's own pass over its output, and the
/// backward pass computes the batch norm's gradient where the convolution's backward loads
/// it (`Conv2dOps::conv2d_bn_backward`). The same values as `conv2d` then
/// `batch_norm_train`, bit for bit. The input may be a deferred batch norm's output (the
/// convolution normalises it as it loads it); the output is one too where the backend
/// computes such outputs where they are loaded.
pub fn conv_bn_train(
    x: &Features,
    w: &Var,
    beta: &Var,
    spec: Conv2dSpec,
    eps: f32,
    act: Activation,
) -> Result<(Features, BatchNormStats)> {
    let g = checked_geometry(x.node(), w, spec)?;
    check_bn_shift(&g, w, beta)?;
    let (input, wt, bt) = (x.operand(), w.value().clone(), beta.value().clone());
    let xt = input.like().clone();
    let be = xt.device().backend();
    let (conv, mean, var) = be.conv2d_with_stats(input.values(), wt.storage(), &g)?;
    let geometry = BatchNormGeometry { shape: Rows { rows: g.batch * g.out_h * g.out_w, cols: g.out_c }, eps, act };
    let out_shape = [g.batch, g.out_h, g.out_w, g.out_c];
    let (conv, mean, var) =
        (tensor_like(&xt, conv, out_shape), tensor_like(&xt, mean, [g.out_c]), tensor_like(&xt, var, [g.out_c]));
    let normalization = Normalization { x: conv, mean: mean.clone(), var: var.clone(), beta: bt, geometry };
    let stats = BatchNormStats { mean, variance: var, count: geometry.shape.rows };
    let deferred = be.normalizes_where_loaded();
    // Deferred, the op's value is the batch norm's input; its gradient is the output's either way.
    let value = if deferred {
        normalization.x.clone()
    } else {
        tensor_like(&xt, be.batch_norm(normalization.batch_norm())?, out_shape)
    };
    let (n, own_sums) = (normalization.clone(), Rc::new(ConsumerSums::default()));
    let sums_left = own_sums.clone();
    let y = Var::record("conv_bn", &[x.node(), w, beta], value, move |dy, needs| {
        let given = sums_left.take_for(dy);
        let input_sums = if needs[0] { input.sums_wanted() } else { None };
        let on = ConvBnBackward {
            x: input.values(),
            w: wt.storage(),
            bn: n.batch_norm(),
            dy: dy.storage(),
            sums: given.as_ref().map(|s| BnSums { dbeta: s.dbeta.storage(), means: s.means.storage() }),
            input_sums: input_sums.is_some(),
        };
        let wanted = Conv2dGrads { input: needs[0], weights: needs[1] };
        let r = dy.device().backend().conv2d_bn_backward(on, &g, wanted)?;
        let dx = r.dx.map(|dx| tensor_like(dy, dx, input.like().shape().clone()));
        if let (Some(slot), Some(s), Some(dx)) = (input_sums, r.input_sums, &dx) {
            let c = g.in_c;
            slot.leave(dx, BnSums { dbeta: tensor_like(dy, s.dbeta, [c]), means: tensor_like(dy, s.means, [2 * c]) });
        }
        let dbeta = match (r.dbeta, given) {
            (Some(dbeta), _) => tensor_like(dy, dbeta, [g.out_c]),
            (None, Some(given)) => given.dbeta,
            (None, None) => return Err(Error::invalid("conv_bn", "the backend gave no dβ and none was given")),
        };
        Ok(vec![dx, r.dw.map(|dw| tensor_like(dy, dw, wt.shape().clone())), Some(dbeta)])
    })?;
    let y = if deferred { Features::deferred(y, normalization, own_sums) } else { Features::Value(y) };
    Ok((y, stats))
}

/// A batch norm's moving averages, what it normalises with in inference.
#[derive(Clone, Copy)]
pub struct MovingStats<'a> {
    pub mean: &'a Tensor,
    pub variance: &'a Tensor,
}

/// A convolution and the inference batch norm after it (the moving statistics, shift
/// `beta`, then `act`): `batch_norm_infer(conv2d(x, w))`. With nothing recorded and a
/// backend that computes batch norm outputs where they are loaded, the output is deferred
/// and the input may be.
pub fn conv_bn_infer(
    x: &Features,
    w: &Var,
    beta: &Var,
    moving: MovingStats,
    spec: Conv2dSpec,
    eps: f32,
    act: Activation,
) -> Result<Features> {
    let MovingStats { mean, variance } = moving;
    let recorded = x.node().is_recorded() || w.is_recorded() || beta.is_recorded();
    if recorded || !w.device().backend().normalizes_where_loaded() {
        let y = conv2d(&x.var()?, w, spec)?;
        return Ok(Features::Value(super::batch_norm_infer(&y, beta, mean, variance, eps, act)?));
    }
    let g = checked_geometry(x.node(), w, spec)?;
    check_bn_shift(&g, w, beta)?;
    for s in [mean.shape(), variance.shape()] {
        if s.dims() != [g.out_c] {
            return Err(Error::ShapeMismatch { op: "batch_norm", lhs: w.shape().clone(), rhs: s.clone() });
        }
    }
    let input = x.operand();
    let xt = input.like();
    let conv = xt.device().backend().conv2d(input.values(), w.value().storage(), &g)?;
    let conv = tensor_like(xt, conv, [g.batch, g.out_h, g.out_w, g.out_c]);
    let geometry = BatchNormGeometry { shape: Rows { rows: g.batch * g.out_h * g.out_w, cols: g.out_c }, eps, act };
    let normalization = Normalization {
        x: conv.clone(),
        mean: mean.clone(),
        var: variance.clone(),
        beta: beta.value().clone(),
        geometry,
    };
    Ok(Features::deferred(Var::constant(conv), normalization, Rc::default()))
}

/// `beta` is one shift per output channel of the convolution `g`.
fn check_bn_shift(g: &Conv2dGeometry, w: &Var, beta: &Var) -> Result<()> {
    check_inputs("batch_norm", &[beta])?;
    if beta.shape().dims() != [g.out_c] {
        return Err(Error::ShapeMismatch { op: "batch_norm", lhs: w.shape().clone(), rhs: beta.shape().clone() });
    }
    Ok(())
}

/// The up-projection of a residual block and the block's tail as one op:
/// `act(x + scale·(conv2d(mixed, w) + bias))`, the product never stored on CUDA (the tail
/// runs in the convolution's epilogue). The same values as `conv2d`, then `residual_tail`,
/// bit for bit; the backward is theirs.
pub fn conv_residual_tail(
    x: &Var,
    mixed: &Var,
    w: &Var,
    bias: &Var,
    spec: Conv2dSpec,
    scale: f32,
    act: Activation,
) -> Result<Var> {
    let g = checked_geometry(mixed, w, spec)?;
    let op = "residual_tail";
    check_inputs(op, &[x, bias])?;
    let out_shape = [g.batch, g.out_h, g.out_w, g.out_c];
    if x.dims() != out_shape || bias.dims() != [g.out_c] {
        return Err(Error::ShapeMismatch { op, lhs: x.shape().clone(), rhs: Shape::new(out_shape) });
    }
    let tail = ResidualTail { shape: Rows { rows: g.batch * g.out_h * g.out_w, cols: g.out_c }, scale, act };
    let (mt, wt) = (mixed.value().clone(), w.value().clone());
    let on = ConvResidual { x: x.value().storage(), bias: bias.value().storage(), tail };
    let y = tensor_like(&mt, mt.device().backend().conv2d_residual(mt.storage(), wt.storage(), &g, on)?, out_shape);
    let saved = y.clone();
    Var::record("conv_residual_tail", &[x, mixed, w, bias], y, move |dy, needs| {
        let be = dy.device().backend();
        let r = be.residual_tail_backward(dy.storage(), saved.storage(), tail)?;
        let (dx, dup) = (r.dx, r.dup);
        let dbias = needs[3].then(|| tensor_like(dy, r.dbias, [g.out_c]));
        let on = Conv2dBackward { x: mt.storage(), w: wt.storage(), dy: &dup };
        let (dmixed, dw) = be.conv2d_backward(on, &g, Conv2dGrads { input: needs[1], weights: needs[2] })?;
        Ok(vec![
            needs[0].then(|| tensor_like(dy, dx, dy.shape().clone())),
            dmixed.map(|d| tensor_like(dy, d, mt.shape().clone())),
            dw.map(|d| tensor_like(dy, d, wt.shape().clone())),
            dbias,
        ])
    })
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
