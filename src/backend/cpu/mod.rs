//! The CPU backend: pure Rust, multi-threaded with rayon, GEMM from the `gemm` crate.
//!
//! One module per op family. Each keeps a naive, obviously-correct `reference` beside any
//! fast path, and its tests check the fast path against the reference.

pub mod batch_norm;
pub mod buffer;
pub mod conv2d;
pub mod dropout;
pub mod elementwise;
pub mod layout;
pub mod loss;
pub mod matmul;
pub mod normalize;
pub mod optim;
pub mod pool;

use super::{
    Activation, AdamStep, Backend, BinaryOp, Conv2dGeometry, MatmulGeometry, Pool2dGeometry, RmsPropStep, Rows, SgdStep,
};
use crate::error::{Error, Result};
use crate::tensor::{CpuStorage, DType, Storage};
use half::{bf16, f16};

#[derive(Debug, Default, Clone, Copy)]
pub struct CpuBackend;

fn f32s<'a>(x: &'a Storage, op: &'static str) -> Result<&'a [f32]> {
    x.host_f32().ok_or_else(|| not_cpu_f32(x, op))
}

fn f32s_mut<'a>(x: &'a mut Storage, op: &'static str) -> Result<&'a mut [f32]> {
    match x {
        Storage::Cpu(CpuStorage::F32(v)) => Ok(v),
        other => Err(not_cpu_f32(other, op)),
    }
}

/// Why `x` is not storage this backend computes on (or, for `f32s_mut`, writes to).
fn not_cpu_f32(x: &Storage, op: &'static str) -> Error {
    match x {
        Storage::Cpu(CpuStorage::Mapped(_)) => Error::Backend {
            op,
            device: "cpu".into(),
            msg: "storage is read in place from a file map and cannot be written (take it through Tensor::storage_mut)"
                .into(),
        },
        Storage::Cpu(s) => Error::DTypeMismatch { op, expected: DType::F32, got: s.dtype() },
        other => not_cpu(other, op),
    }
}

/// The error for storage that lives on another device.
fn not_cpu(x: &Storage, op: &'static str) -> Error {
    let place = match x {
        Storage::Cuda(s) => s.buffer.gpu().name(),
        Storage::Cpu(_) => "cpu".into(),
    };
    Error::Backend { op, device: "cpu".into(), msg: format!("storage lives on {place}, not on the CPU") }
}

