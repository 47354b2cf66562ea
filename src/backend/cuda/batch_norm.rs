//! Batch norm (shift only) with the activation fused in (`kernels/batch_norm.cu`): column
//! sums in f64 per row split, combined in split order by the launch's last block, then
//! element-wise passes.

use super::runtime::kernels::{self as k, Kernel};
use super::runtime::launch::Launch;
use super::shapes::{ColumnTiles, COLUMN_SUM_SHARED};
use super::THREADS;
use super::{CudaBackend, DeviceBuffer};
use crate::backend::{
    Activation, BatchNorm, BatchNormGeometry, BatchNormOps, BnSums, CudaStorage, Rows, Storage, Values,
};
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

/// One launch of a two-output column reduction (`batch_norm_stats`,
/// `batch_norm_backward_sums`): per-split f64 column sums of two quantities into a
/// `[splits][2][channels]` scratch buffer, which the grid's last block reduces into
/// `outputs`; `args` adds the kernel's own arguments after the outputs, scratch and counter.
fn column_reduction(
    b: &CudaBackend,
    op: &'static str,
    kernel: Kernel,
    [first, second]: [&CudaStorage; 2],
    shape: Rows,
    args: impl FnOnce(Launch) -> Launch,
) -> Result<()> {
    let tiles = ColumnTiles::new(shape.cols);
    let splits = tiles.splits(shape.rows, 16);
    let partials = DeviceBuffer::alloc(&b.gpu, op, splits * 2 * shape.cols * 8)?;
    let done = b.completion_counters(op, 1)?;
    let launch = tiles.launch(kernel, splits).shared(COLUMN_SUM_SHARED);
    let launch = launch.ptr(first.buffer.ptr()).ptr(second.buffer.ptr()).ptr(partials.ptr()).ptr(done);
    b.launch(op, args(launch))
}

/// `BnSumsJob` of `kernels/batch_norm.cu`, field for field: one batch norm of a
/// `batch_norm_backward_sums_list` launch.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SumsJob {
    dy: u64,
    x: u64,
    mean: u64,
    var: u64,
    beta: u64,
    dbeta: u64,
    means: u64,
    partials: u64,
    done: u64,
    rows: i64,
    channels: i64,
    tiles: i64,
    splits: i64,
    first_block: i64,
    tile: i32,
    relu: i32,
    eps: f32,
    unused: i32,
}

/// A batch norm's operands as the kernels take them, checked: the device addresses of
/// `x`, `mean`, `var` and `beta`, and the column tiling.
pub(super) struct Operands {
    /// `x, mean, var, beta`.
    pub ptrs: [u64; 4],
    pub geometry: BatchNormGeometry,
    tiles: ColumnTiles,
}

impl Operands {
    pub fn new(b: &CudaBackend, op: &'static str, bn: BatchNorm<&Storage>) -> Result<Operands> {
        let BatchNorm { x, mean, var, beta, geometry } = bn;
        let Rows { rows, cols } = geometry.shape;
        let ptrs =
            [b.input(op, x, rows * cols)?, b.input(op, mean, cols)?, b.input(op, var, cols)?, b.input(op, beta, cols)?];
        Ok(Operands { ptrs, geometry, tiles: ColumnTiles::new(cols) })
    }

    /// `launch` with the arguments every forward and backward kernel ends with:
    /// `x, mean, var, beta, rows, channels, tile, eps, relu`.
    fn append(&self, launch: Launch) -> Launch {
        let BatchNormGeometry { shape: Rows { rows, cols }, eps, act } = self.geometry;
        let launch = self.ptrs.iter().fold(launch, |l, &p| l.ptr(p));
        launch.size(rows).size(cols).i32(self.tiles.tile as i32).f32(eps).i32((act == Activation::Relu) as i32)
    }
}

/// A batch norm's output as its consumer computes it where it loads each value
/// (`BnInput` in kernels/batch_norm.cuh): the per-channel statistics and shift, ε, the ReLU.
#[derive(Clone, Copy)]
pub(super) struct Normalizing {
    pub mean: u64,
    pub var: u64,
    pub beta: u64,
    pub eps: f32,
    pub relu: bool,
}

impl Normalizing {
    /// `launch` with `mean, var, beta, eps, relu` (nulls and zeros for stored values).
    pub fn append(this: Option<Normalizing>, launch: Launch) -> Launch {
        let n = this.unwrap_or(Normalizing { mean: 0, var: 0, beta: 0, eps: 0.0, relu: false });
        launch.ptr(n.mean).ptr(n.var).ptr(n.beta).f32(n.eps).i32(n.relu as i32)
    }
}

/// The device address of an operand its consumer sees as `shape`, and, for a batch norm's
/// output, how to compute it from the values at that address.
pub(super) fn operand(b: &CudaBackend, op: &'static str, x: Values, shape: Rows) -> Result<(u64, Option<Normalizing>)> {
    match x {
        Values::Stored(x) => Ok((b.input(op, x, shape.rows * shape.cols)?, None)),
        Values::Normalized(bn) => {
            let o = Operands::new(b, op, bn)?;
            if o.geometry.shape != shape {
                return Err(b.fail(op, format!("a batch norm over {:?} as an operand of {shape:?}", o.geometry.shape)));
            }
            let [x, mean, var, beta] = o.ptrs;
            let (eps, relu) = (o.geometry.eps, o.geometry.act == Activation::Relu);
            Ok((x, Some(Normalizing { mean, var, beta, eps, relu })))
        }
    }
}

