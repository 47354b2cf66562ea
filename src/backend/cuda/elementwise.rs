//! Element-wise maps, bias and broadcast over rows, column sums and the sum of squares
//! (`kernels/elementwise.cu`).

use super::runtime::kernels as k;
use super::runtime::launch::Launch;
use super::shapes::{grid_stride, TARGET_BLOCKS};
use super::{CudaBackend, DeviceBuffer, THREADS};
use crate::backend::{
    Activation, BinaryOp, CudaStorage, ElementwiseOps, ResidualTail, ResidualTailGradients, Rows, Storage,
};
use crate::error::Result;

/// Runs an element-wise kernel `kernel(out, inputs…, scalars…, n)` into fresh
/// storage of `n` values; `args` adds the parameters between `out` and `n`.
fn map(
    b: &CudaBackend,
    op: &'static str,
    kernel: k::Kernel,
    n: usize,
    args: impl FnOnce(Launch) -> Launch,
) -> Result<Storage> {
    let out = b.alloc_f32(op, n)?;
    b.launch(op, args(grid_stride(kernel, n).ptr(out.buffer.ptr())).size(n))?;
    Ok(Storage::Cuda(out))
}

/// Rows of threads per column-sum block (its width is one warp of columns).
const COLUMN_ROW_THREADS: u32 = 8;

/// The fewest rows a column-sum chunk takes: 8 per thread, so each block's loads outweigh
/// its reduction and the partials stay few.
const COLUMN_MIN_CHUNK_ROWS: usize = 64;

/// How `sum_rows` cuts the rows into chunks (grid.y): enough blocks to fill the GPU, from
/// the shape alone, so the order of every addition is fixed.
fn column_chunks(shape: Rows) -> (usize, usize) {
    let tiles = shape.cols.div_ceil(32).max(1);
    let wanted = TARGET_BLOCKS.div_ceil(tiles).min(shape.rows.div_ceil(COLUMN_MIN_CHUNK_ROWS)).max(1);
    let chunk_rows = shape.rows.div_ceil(wanted).max(1);
    (shape.rows.div_ceil(chunk_rows).max(1), chunk_rows)
}

impl ElementwiseOps for CudaBackend {
    fn binary(&self, op: BinaryOp, lhs: &Storage, rhs: &Storage) -> Result<Storage> {
        let name = "binary";
        let (l, n) = self.f32_storage(name, lhs)?;
        let r = self.input(name, rhs, n)?;
        let code = match op {
            BinaryOp::Add => 0,
            BinaryOp::Sub => 1,
            BinaryOp::Mul => 2,
            BinaryOp::Div => 3,
        };
        map(self, name, k::ELEMENTWISE_BINARY, n, |launch| launch.ptr(l).ptr(r).i32(code))
    }

    fn affine(&self, x: &Storage, mul: f32, add: f32) -> Result<Storage> {
        let op = "affine";
        let (x, n) = self.f32_storage(op, x)?;
        map(self, op, k::ELEMENTWISE_AFFINE, n, |l| l.ptr(x).f32(mul).f32(add))
    }

    fn exp(&self, x: &Storage) -> Result<Storage> {
        let op = "exp";
        let (x, n) = self.f32_storage(op, x)?;
        map(self, op, k::ELEMENTWISE_EXP, n, |l| l.ptr(x))
    }

    fn add_scaled(&self, x: &Storage, y: &Storage, alpha: f32) -> Result<Storage> {
        let op = "add_scaled";
        let (x, n) = self.f32_storage(op, x)?;
        let y = self.input(op, y, n)?;
        map(self, op, k::ELEMENTWISE_ADD_SCALED, n, |l| l.ptr(x).ptr(y).f32(alpha))
    }

    fn sum_all(&self, xs: &[&Storage]) -> Result<Storage> {
        let op = "sum_all";
        let Some(first) = xs.first() else { return Err(self.fail(op, "no tensors to add")) };
        let (_, n) = self.f32_storage(op, first)?;
        let ptrs = xs.iter().map(|x| self.input(op, x, n)).collect::<Result<Vec<u64>>>()?;
        let table = DeviceBuffer::alloc(&self.gpu, op, ptrs.len() * 8)?;
        self.gpu.write(op, table.ptr(), bytemuck::cast_slice(&ptrs))?;
        map(self, op, k::ELEMENTWISE_SUM_LIST, n, |l| l.ptr(table.ptr()).i32(ptrs.len() as i32))
    }

    fn relu(&self, x: &Storage) -> Result<Storage> {
        let op = "relu";
        let (x, n) = self.f32_storage(op, x)?;
        map(self, op, k::ELEMENTWISE_RELU, n, |l| l.ptr(x))
    }

    fn relu_backward(&self, dy: &Storage, y: &Storage) -> Result<Storage> {
        let op = "relu_backward";
        let (dy, n) = self.f32_storage(op, dy)?;
        let y = self.input(op, y, n)?;
        map(self, op, k::ELEMENTWISE_RELU_BACKWARD, n, |l| l.ptr(dy).ptr(y))
    }