fn wrap(v: Vec<f32>) -> Storage {
    Storage::Cpu(CpuStorage::F32(v))
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        "cpu".into()
    }

    fn upload(&self, data: Vec<f32>) -> Result<Storage> {
        Ok(wrap(data))
    }

    fn download(&self, x: &Storage) -> Result<Vec<f32>> {
        match x {
            Storage::Cpu(CpuStorage::F32(v)) => Ok(v.clone()),
            Storage::Cpu(CpuStorage::Mapped(m)) => Ok(m.as_slice().to_vec()),
            Storage::Cpu(CpuStorage::BF16(v)) => Ok(v.iter().map(|h| h.to_f32()).collect()),
            Storage::Cpu(CpuStorage::F16(v)) => Ok(v.iter().map(|h| h.to_f32()).collect()),
            other => Err(not_cpu(other, "download")),
        }
    }

    fn zeros(&self, len: usize) -> Result<Storage> {
        Ok(wrap(buffer::zeroed(len)))
    }

    fn copy(&self, x: &Storage) -> Result<Storage> {
        match x {
            // The copy is owned, so it can be written (a mapped view cannot).
            Storage::Cpu(CpuStorage::Mapped(m)) => {
                let mut v = buffer::uninit(m.len());
                v.copy_from_slice(m.as_slice());
                Ok(wrap(v))
            }
            Storage::Cpu(s) => Ok(Storage::Cpu(s.clone())),
            other => Err(not_cpu(other, "copy")),
        }
    }

    fn cast(&self, x: &Storage, dtype: DType) -> Result<Storage> {
        let v = self.download(x)?;
        Ok(Storage::Cpu(match dtype {
            DType::F32 => CpuStorage::F32(v),
            DType::BF16 => CpuStorage::BF16(v.iter().map(|&f| bf16::from_f32(f)).collect()),
            DType::F16 => CpuStorage::F16(v.iter().map(|&f| f16::from_f32(f)).collect()),
        }))
    }

    fn binary(&self, op: BinaryOp, a: &Storage, b: &Storage) -> Result<Storage> {
        Ok(wrap(elementwise::binary(op, f32s(a, "binary")?, f32s(b, "binary")?)))
    }

    fn affine(&self, x: &Storage, mul: f32, add: f32) -> Result<Storage> {
        Ok(wrap(elementwise::affine(f32s(x, "affine")?, mul, add)))
    }

    fn exp(&self, x: &Storage) -> Result<Storage> {
        Ok(wrap(elementwise::exp(f32s(x, "exp")?)))
    }

    fn add_scaled(&self, a: &Storage, b: &Storage, alpha: f32) -> Result<Storage> {
        Ok(wrap(elementwise::add_scaled(f32s(a, "add_scaled")?, f32s(b, "add_scaled")?, alpha)))
    }

    fn relu(&self, x: &Storage) -> Result<Storage> {
        Ok(wrap(elementwise::relu(f32s(x, "relu")?)))
    }

    fn relu_backward(&self, dy: &Storage, y: &Storage) -> Result<Storage> {
        Ok(wrap(elementwise::relu_backward(f32s(dy, "relu_backward")?, f32s(y, "relu_backward")?)))
    }

    fn add_bias(&self, x: &Storage, bias: &Storage, shape: Rows) -> Result<Storage> {
        Ok(wrap(elementwise::add_bias(f32s(x, "add_bias")?, f32s(bias, "add_bias")?, shape)))
    }

    fn sum_rows(&self, x: &Storage, shape: Rows) -> Result<Storage> {
        Ok(wrap(elementwise::sum_rows(f32s(x, "sum_rows")?, shape)))
    }

    fn broadcast_rows(&self, x: &Storage, shape: Rows) -> Result<Storage> {
        Ok(wrap(elementwise::broadcast_rows(f32s(x, "broadcast_rows")?, shape)))
    }

    fn sum_squares(&self, x: &Storage) -> Result<f64> {
        Ok(elementwise::sum_squares(f32s(x, "sum_squares")?))
    }

    fn sgd_momentum(&self, param: &mut Storage, velocity: &mut Storage, grad: &Storage, hyper: SgdStep) -> Result<()> {
        let op = "sgd_momentum";
        optim::sgd_momentum(f32s_mut(param, op)?, f32s_mut(velocity, op)?, f32s(grad, op)?, hyper);
        Ok(())
    }

    fn rmsprop(
        &self,
        param: &mut Storage,
        ms: &mut Storage,
        mom: &mut Storage,
        grad: &Storage,
        hyper: RmsPropStep,
    ) -> Result<()> {
        let op = "rmsprop";
        optim::rmsprop(f32s_mut(param, op)?, f32s_mut(ms, op)?, f32s_mut(mom, op)?, f32s(grad, op)?, hyper);
        Ok(())
    }

    fn adam(
        &self,
        param: &mut Storage,
        m: &mut Storage,
        v: &mut Storage,
        grad: &Storage,
        hyper: AdamStep,
    ) -> Result<()> {
        let op = "adam";
        optim::adam(f32s_mut(param, op)?, f32s_mut(m, op)?, f32s_mut(v, op)?, f32s(grad, op)?, hyper)
    }

    fn matmul(&self, a: &Storage, b: &Storage, g: &MatmulGeometry) -> Result<Storage> {
        Ok(wrap(matmul::matmul(f32s(a, "matmul")?, f32s(b, "matmul")?, g)))
    }

    fn conv2d(&self, x: &Storage, w: &Storage, g: &Conv2dGeometry) -> Result<Storage> {
        Ok(wrap(conv2d::forward(f32s(x, "conv2d")?, f32s(w, "conv2d")?, g)))
    }

    fn conv2d_input_grad(&self, dy: &Storage, w: &Storage, g: &Conv2dGeometry) -> Result<Storage> {
        let op = "conv2d_input_grad";
        Ok(wrap(conv2d::input_grad(f32s(dy, op)?, f32s(w, op)?, g)))
    }

    fn conv2d_weight_grad(&self, x: &Storage, dy: &Storage, g: &Conv2dGeometry) -> Result<Storage> {
        let op = "conv2d_weight_grad";
        Ok(wrap(conv2d::weight_grad(f32s(x, op)?, f32s(dy, op)?, g)))
    }

    fn batch_norm_stats(&self, x: &Storage, shape: Rows) -> Result<(Storage, Storage)> {
        let (mean, var) = batch_norm::stats(f32s(x, "batch_norm_stats")?, shape);
        Ok((wrap(mean), wrap(var)))
    }

    fn batch_norm(
        &self,
        x: &Storage,
        mean: &Storage,
        var: &Storage,
        beta: &Storage,
        shape: Rows,
        eps: f32,
        act: Activation,
    ) -> Result<Storage> {
        let op = "batch_norm";
        let (x, mean, var, beta) = (f32s(x, op)?, f32s(mean, op)?, f32s(var, op)?, f32s(beta, op)?);
        Ok(wrap(batch_norm::forward(x, mean, var, beta, shape, eps, act)))
    }

    fn batch_norm_backward(
        &self,
        dy: &Storage,
        x: &Storage,
        mean: &Storage,
        var: &Storage,
        beta: &Storage,
        shape: Rows,
        eps: f32,
        act: Activation,
    ) -> Result<(Storage, Storage)> {
        let op = "batch_norm_backward";
        let (dy, x, mean, var, beta) = (f32s(dy, op)?, f32s(x, op)?, f32s(mean, op)?, f32s(var, op)?, f32s(beta, op)?);
        let (dx, dbeta) = batch_norm::backward(dy, x, mean, var, beta, shape, eps, act);
        Ok((wrap(dx), wrap(dbeta)))
    }

    fn max_pool2d(&self, x: &Storage, g: &Pool2dGeometry) -> Result<Storage> {
        Ok(wrap(pool::max_pool2d(f32s(x, "max_pool2d")?, g)))
    }

    fn max_pool2d_backward(&self, dy: &Storage, x: &Storage, g: &Pool2dGeometry) -> Result<Storage> {
        let op = "max_pool2d_backward";
        Ok(wrap(pool::max_pool2d_backward(f32s(dy, op)?, f32s(x, op)?, g)))
    }

    fn global_avg_pool(&self, x: &Storage, batch: usize, hw: usize, channels: usize) -> Result<Storage> {
        Ok(wrap(pool::global_avg_pool(f32s(x, "global_avg_pool")?, batch, hw, channels)))
    }

    fn global_avg_pool_backward(
        &self,
        dy: &Storage,
        batch: usize,
        hw: usize,
        channels: usize,
    ) -> Result<Storage> {
        Ok(wrap(pool::global_avg_pool_backward(f32s(dy, "global_avg_pool_backward")?, batch, hw, channels)))
    }

    fn concat_cols(&self, parts: &[(&Storage, usize)], rows: usize) -> Result<Storage> {
        let parts = parts
            .iter()
            .map(|(s, c)| Ok((f32s(s, "concat")?, *c)))
            .collect::<Result<Vec<_>>>()?;
        Ok(wrap(layout::concat_cols(&parts, rows)))
    }

    fn slice_cols(&self, x: &Storage, shape: Rows, start: usize, len: usize) -> Result<Storage> {
        Ok(wrap(layout::slice_cols(f32s(x, "slice")?, shape, start, len)))
    }

    fn gather_rows(&self, x: &Storage, shape: Rows, index: &[usize]) -> Result<Storage> {
        Ok(wrap(layout::gather_rows(f32s(x, "gather_rows")?, shape, index)))
    }

    fn scatter_add_rows(&self, src: &Storage, shape: Rows, index: &[usize]) -> Result<Storage> {
        Ok(wrap(layout::scatter_add_rows(f32s(src, "scatter_add_rows")?, shape, index)))
    }

    fn dropout_mask(&self, len: usize, keep: f32, seed: u64) -> Result<Storage> {
        Ok(wrap(dropout::mask(len, keep, seed)))
    }

    fn l2_normalize(&self, x: &Storage, shape: Rows, eps: f32) -> Result<Storage> {
        Ok(wrap(normalize::l2_normalize(f32s(x, "l2_normalize")?, shape, eps)))
    }

    fn l2_normalize_backward(&self, dy: &Storage, x: &Storage, shape: Rows, eps: f32) -> Result<Storage> {
        let op = "l2_normalize_backward";
        Ok(wrap(normalize::l2_normalize_backward(f32s(dy, op)?, f32s(x, op)?, shape, eps)))
    }

    fn softmax(&self, x: &Storage, shape: Rows) -> Result<Storage> {
        Ok(wrap(normalize::softmax(f32s(x, "softmax")?, shape)))
    }

    fn softmax_backward(&self, dy: &Storage, y: &Storage, shape: Rows) -> Result<Storage> {
        let op = "softmax_backward";
        Ok(wrap(normalize::softmax_backward(f32s(dy, op)?, f32s(y, op)?, shape)))
    }

    fn softmax_cross_entropy(
        &self,
        logits: &Storage,
        labels: &[usize],
        shape: Rows,
    ) -> Result<(Storage, Storage)> {
        let (loss, probs) = loss::softmax_cross_entropy(f32s(logits, "softmax_cross_entropy")?, labels, shape);
        Ok((wrap(loss), wrap(probs)))
    }

    fn softmax_cross_entropy_backward(
        &self,
        dloss: &Storage,
        probs: &Storage,
        labels: &[usize],
        shape: Rows,
    ) -> Result<Storage> {
        let op = "softmax_cross_entropy_backward";
        Ok(wrap(loss::softmax_cross_entropy_backward(f32s(dloss, op)?, f32s(probs, op)?, labels, shape)))
    }

    fn center_loss(
        &self,
        embeddings: &Storage,
        centers: &Storage,
        labels: &[usize],
        shape: Rows,
    ) -> Result<Storage> {
        let op = "center_loss";
        Ok(wrap(loss::center_loss(f32s(embeddings, op)?, f32s(centers, op)?, labels, shape)))
    }

    fn center_loss_backward(
        &self,
        dloss: &Storage,
        embeddings: &Storage,
        centers: &Storage,
        labels: &[usize],
        shape: Rows,
    ) -> Result<Storage> {
        let op = "center_loss_backward";
        Ok(wrap(loss::center_loss_backward(
            f32s(dloss, op)?,
            f32s(embeddings, op)?,
            f32s(centers, op)?,
            labels,
            shape,
        )))
    }
}