/// The backward's sums from `dy` (at that address): `(dβ, [mean(g), mean(g·x̂)])`.
pub(super) fn backward_sums(
    b: &CudaBackend,
    op: &'static str,
    dy: u64,
    o: &Operands,
) -> Result<(CudaStorage, CudaStorage)> {
    let shape = o.geometry.shape;
    let (dbeta, means) = (b.alloc_f32(op, shape.cols)?, b.alloc_f32(op, 2 * shape.cols)?);
    column_reduction(b, op, k::BATCH_NORM_BACKWARD_SUMS, [&dbeta, &means], shape, |l| o.append(l.ptr(dy)))?;
    Ok((dbeta, means))
}

impl BatchNormOps for CudaBackend {
    fn normalizes_where_loaded(&self) -> bool {
        true
    }

    fn batch_norm_stats(&self, x: &Storage, shape: Rows) -> Result<(Storage, Storage)> {
        const OP: &str = "batch_norm_stats";
        let Rows { rows, cols } = shape;
        let x = self.input(OP, x, rows * cols)?;
        let tile = ColumnTiles::new(cols).tile as i32;
        let (mean, var) = (self.alloc_f32(OP, cols)?, self.alloc_f32(OP, cols)?);
        column_reduction(self, OP, k::BATCH_NORM_STATS, [&mean, &var], shape, |l| {
            l.ptr(x).size(rows).size(cols).i32(tile)
        })?;
        Ok((Storage::Cuda(mean), Storage::Cuda(var)))
    }

    fn batch_norm(&self, bn: BatchNorm<&Storage>) -> Result<Storage> {
        const OP: &str = "batch_norm";
        let o = Operands::new(self, OP, bn)?;
        let Rows { rows, cols } = o.geometry.shape;
        let y = self.alloc_f32(OP, rows * cols)?;
        let launch = o.tiles.launch(k::BATCH_NORM_FORWARD, o.tiles.splits(rows, 4)).ptr(y.buffer.ptr());
        self.launch(OP, o.append(launch))?;
        Ok(Storage::Cuda(y))
    }

    /// One launch over the list of jobs (`batch_norm_backward_sums_list`), each with its
    /// own column-tile blocks, partials and counter.
    fn batch_norm_backward_sums(&self, parts: &[(&Storage, BatchNorm<&Storage>)]) -> Result<Vec<BnSums<Storage>>> {
        const OP: &str = "batch_norm_backward_sums";
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        let mut planned = Vec::with_capacity(parts.len());
        let (mut blocks, mut partial_bytes) = (0usize, 0usize);
        for &(dy, bn) in parts {
            let o = Operands::new(self, OP, bn)?;
            let Rows { rows, cols } = o.geometry.shape;
            let dy = self.input(OP, dy, rows * cols)?;
            let splits = o.tiles.splits(rows, 16);
            let (dbeta, means) = (self.alloc_f32(OP, cols)?, self.alloc_f32(OP, 2 * cols)?);
            let job_blocks = o.tiles.column_blocks() * splits;
            planned.push((o, dy, splits, blocks, partial_bytes, dbeta, means));
            blocks += job_blocks;
            partial_bytes += splits * 2 * cols * 8;
        }
        let partials = DeviceBuffer::alloc(&self.gpu, OP, partial_bytes)?;
        let done = self.completion_counters(OP, parts.len())?;
        let jobs: Vec<SumsJob> = planned
            .iter()
            .enumerate()
            .map(|(i, (o, dy, splits, first, offset, dbeta, means))| {
                let [x, mean, var, beta] = o.ptrs;
                let BatchNormGeometry { shape: Rows { rows, cols }, eps, act } = o.geometry;
                SumsJob {
                    dy: *dy,
                    x,
                    mean,
                    var,
                    beta,
                    dbeta: dbeta.buffer.ptr(),
                    means: means.buffer.ptr(),
                    partials: partials.ptr() + *offset as u64,
                    done: done + 4 * i as u64,
                    rows: rows as i64,
                    channels: cols as i64,
                    tiles: o.tiles.column_blocks() as i64,
                    splits: *splits as i64,
                    first_block: *first as i64,
                    tile: o.tiles.tile as i32,
                    relu: (act == Activation::Relu) as i32,
                    eps,
                    unused: 0,
                }
            })
            .collect();
        let list = DeviceBuffer::alloc(&self.gpu, OP, std::mem::size_of_val(jobs.as_slice()))?;
        self.gpu.write(OP, list.ptr(), bytemuck::cast_slice(&jobs))?;
        let grid = u32::try_from(blocks).map_err(|_| self.fail(OP, format!("{blocks} blocks in one launch")))?;
        let launch = Launch::new(k::BATCH_NORM_BACKWARD_SUMS_LIST, [grid, 1, 1], [THREADS, 1, 1])
            .shared(COLUMN_SUM_SHARED)
            .ptr(list.ptr())
            .i32(jobs.len() as i32);
        self.launch(OP, launch)?;
        Ok(planned
            .into_iter()
            .map(|(.., dbeta, means)| BnSums { dbeta: Storage::Cuda(dbeta), means: Storage::Cuda(means) })
            .collect())
    }

    fn batch_norm_backward(&self, dy: &Storage, bn: BatchNorm<&Storage>) -> Result<(Storage, Storage)> {
        const OP: &str = "batch_norm_backward";
        let o = Operands::new(self, OP, bn)?;
        let Rows { rows, cols } = o.geometry.shape;
        let dy = self.input(OP, dy, rows * cols)?;
        let (dbeta, means) = backward_sums(self, OP, dy, &o)?;
        let dx = self.alloc_f32(OP, rows * cols)?;
        let launch = o.tiles.launch(k::BATCH_NORM_BACKWARD_DX, o.tiles.splits(rows, 4));
        self.launch(OP, o.append(launch.ptr(dx.buffer.ptr()).ptr(means.buffer.ptr()).ptr(dy)))?;
        Ok((Storage::Cuda(dx), Storage::Cuda(dbeta)))
    }
}
