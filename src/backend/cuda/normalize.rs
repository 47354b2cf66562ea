//! Row-wise L2 normalisation and softmax (`kernels/normalize.cu`): a group of threads per
//! row, its sums met in warp shuffles.

use super::batch_norm::input;
use super::runtime::kernels as k;
use super::runtime::launch::Launch;
use super::{CudaBackend, THREADS};
use crate::backend::Rows;
use crate::error::Result;
use crate::tensor::Storage;

/// The row-group launch shape (`kernels/common.cuh`): `group` threads per row (a power of
/// two giving each about 8 columns, at most 1024), `THREADS / group` rows per block when
/// that is more than one.
pub(super) fn row_groups(kernel: k::Kernel, shape: Rows) -> Launch {
    let group = shape.cols.div_ceil(8).next_power_of_two().clamp(1, 1024) as u32;
    let rows_per_block = (THREADS / group).max(1);
    let blocks = shape.rows.div_ceil(rows_per_block as usize).clamp(1, 1 << 20) as u32;
    // The reductions' scratch, 32 doubles per row, serves groups wider than a warp only.
    let shared = if group > 32 { 32 * rows_per_block as usize * 8 } else { 0 };
    Launch::new(kernel, [blocks, 1, 1], [group, rows_per_block, 1]).shared(shared)
}

pub fn l2_normalize(b: &CudaBackend, x: &Storage, shape: Rows, eps: f32) -> Result<Storage> {
    const OP: &str = "l2_normalize";
    let Rows { rows, cols } = shape;
    let x = input(b, OP, x, rows * cols)?;
    let y = b.alloc_f32(OP, rows * cols)?;
    b.launch(OP, row_groups(k::L2_NORMALIZE_FORWARD, shape).ptr(y.buffer.ptr()).ptr(x).size(rows).size(cols).f32(eps))?;
    Ok(Storage::Cuda(y))
}

pub fn l2_normalize_backward(b: &CudaBackend, dy: &Storage, x: &Storage, shape: Rows, eps: f32) -> Result<Storage> {
    const OP: &str = "l2_normalize_backward";
    let Rows { rows, cols } = shape;
    let dy = input(b, OP, dy, rows * cols)?;
    let x = input(b, OP, x, rows * cols)?;
    let dx = b.alloc_f32(OP, rows * cols)?;
    let launch = row_groups(k::L2_NORMALIZE_BACKWARD, shape).ptr(dx.buffer.ptr()).ptr(dy).ptr(x);
    b.launch(OP, launch.size(rows).size(cols).f32(eps))?;
    Ok(Storage::Cuda(dx))
}

pub fn softmax(b: &CudaBackend, x: &Storage, shape: Rows) -> Result<Storage> {
    const OP: &str = "softmax";
    let Rows { rows, cols } = shape;
    let x = input(b, OP, x, rows * cols)?;
    let y = b.alloc_f32(OP, rows * cols)?;
    b.launch(OP, row_groups(k::SOFTMAX_FORWARD, shape).ptr(y.buffer.ptr()).ptr(x).size(rows).size(cols))?;
    Ok(Storage::Cuda(y))
}

pub fn softmax_backward(b: &CudaBackend, dy: &Storage, y: &Storage, shape: Rows) -> Result<Storage> {
    const OP: &str = "softmax_backward";
    let Rows { rows, cols } = shape;
    let dy = input(b, OP, dy, rows * cols)?;
    let y = input(b, OP, y, rows * cols)?;
    let dx = b.alloc_f32(OP, rows * cols)?;
    b.launch(OP, row_groups(k::SOFTMAX_BACKWARD, shape).ptr(dx.buffer.ptr()).ptr(dy).ptr(y).size(rows).size(cols))?;
    Ok(Storage::Cuda(dx))
}
