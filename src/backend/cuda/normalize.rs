//! Row-wise L2 normalisation and softmax (`kernels/normalize.cu`): a group of threads per
//! row, its sums met in warp shuffles.

use super::runtime::kernels as k;
use super::shapes::row_groups;
use super::CudaBackend;
use crate::backend::Rows;
use crate::error::Result;
use crate::tensor::Storage;

pub fn l2_normalize(b: &CudaBackend, x: &Storage, shape: Rows, eps: f32) -> Result<Storage> {
    const OP: &str = "l2_normalize";
    let Rows { rows, cols } = shape;
    let x = b.input(OP, x, rows * cols)?;
    let y = b.alloc_f32(OP, rows * cols)?;
    b.launch(OP, row_groups(k::L2_NORMALIZE_FORWARD, shape).ptr(y.buffer.ptr()).ptr(x).size(rows).size(cols).f32(eps))?;
    Ok(Storage::Cuda(y))
}

pub fn l2_normalize_backward(b: &CudaBackend, dy: &Storage, x: &Storage, shape: Rows, eps: f32) -> Result<Storage> {
    const OP: &str = "l2_normalize_backward";
    let Rows { rows, cols } = shape;
    let dy = b.input(OP, dy, rows * cols)?;
    let x = b.input(OP, x, rows * cols)?;
    let dx = b.alloc_f32(OP, rows * cols)?;
    let launch = row_groups(k::L2_NORMALIZE_BACKWARD, shape).ptr(dx.buffer.ptr()).ptr(dy).ptr(x);
    b.launch(OP, launch.size(rows).size(cols).f32(eps))?;
    Ok(Storage::Cuda(dx))
}

pub fn softmax(b: &CudaBackend, x: &Storage, shape: Rows) -> Result<Storage> {
    const OP: &str = "softmax";
    let Rows { rows, cols } = shape;
    let x = b.input(OP, x, rows * cols)?;
    let y = b.alloc_f32(OP, rows * cols)?;
    b.launch(OP, row_groups(k::SOFTMAX_FORWARD, shape).ptr(y.buffer.ptr()).ptr(x).size(rows).size(cols))?;
    Ok(Storage::Cuda(y))
}

pub fn softmax_backward(b: &CudaBackend, dy: &Storage, y: &Storage, shape: Rows) -> Result<Storage> {
    const OP: &str = "softmax_backward";
    let Rows { rows, cols } = shape;
    let dy = b.input(OP, dy, rows * cols)?;
    let y = b.input(OP, y, rows * cols)?;
    let dx = b.alloc_f32(OP, rows * cols)?;
    b.launch(OP, row_groups(k::SOFTMAX_BACKWARD, shape).ptr(dx.buffer.ptr()).ptr(dy).ptr(y).size(rows).size(cols))?;
    Ok(Storage::Cuda(dx))
}