    fn add_bias(&self, x: &Storage, bias: &Storage, shape: Rows) -> Result<Storage> {
        let op = "add_bias";
        let n = shape.rows * shape.cols;
        let (x, bias) = (self.input(op, x, n)?, self.input(op, bias, shape.cols)?);
        let out = self.alloc_f32(op, n)?;
        if n > 0 {
            let launch = grid_stride(k::ELEMENTWISE_ADD_BIAS, n).ptr(out.buffer.ptr()).ptr(x).ptr(bias);
            self.launch(op, launch.size(n).size(shape.cols))?;
        }
        Ok(Storage::Cuda(out))
    }

    fn residual_tail(&self, x: &Storage, up: &Storage, bias: &Storage, tail: ResidualTail) -> Result<Storage> {
        let op = "residual_tail";
        let Rows { rows, cols } = tail.shape;
        let n = rows * cols;
        let (x, up, bias) = (self.input(op, x, n)?, self.input(op, up, n)?, self.input(op, bias, cols)?);
        let out = self.alloc_f32(op, n)?;
        if n > 0 {
            let launch = grid_stride(k::ELEMENTWISE_RESIDUAL_TAIL, n).ptr(out.buffer.ptr()).ptr(x).ptr(up).ptr(bias);
            let relu = (tail.act == Activation::Relu) as i32;
            self.launch(op, launch.f32(tail.scale).i32(relu).size(n).size(cols))?;
        }
        Ok(Storage::Cuda(out))
    }

    /// One launch of the column sums walking dy through the tail's backward.
    fn residual_tail_backward(&self, dy: &Storage, y: &Storage, tail: ResidualTail) -> Result<ResidualTailGradients> {
        let op = "residual_tail_backward";
        let n = tail.shape.rows * tail.shape.cols;
        let (dy, y) = (self.input(op, dy, n)?, self.input(op, y, n)?);
        let (dx, dup) = (self.alloc_f32(op, n)?, self.alloc_f32(op, n)?);
        let through = TailThrough { dx: dx.buffer.ptr(), dup: dup.buffer.ptr(), y, tail };
        let dbias = column_sums(self, op, dy, tail.shape, Some(through))?;
        Ok(ResidualTailGradients { dx: Storage::Cuda(dx), dup: Storage::Cuda(dup), dbias: Storage::Cuda(dbias) })
    }

    fn broadcast_rows(&self, x: &Storage, shape: Rows) -> Result<Storage> {
        let op = "broadcast_rows";
        let n = shape.rows * shape.cols;
        let x = self.input(op, x, shape.cols)?;
        let out = self.alloc_f32(op, n)?;
        if n > 0 {
            let launch = grid_stride(k::ELEMENTWISE_BROADCAST_ROWS, n).ptr(out.buffer.ptr()).ptr(x);
            self.launch(op, launch.size(n).size(shape.cols))?;
        }
        Ok(Storage::Cuda(out))
    }

    /// Column sums of `x[rows, cols]`, accumulated in f64 and rounded once like the CPU's: the
    /// two differ only in the order of f64 additions, so by at most one f32 rounding.
    fn sum_rows(&self, x: &Storage, shape: Rows) -> Result<Storage> {
        let op = "sum_rows";
        let x = self.input(op, x, shape.rows * shape.cols)?;
        Ok(Storage::Cuda(column_sums(self, op, x, shape, None)?))
    }
}

/// A residual tail's backward that the column sums take each element through first: where
/// they write dx and dup, the tail's output y and its numbers.
struct TailThrough {
    dx: u64,
    dup: u64,
    y: u64,
    tail: ResidualTail,
}

/// `elementwise_column_sums` over `x[rows, cols]` (at that address), or over `dup` of the
/// residual tail's backward `through` computes on the way.
fn column_sums(
    b: &CudaBackend,
    op: &'static str,
    x: u64,
    shape: Rows,
    through: Option<TailThrough>,
) -> Result<CudaStorage> {
    let Rows { rows, cols } = shape;
    let out = b.alloc_f32(op, cols)?;
    if cols == 0 || (rows == 0 && through.is_some()) {
        if cols > 0 {
            b.launch(op, Launch::linear(k::FILL_F32, cols, THREADS).ptr(out.buffer.ptr()).f32(0.0).size(cols))?;
        }
        return Ok(out);
    }
    let (chunks, chunk_rows) = column_chunks(shape);
    let tiles = cols.div_ceil(32);
    let partial = if chunks > 1 { Some(DeviceBuffer::alloc(&b.gpu, op, chunks * cols * 8)?) } else { None };
    let partial_ptr = partial.as_ref().map_or(0, DeviceBuffer::ptr);
    let counters = if chunks > 1 { b.completion_counters(op, tiles)? } else { 0 };
    let launch = Launch::new(k::ELEMENTWISE_COLUMN_SUMS, [tiles as u32, chunks as u32, 1], [32, COLUMN_ROW_THREADS, 1])
        .shared(32 * COLUMN_ROW_THREADS as usize * 8)
        .ptr(out.buffer.ptr())
        .ptr(partial_ptr)
        .ptr(counters)
        .ptr(x);
    let launch = match through {
        Some(t) => {
            let relu = (t.tail.act == Activation::Relu) as i32;
            launch.ptr(t.dx).ptr(t.dup).ptr(t.y).f32(t.tail.scale).i32(relu)
        }
        None => launch.ptr(0).ptr(0).ptr(0).f32(0.0).i32(0),
    };
    b.launch(op, launch.size(rows).size(cols).size(chunk_rows))?;
    Ok(out)
}
