//! 2-D convolution (`kernels/conv2d.cu`): forward, input gradient and weight gradient, each
//! an implicit GEMM on the tiling of `kernels/gemm.cuh` whose loaders gather the im2col
//! patches from the activations, so no column buffer is allocated. Layouts and semantics
//! as in `cpu/conv2d.rs`: NHWC activations, HWIO weights, explicit top/left padding.

use super::batch_norm::{backward_sums, operand, Normalizing, Operands};
use super::matmul::{tiled, tiles, GEMM_THREADS, GEMM_TILE};
use super::runtime::kernels as k;
use super::runtime::launch::Launch;
use super::{CudaBackend, DeviceBuffer, THREADS};
use crate::backend::{
    Activation, BatchNormOps, BnSums, Conv2dBackward, Conv2dGeometry, Conv2dGradients, Conv2dGrads, Conv2dOps,
    ConvBnBackward, ConvBnGradients, ConvResidual, CudaStorage, ElementwiseOps, Rows, Storage, Values,
};
use crate::error::Result;

/// Depth of one GEMM step (`GEMM_BK` in gemm.cuh): weight-gradient splits are multiples of it.
const GEMM_BK: usize = 16;

/// Blocks the weight gradient aims for (two per SM of a 132-SM H100): its output `[kh·kw·in_c,
/// out_c]` is often a handful of tiles, so the reduction over the output positions is split
/// across blocks until about this many run.
const WEIGHT_GRAD_BLOCKS: usize = 264;

/// The fewest output positions one weight-gradient split sums: below 16 steps, a block
/// spends as long on its partial's store and the second pass as on its GEMM.
const MIN_SPLIT_ROWS: usize = 256;

/// Output positions `batch·out_h·out_w`: the GEMM rows of the forward pass.
fn rows(g: &Conv2dGeometry) -> usize {
    g.batch * g.out_h * g.out_w
}

/// `kh·kw·in_c`: the GEMM depth of the forward pass.
fn patch_len(g: &Conv2dGeometry) -> usize {
    g.kernel_h * g.kernel_w * g.in_c
}

/// Appends the geometry, in the order every conv2d kernel takes it after its pointers.
fn with_geometry(l: Launch, g: &Conv2dGeometry) -> Launch {
    l.size(g.batch)
        .size(g.in_h)
        .size(g.in_w)
        .size(g.in_c)
        .size(g.out_c)
        .size(g.kernel_h)
        .size(g.kernel_w)
        .size(g.stride_h)
        .size(g.stride_w)
        .size(g.pad_top)
        .size(g.pad_left)
        .size(g.out_h)
        .size(g.out_w)
}

/// The convolution's input as both kernels take it: `x`, and how its values are normalised
/// as they are loaded when it is a batch norm's input.
#[derive(Clone, Copy)]
struct Input {
    x: u64,
    bn: Option<Normalizing>,
}

impl Input {
    fn new(b: &CudaBackend, op: &'static str, x: Values, g: &Conv2dGeometry) -> Result<Input> {
        let (x, bn) = operand(b, op, x, Rows { rows: g.batch * g.in_h * g.in_w, cols: g.in_c })?;
        Ok(Input { x, bn })
    }

    /// `x, x_mean, x_var, x_beta, x_eps, x_relu`.
    fn append(&self, launch: Launch) -> Launch {
        Normalizing::append(self.bn, launch.ptr(self.x))
    }
}

/// Writes zeros over `len` floats at `ptr`: the result of a product with nothing to sum.
fn zero(b: &CudaBackend, op: &'static str, ptr: u64, len: usize) -> Result<()> {
    b.launch(op, Launch::linear(k::FILL_F32, len, THREADS).ptr(ptr).f32(0.0).size(len))
}

/// How the weight gradient's reduction over `rows` output positions is split across
/// blocks when its output has `tiles` tiles: `(rows per split, splits)`.
fn weight_grad_splits(rows: usize, tiles: usize) -> (usize, usize) {
    let wanted = WEIGHT_GRAD_BLOCKS.div_ceil(tiles).min(rows.div_ceil(MIN_SPLIT_ROWS)).max(1);
    let split_rows = rows.div_ceil(wanted).next_multiple_of(GEMM_BK);
    (split_rows, rows.div_ceil(split_rows))
}

/// What the forward launch writes besides the product: nothing, its output's batch
/// statistics, or (instead of the product) a residual block's tail.
enum Epilogue<'a> {
    Plain,
    Stats,
    Residual(ConvResidual<'a>),
}

