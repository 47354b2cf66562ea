//! Row-wise L2 normalisation and softmax (`kernels/normalize.cu`): a group of threads per
//! row, its sums met in warp shuffles.

use super::runtime::kernels as k;
use super::shapes::row_groups;
use super::CudaBackend;
use crate::backend::{NormalizeOps, Rows, Storage, WeightHead};
use crate::error::Result;

impl NormalizeOps for CudaBackend {
    fn l2_normalize(&self, x: &Storage, shape: Rows, eps: f32) -> Result<Storage> {
        const OP: &str = "l2_normalize";
        let Rows { rows, cols } = shape;
        let x = self.input(OP, x, rows * cols)?;
        let y = self.alloc_f32(OP, rows * cols)?;
        self.launch(
            OP,
            row_groups(k::L2_NORMALIZE_FORWARD, shape).ptr(y.buffer.ptr()).ptr(x).size(rows).size(cols).f32(eps),
        )?;
        Ok(Storage::Cuda(y))
    }

    fn l2_normalize_backward(&self, dy: &Storage, x: &Storage, shape: Rows, eps: f32) -> Result<Storage> {
        const OP: &str = "l2_normalize_backward";
        let Rows { rows, cols } = shape;
        let dy = self.input(OP, dy, rows * cols)?;
        let x = self.input(OP, x, rows * cols)?;
        let dx = self.alloc_f32(OP, rows * cols)?;
        let launch = row_groups(k::L2_NORMALIZE_BACKWARD, shape).ptr(dx.buffer.ptr()).ptr(dy).ptr(x);
        self.launch(OP, launch.size(rows).size(cols).f32(eps))?;
        Ok(Storage::Cuda(dx))
    }

    fn softmax(&self, x: &Storage, shape: Rows) -> Result<Storage> {
        const OP: &str = "softmax";
        let Rows { rows, cols } = shape;
        let x = self.input(OP, x, rows * cols)?;
        let y = self.alloc_f32(OP, rows * cols)?;
        self.launch(OP, row_groups(k::SOFTMAX_FORWARD, shape).ptr(y.buffer.ptr()).ptr(x).size(rows).size(cols))?;
        Ok(Storage::Cuda(y))
    }

    fn softmax_backward(&self, dy: &Storage, y: &Storage, shape: Rows) -> Result<Storage> {
        const OP: &str = "softmax_backward";
        let Rows { rows, cols } = shape;
        let dy = self.input(OP, dy, rows * cols)?;
        let y = self.input(OP, y, rows * cols)?;
        let dx = self.alloc_f32(OP, rows * cols)?;
        self.launch(
            OP,
            row_groups(k::SOFTMAX_BACKWARD, shape).ptr(dx.buffer.ptr()).ptr(dy).ptr(y).size(rows).size(cols),
        )?;
        Ok(Storage::Cuda(dx))
    }

    fn weight_head(&self, on: WeightHead) -> Result<Storage> {
        const OP: &str = "weight_head";
        let (a, bias) = head_operands(self, OP, &on)?;
        let Rows { rows, cols } = on.shape;
        let pi = self.alloc_f32(OP, rows * cols)?;
        let launch = row_groups(k::WEIGHT_HEAD_FORWARD, on.shape).ptr(pi.buffer.ptr()).ptr(a).ptr(bias);
        self.launch(OP, launch.size(rows).size(cols).f32(on.scale).f32(on.eps))?;
        Ok(Storage::Cuda(pi))
    }

    fn weight_head_backward(&self, dpi: &Storage, pi: &Storage, on: WeightHead) -> Result<Storage> {
        const OP: &str = "weight_head_backward";
        let (a, bias) = head_operands(self, OP, &on)?;
        let Rows { rows, cols } = on.shape;
        let (dpi, pi) = (self.input(OP, dpi, rows * cols)?, self.input(OP, pi, rows * cols)?);
        let da = self.alloc_f32(OP, rows * cols)?;
        let launch =
            row_groups(k::WEIGHT_HEAD_BACKWARD, on.shape).ptr(da.buffer.ptr()).ptr(dpi).ptr(pi).ptr(a).ptr(bias);
        self.launch(OP, launch.size(rows).size(cols).f32(on.scale).f32(on.eps))?;
        Ok(Storage::Cuda(da))
    }
}

/// The weight head's `a` and bias, checked against its shape.
fn head_operands(b: &CudaBackend, op: &'static str, on: &WeightHead) -> Result<(u64, u64)> {
    Ok((b.input(op, on.a, on.shape.rows * on.shape.cols)?, b.input(op, on.bias, on.shape.cols)?))
}
