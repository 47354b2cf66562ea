//! Batch norm (shift only) with the activation fused in (`kernels/batch_norm.cu`): column
//! sums in f64 per row split, combined in split order, then element-wise passes.

use super::runtime::kernels::{self as k, Kernel};
use super::runtime::launch::Launch;
use super::shapes::{ColumnTiles, COLUMN_SUM_SHARED};
use super::{CudaBackend, DeviceBuffer, THREADS};
use crate::backend::{Activation, BatchNormChannels, BatchNormGeometry, BatchNormOps, CudaStorage, Rows, Storage};
use crate::error::Result;

/// Per-split column sums of two quantities, `[splits][2][channels]` f64, and the split count.
fn partials(
    b: &CudaBackend,
    op: &'static str,
    shape: Rows,
    launch: impl FnOnce(u64, usize) -> Launch,
) -> Result<(DeviceBuffer, usize)> {
    let tiles = ColumnTiles::new(shape.cols);
    let splits = tiles.splits(shape.rows, 16);
    let buffer = DeviceBuffer::alloc(&b.gpu, op, splits * 2 * shape.cols * 8)?;
    b.launch(op, launch(buffer.ptr(), splits).shared(COLUMN_SUM_SHARED))?;
    Ok((buffer, splits))
}

/// Reduces the per-split column partials into two per-channel outputs, a thread per
/// channel (the statistics' and the backward's second pass share this signature).
fn finalize(
    b: &CudaBackend,
    op: &'static str,
    kernel: Kernel,
    [first, second]: [&CudaStorage; 2],
    (partials, splits): (&DeviceBuffer, usize),
    Rows { rows, cols }: Rows,
) -> Result<()> {
    b.launch(
        op,
        Launch::linear(kernel, cols, THREADS)
            .ptr(first.buffer.ptr())
            .ptr(second.buffer.ptr())
            .ptr(partials.ptr())
            .size(splits)
            .size(rows)
            .size(cols),
    )
}

/// The device addresses of the per-channel operands `mean`, `var`, `beta`, checked.
fn channel_params(b: &CudaBackend, op: &'static str, c: BatchNormChannels<&Storage>, cols: usize) -> Result<[u64; 3]> {
    Ok([b.input(op, c.mean, cols)?, b.input(op, c.var, cols)?, b.input(op, c.beta, cols)?])
}

impl BatchNormOps for CudaBackend {
    fn batch_norm_stats(&self, x: &Storage, shape: Rows) -> Result<(Storage, Storage)> {
        const OP: &str = "batch_norm_stats";
        let Rows { rows, cols } = shape;
        let x = self.input(OP, x, rows * cols)?;
        let tiles = ColumnTiles::new(cols);
        let (partials, splits) = partials(self, OP, shape, |p, splits| {
            tiles
                .launch(k::BATCH_NORM_STATS_PARTIALS, splits)
                .ptr(p)
                .ptr(x)
                .size(rows)
                .size(cols)
                .i32(tiles.tile as i32)
        })?;
        let (mean, var) = (self.alloc_f32(OP, cols)?, self.alloc_f32(OP, cols)?);
        finalize(self, OP, k::BATCH_NORM_STATS_FINALIZE, [&mean, &var], (&partials, splits), shape)?;
        Ok((Storage::Cuda(mean), Storage::Cuda(var)))
    }

    fn batch_norm(&self, x: &Storage, c: BatchNormChannels<&Storage>, g: &BatchNormGeometry) -> Result<Storage> {
        const OP: &str = "batch_norm";
        let BatchNormGeometry { shape: Rows { rows, cols }, eps, act } = *g;
        let x = self.input(OP, x, rows * cols)?;
        let [mean, var, beta] = channel_params(self, OP, c, cols)?;
        let y = self.alloc_f32(OP, rows * cols)?;
        let tiles = ColumnTiles::new(cols);
        self.launch(
            OP,
            tiles
                .launch(k::BATCH_NORM_FORWARD, tiles.splits(rows, 4))
                .ptr(y.buffer.ptr())
                .ptr(x)
                .ptr(mean)
                .ptr(var)
                .ptr(beta)
                .size(rows)
                .size(cols)
                .i32(tiles.tile as i32)
                .f32(eps)
                .i32((act == Activation::Relu) as i32),
        )?;
        Ok(Storage::Cuda(y))
    }

    fn batch_norm_backward(
        &self,
        dy: &Storage,
        x: &Storage,
        c: BatchNormChannels<&Storage>,
        g: &BatchNormGeometry,
    ) -> Result<(Storage, Storage)> {
        const OP: &str = "batch_norm_backward";
        let BatchNormGeometry { shape, eps, act } = *g;
        let Rows { rows, cols } = shape;
        let dy = self.input(OP, dy, rows * cols)?;
        let x = self.input(OP, x, rows * cols)?;
        let [mean, var, beta] = channel_params(self, OP, c, cols)?;
        let relu = (act == Activation::Relu) as i32;
        let tiles = ColumnTiles::new(cols);
        let (partials, splits) = partials(self, OP, shape, |p, splits| {
            tiles
                .launch(k::BATCH_NORM_BACKWARD_PARTIALS, splits)
                .ptr(p)
                .ptr(dy)
                .ptr(x)
                .ptr(mean)
                .ptr(var)
                .ptr(beta)
                .size(rows)
                .size(cols)
                .i32(tiles.tile as i32)
                .f32(eps)
                .i32(relu)
        })?;
        let dbeta = self.alloc_f32(OP, cols)?;
        let means = self.alloc_f32(OP, 2 * cols)?;
        finalize(self, OP, k::BATCH_NORM_BACKWARD_FINALIZE, [&dbeta, &means], (&partials, splits), shape)?;
        let dx = self.alloc_f32(OP, rows * cols)?;
        self.launch(
            OP,
            tiles
                .launch(k::BATCH_NORM_BACKWARD_DX, tiles.splits(rows, 4))
                .ptr(dx.buffer.ptr())
                .ptr(dy)
                .ptr(x)
                .ptr(mean)
                .ptr(var)
                .ptr(beta)
                .ptr(means.buffer.ptr())
                .size(rows)
                .size(cols)
                .i32(tiles.tile as i32)
                .f32(eps)
                .i32(relu),
        )?;
        Ok((Storage::Cuda(dx), Storage::Cuda(dbeta)))
    }
}