/// The forward pass with its `epilogue`: `(y, the batch statistics when asked for)`. An
/// output or patch of no elements takes the separate ops instead.
fn forward(
    b: &CudaBackend,
    op: &'static str,
    x: Values,
    w: &Storage,
    g: &Conv2dGeometry,
    epilogue: Epilogue,
) -> Result<(Storage, Option<(Storage, Storage)>)> {
    let x = Input::new(b, op, x, g)?;
    let w = b.input(op, w, g.weight_len())?;
    let y = b.alloc_f32(op, g.output_len())?;
    let shape = Rows { rows: rows(g), cols: g.out_c };
    if g.output_len() == 0 || patch_len(g) == 0 {
        if g.output_len() > 0 {
            zero(b, op, y.buffer.ptr(), g.output_len())?;
        }
        let y = Storage::Cuda(y);
        return match epilogue {
            Epilogue::Plain => Ok((y, None)),
            Epilogue::Stats => {
                let stats = b.batch_norm_stats(&y, shape)?;
                Ok((y, Some(stats)))
            }
            Epilogue::Residual(on) => Ok((b.residual_tail(on.x, &y, on.bias, on.tail)?, None)),
        };
    }
    let launch = tiled(k::CONV2D_FORWARD, rows(g), g.out_c, 1).flops(2 * g.macs()).ptr(y.buffer.ptr());
    let mut stats = None;
    let launch = match epilogue {
        Epilogue::Plain => launch.ptr(0).ptr(0).ptr(0).ptr(0).ptr(0).ptr(0).f32(0.0).i32(0),
        Epilogue::Stats => {
            let (mean, var) = (b.alloc_f32(op, g.out_c)?, b.alloc_f32(op, g.out_c)?);
            let partials = DeviceBuffer::alloc(&b.gpu, op, rows(g).div_ceil(GEMM_TILE) * 2 * g.out_c * 8)?;
            let counters = b.completion_counters(op, g.out_c.div_ceil(GEMM_TILE))?;
            let launch = launch.ptr(mean.buffer.ptr()).ptr(var.buffer.ptr()).ptr(partials.ptr()).ptr(counters);
            stats = Some((mean, var, partials));
            launch.ptr(0).ptr(0).f32(0.0).i32(0)
        }
        Epilogue::Residual(on) => {
            if on.tail.shape != shape {
                return Err(
                    b.fail(op, format!("a residual tail over {:?} after a convolution to {shape:?}", on.tail.shape))
                );
            }
            let (residual, bias) = (b.input(op, on.x, g.output_len())?, b.input(op, on.bias, g.out_c)?);
            let relu = (on.tail.act == Activation::Relu) as i32;
            launch.ptr(0).ptr(0).ptr(0).ptr(0).ptr(residual).ptr(bias).f32(on.tail.scale).i32(relu)
        }
    };
    b.launch(op, with_geometry(x.append(launch).ptr(w), g))?;
    Ok((Storage::Cuda(y), stats.map(|(mean, var, _partials)| (Storage::Cuda(mean), Storage::Cuda(var)))))
}

/// What the backward pass reads: [`Conv2dBackward`] with an input that may be normalised,
/// and whether the input-gradient tiles also give that normalisation's backward sums.
struct BackwardOperands<'a> {
    x: Values<'a>,
    w: &'a Storage,
    dy: &'a Storage,
    input_sums: bool,
}

/// What the backward launch gives: ∂L/∂x, ∂L/∂w, the input's batch-norm sums.
type BackwardResults = (Option<Storage>, Option<Storage>, Option<BnSums<Storage>>);

/// The input-gradient tiles over all stride phases, in layer order: the slots of the input
/// batch-norm sums' reduction (as `conv2d_input_grad_block` numbers them).
fn input_sum_slots(g: &Conv2dGeometry) -> usize {
    let count = |r: usize, input: usize, stride: usize| (input - r).div_ceil(stride);
    let phases = (0..g.stride_h).flat_map(|h| (0..g.stride_w).map(move |w| (h, w)));
    phases
        .map(|(h, w)| (g.batch * count(h, g.in_h, g.stride_h) * count(w, g.in_w, g.stride_w)).div_ceil(GEMM_TILE))
        .sum()
}

/// A batch norm whose dx the convolution's backward computes where it loads it.
struct BnThrough<'a> {
    operands: &'a Operands,
    /// `[mean(g), mean(g·x̂)]` of its backward sums.
    means: u64,
}

/// Both gradients in one launch (`conv2d_backward`): the input gradient as a block layer
/// per stride phase (input positions with the same `(ih mod stride_h, iw mod stride_w)`),
/// each covering exactly its pixels, so together they write every element of `dx`; the
/// weight gradient as a layer per split of its reduction. With several splits, each
/// writes its partial sum to a scratch buffer and each tile's last split to finish adds
/// them in split order, so the result is the same on every run. With `on.input_sums`, the
/// input-gradient tiles also sum the input's batch-norm terms per column of tiles, the
/// last tile of each column finishing them (`None` when no tile ran: empty shapes).
fn backward(
    b: &CudaBackend,
    op: &'static str,
    on: BackwardOperands,
    bn: Option<BnThrough>,
    g: &Conv2dGeometry,
    wanted: Conv2dGrads,
) -> Result<BackwardResults> {
    let dy = b.input(op, on.dy, g.output_len())?;
    let x = Input::new(b, op, on.x, g)?;
    let w = b.input(op, on.w, g.weight_len())?;
    let dx = wanted.input.then(|| b.alloc_f32(op, g.input_len())).transpose()?;
    let dw = wanted.weights.then(|| b.alloc_f32(op, g.weight_len())).transpose()?;
    let into_storage =
        |dx: Option<CudaStorage>, dw: Option<CudaStorage>| (dx.map(Storage::Cuda), dw.map(Storage::Cuda), None);
    if g.output_len() == 0 {
        // Nothing reaches back from an empty output: both gradients are zero.
        for (out, len) in [(&dx, g.input_len()), (&dw, g.weight_len())] {
            if let Some(out) = out.as_ref().filter(|_| len > 0) {
                zero(b, op, out.buffer.ptr(), len)?;
            }
        }
        return Ok(into_storage(dx, dw));
    }
    let input_layers = if dx.is_some() && g.input_len() > 0 { g.stride_h * g.stride_w } else { 0 };
    let (split_rows, splits) = match &dw {
        Some(_) if g.weight_len() > 0 => weight_grad_splits(rows(g), tiles(patch_len(g), g.out_c)),
        _ => (0, 0),
    };
    if input_layers + splits == 0 {
        return Ok(into_storage(dx, dw));
    }
    // Phase (0, 0) has the most pixels: ⌈in/stride⌉ along each axis.
    let most_pixels = g.batch * g.in_h.div_ceil(g.stride_h) * g.in_w.div_ceil(g.stride_w);
    let input_tiles = if input_layers > 0 { tiles(most_pixels, g.in_c) } else { 0 };
    let weight_tiles = if splits > 0 { tiles(patch_len(g), g.out_c) } else { 0 };
    let len = g.weight_len();
    let partial = if splits > 1 { Some(b.alloc_f32(op, splits * len)?) } else { None };
    let sum_slots = if on.input_sums && input_layers > 0 { input_sum_slots(g) } else { 0 };
    // The weight splits' counters first, then the input sums' (one per column of tiles).
    let channel_tiles = g.in_c.div_ceil(GEMM_TILE);
    let counters =
        if partial.is_some() || sum_slots > 0 { b.completion_counters(op, weight_tiles + channel_tiles)? } else { 0 };
    let input_sums = match x.bn {
        Some(_) if sum_slots > 0 => Some((
            DeviceBuffer::alloc(&b.gpu, op, sum_slots * 2 * g.in_c * 8)?,
            b.alloc_f32(op, g.in_c)?,
            b.alloc_f32(op, 2 * g.in_c)?,
        )),
        None if on.input_sums => return Err(b.fail(op, "the input's batch-norm sums asked of a stored input")),
        _ => None,
    };
    let ptr = |s: &Option<CudaStorage>| s.as_ref().map_or(0, |s| s.buffer.ptr());
    let grid = [input_tiles.max(weight_tiles) as u32, 1, (input_layers + splits) as u32];
    // Each gradient takes the forward pass's multiply-adds (the input gradient's phases
    // skip only the taps that are zero).
    let passes = usize::from(input_layers > 0) + usize::from(splits > 0);
    let launch = Launch::new(k::CONV2D_BACKWARD, grid, [GEMM_THREADS, 1, 1]).flops(2 * passes * g.macs());
    let launch = launch.ptr(ptr(&dx)).ptr(ptr(&dw)).ptr(ptr(&partial)).ptr(counters).ptr(dy);
    // The batch norm after the convolution, when its dx is computed here: its input, mean,
    // var, β, the backward sums' means, ε and the ReLU.
    let launch = match &bn {
        Some(t) => {
            let [bn_x, mean, var, beta] = t.operands.ptrs;
            let relu = (t.operands.geometry.act == Activation::Relu) as i32;
            launch.ptr(bn_x).ptr(mean).ptr(var).ptr(beta).ptr(t.means).f32(t.operands.geometry.eps).i32(relu)
        }
        None => launch.ptr(0).ptr(0).ptr(0).ptr(0).ptr(0).f32(0.0).i32(0),
    };
    let launch = x.append(launch);
    let launch = match &input_sums {
        Some((partials, dbeta, means)) => {
            let sum_counters = counters + 4 * weight_tiles as u64;
            launch.ptr(partials.ptr()).ptr(sum_counters).ptr(dbeta.buffer.ptr()).ptr(means.buffer.ptr())
        }
        None => launch.ptr(0).ptr(0).ptr(0).ptr(0),
    };
    b.launch(op, with_geometry(launch.ptr(w), g).size(split_rows).size(input_layers))?;
    let (dx, dw, _) = into_storage(dx, dw);
    let sums = input_sums.map(|(_, dbeta, means)| BnSums { dbeta: Storage::Cuda(dbeta), means: Storage::Cuda(means) });
    Ok((dx, dw, sums))
}

impl Conv2dOps for CudaBackend {
    /// `y[n, oh, ow, o] = Σ x[n, ih, iw, i]·w[kh, kw, i, o]`.
    fn conv2d(&self, x: Values, w: &Storage, g: &Conv2dGeometry) -> Result<Storage> {
        Ok(forward(self, "conv2d", x, w, g, Epilogue::Plain)?.0)
    }

    fn conv2d_with_stats(&self, x: Values, w: &Storage, g: &Conv2dGeometry) -> Result<(Storage, Storage, Storage)> {
        let (y, stats) = forward(self, "conv2d_with_stats", x, w, g, Epilogue::Stats)?;
        let (mean, var) = stats.expect("statistics were asked for");
        Ok((y, mean, var))
    }

    fn conv2d_residual(&self, input: &Storage, w: &Storage, g: &Conv2dGeometry, on: ConvResidual) -> Result<Storage> {
        Ok(forward(self, "conv2d_residual", input.into(), w, g, Epilogue::Residual(on))?.0)
    }

    fn conv2d_backward(&self, on: Conv2dBackward, g: &Conv2dGeometry, wanted: Conv2dGrads) -> Result<Conv2dGradients> {
        let on = BackwardOperands { x: on.x.into(), w: on.w, dy: on.dy, input_sums: false };
        let (dx, dw, _) = backward(self, "conv2d_backward", on, None, g, wanted)?;
        Ok((dx, dw))
    }

    /// The batch norm's sums (`batch_norm_backward_sums`) unless given, then [`backward`]
    /// with the batch norm's dx computed in its loaders.
    fn conv2d_bn_backward(&self, on: ConvBnBackward, g: &Conv2dGeometry, want: Conv2dGrads) -> Result<ConvBnGradients> {
        const OP: &str = "conv2d_bn_backward";
        let o = Operands::new(self, OP, on.bn)?;
        let rows_cols = o.geometry.shape;
        if rows_cols.rows != rows(g) || rows_cols.cols != g.out_c {
            return Err(self.fail(
                OP,
                format!("a batch norm over {rows_cols:?} cannot follow a convolution to {}×{}", rows(g), g.out_c),
            ));
        }
        let dy = self.input(OP, on.dy, g.output_len())?;
        let (dbeta, means) = match on.sums {
            Some(sums) => (None, self.input(OP, sums.means, 2 * g.out_c)?),
            None => {
                let (dbeta, means) = backward_sums(self, OP, dy, &o)?;
                let ptr = means.buffer.ptr();
                (Some((Storage::Cuda(dbeta), Storage::Cuda(means))), ptr)
            }
        };
        let through = BnThrough { operands: &o, means };
        let operands = BackwardOperands { x: on.x, w: on.w, dy: on.dy, input_sums: on.input_sums };
        let (dx, dw, mut input_sums) = backward(self, OP, operands, Some(through), g, want)?;
        if let (true, None, Some(dx), Values::Normalized(input)) = (on.input_sums, &input_sums, &dx, on.x) {
            // No input-gradient tile ran (an empty shape): the sums in a pass of their own.
            let (dbeta, means) =
                backward_sums(self, OP, self.input(OP, dx, g.input_len())?, &Operands::new(self, OP, input)?)?;
            input_sums = Some(BnSums { dbeta: Storage::Cuda(dbeta), means: Storage::Cuda(means) });
        }
        Ok(ConvBnGradients { dx, dw, dbeta: dbeta.map(|(dbeta, _means)| dbeta), input_sums })
    }
}
