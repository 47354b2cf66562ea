//! The CUDA backend: every op of [`Backend`] as our own kernels (`kernels/*.cu`), launched
//! on a [`Gpu`], either a real device through cudarc or the CPU emulation of the CUDA
//! execution model. One file per op family, named as in `cpu/` and `kernels/`.

mod batch_norm;
mod conv2d;
mod dropout;
mod elementwise;
mod layout;
mod loss;
mod matmul;
mod memory;
mod normalize;
mod optim;
mod pool;
pub mod runtime;
mod shapes;

pub use runtime::DeviceBuffer;

use super::{
    Activation, AdamStep, Backend, BinaryOp, Conv2dGeometry, MatmulGeometry, Pool2dGeometry, RmsPropStep, Rows,
    SgdStep,
};
use crate::error::{Error, Result};
use crate::tensor::{CudaStorage, DType, Storage};
use runtime::launch::Launch;
use runtime::Gpu;
use std::sync::Arc;

/// Threads per block of the element-wise kernels.
const THREADS: u32 = 256;

pub struct CudaBackend {
    gpu: Arc<dyn Gpu>,
}

impl CudaBackend {
    /// The real GPU `cuda:N`; a clear error where there is no driver, device or NVRTC.
    pub fn open(ordinal: usize) -> Result<CudaBackend> {
        Ok(CudaBackend { gpu: Arc::new(runtime::driver::CudaDriver::open(ordinal)?) })
    }

    /// The same backend on the CPU emulation of the CUDA execution model.
    #[cfg(cari_emu)]
    pub fn emulated(order: runtime::emulator::ThreadOrder) -> CudaBackend {
        CudaBackend { gpu: Arc::new(runtime::emulator::Emulator::new(order)) }
    }

    fn fail(&self, op: &'static str, msg: impl Into<String>) -> Error {
        Error::Backend { op, device: self.gpu.name(), msg: msg.into() }
    }

    /// Fresh device storage for `len` elements of `dtype` (contents undefined).
    fn alloc(&self, op: &'static str, len: usize, dtype: DType) -> Result<CudaStorage> {
        let buffer = DeviceBuffer::alloc(&self.gpu, op, len * dtype.size_in_bytes())?;
        Ok(CudaStorage { buffer, len, dtype })
    }

    fn alloc_f32(&self, op: &'static str, len: usize) -> Result<CudaStorage> {
        self.alloc(op, len, DType::F32)
    }

    /// The device address and length of `x`, checking it is f32 storage of this device.
    fn f32_storage(&self, op: &'static str, x: &Storage) -> Result<(u64, usize)> {
        let s = self.ours(op, x)?;
        if s.dtype != DType::F32 {
            return Err(Error::DTypeMismatch { op, expected: DType::F32, got: s.dtype });
        }
        Ok((s.buffer.ptr(), s.len))
    }

    /// The device address of an input, checking it is f32 storage of this device holding
    /// `len` values: kernels trust their lengths, so a shorter buffer would be read out of
    /// bounds.
    fn input(&self, op: &'static str, x: &Storage, len: usize) -> Result<u64> {
        let (ptr, held) = self.f32_storage(op, x)?;
        if held != len {
            return Err(self.fail(op, format!("expected {len} values, an operand holds {held}")));
        }
        Ok(ptr)
    }

    fn ours<'a>(&self, op: &'static str, x: &'a Storage) -> Result<&'a CudaStorage> {
        match x {
            Storage::Cuda(s) if same_gpu(s.buffer.gpu(), &self.gpu) => Ok(s),
            Storage::Cuda(s) => Err(self.fail(op, format!("storage lives on {}", s.buffer.gpu().name()))),
            Storage::Cpu(_) => Err(self.fail(op, "storage lives on the CPU")),
        }
    }

    /// Uploads row indices or labels as the `long long` array kernels index with.
    fn upload_indices(&self, op: &'static str, index: &[usize]) -> Result<DeviceBuffer> {
        let values: Vec<i64> = index.iter().map(|&i| i as i64).collect();
        let buffer = DeviceBuffer::alloc(&self.gpu, op, values.len() * 8)?;
        self.gpu.write(op, buffer.ptr(), bytemuck::cast_slice(&values))?;
        Ok(buffer)
    }

    /// Validates and runs one launch.
    fn launch(&self, op: &'static str, launch: Launch) -> Result<()> {
        launch.validate(op, &self.gpu.name())?;
        self.gpu.launch(op, &launch)
    }
}

fn same_gpu(a: &Arc<dyn Gpu>, b: &Arc<dyn Gpu>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

impl Backend for CudaBackend {
    fn name(&self) -> String {
        self.gpu.name()
    }

    fn synchronize(&self) -> Result<()> {
        self.gpu.synchronize()
    }

    fn upload(&self, data: Vec<f32>) -> Result<Storage> {
        memory::upload(self, &data)
    }
    fn download(&self, x: &Storage) -> Result<Vec<f32>> {
        memory::download(self, x)
    }
    fn zeros(&self, len: usize) -> Result<Storage> {
        memory::zeros(self, len)
    }
    fn copy(&self, x: &Storage) -> Result<Storage> {
        memory::copy(self, x)
    }
    fn cast(&self, x: &Storage, dtype: DType) -> Result<Storage> {
        memory::cast(self, x, dtype)
    }

    fn binary(&self, op: BinaryOp, a: &Storage, b: &Storage) -> Result<Storage> {
        elementwise::binary(self, op, a, b)
    }
    fn affine(&self, x: &Storage, mul: f32, add: f32) -> Result<Storage> {
        elementwise::affine(self, x, mul, add)
    }
    fn exp(&self, x: &Storage) -> Result<Storage> {
        elementwise::exp(self, x)
    }

    fn add_scaled(&self, a: &Storage, b: &Storage, alpha: f32) -> Result<Storage> {
        elementwise::add_scaled(self, a, b, alpha)
    }
    fn relu(&self, x: &Storage) -> Result<Storage> {
        elementwise::relu(self, x)
    }
    fn relu_backward(&self, dy: &Storage, y: &Storage) -> Result<Storage> {
        elementwise::relu_backward(self, dy, y)
    }
    fn add_bias(&self, x: &Storage, bias: &Storage, shape: Rows) -> Result<Storage> {
        elementwise::add_bias(self, x, bias, shape)
    }
    fn sum_rows(&self, x: &Storage, shape: Rows) -> Result<Storage> {
        elementwise::sum_rows(self, x, shape)
    }
    fn broadcast_rows(&self, x: &Storage, shape: Rows) -> Result<Storage> {
        elementwise::broadcast_rows(self, x, shape)
    }
    fn sum_squares(&self, x: &Storage) -> Result<f64> {
        elementwise::sum_squares(self, x)
    }

    fn sgd_momentum(&self, param: &mut Storage, velocity: &mut Storage, grad: &Storage, hyper: SgdStep) -> Result<()> {
        optim::sgd_momentum(self, param, velocity, grad, hyper)
    }
    fn rmsprop(
        &self,
        param: &mut Storage,
        ms: &mut Storage,
        mom: &mut Storage,
        grad: &Storage,
        hyper: RmsPropStep,
    ) -> Result<()> {
        optim::rmsprop(self, param, ms, mom, grad, hyper)
    }
    fn adam(
        &self,
        param: &mut Storage,
        m: &mut Storage,
        v: &mut Storage,
        grad: &Storage,
        hyper: AdamStep,
    ) -> Result<()> {
        optim::adam(self, param, m, v, grad, hyper)
    }

    fn matmul(&self, a: &Storage, b: &Storage, g: &MatmulGeometry) -> Result<Storage> {
        matmul::matmul(self, a, b, g)
    }

    fn conv2d(&self, x: &Storage, w: &Storage, g: &Conv2dGeometry) -> Result<Storage> {
        conv2d::forward(self, x, w, g)
    }
    fn conv2d_input_grad(&self, dy: &Storage, w: &Storage, g: &Conv2dGeometry) -> Result<Storage> {
        conv2d::input_grad(self, dy, w, g)
    }
    fn conv2d_weight_grad(&self, x: &Storage, dy: &Storage, g: &Conv2dGeometry) -> Result<Storage> {
        conv2d::weight_grad(self, x, dy, g)
    }

    fn batch_norm_stats(&self, x: &Storage, shape: Rows) -> Result<(Storage, Storage)> {
        batch_norm::stats(self, x, shape)
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
        batch_norm::forward(self, x, mean, var, beta, shape, eps, act)
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
        batch_norm::backward(self, dy, x, mean, var, beta, shape, eps, act)
    }

    fn max_pool2d(&self, x: &Storage, g: &Pool2dGeometry) -> Result<Storage> {
        pool::max_pool2d(self, x, g)
    }
    fn max_pool2d_backward(&self, dy: &Storage, x: &Storage, g: &Pool2dGeometry) -> Result<Storage> {
        pool::max_pool2d_backward(self, dy, x, g)
    }
    fn global_avg_pool(&self, x: &Storage, batch: usize, hw: usize, channels: usize) -> Result<Storage> {
        pool::global_avg_pool(self, x, batch, hw, channels)
    }
    fn global_avg_pool_backward(&self, dy: &Storage, batch: usize, hw: usize, channels: usize) -> Result<Storage> {
        pool::global_avg_pool_backward(self, dy, batch, hw, channels)
    }

    fn concat_cols(&self, parts: &[(&Storage, usize)], rows: usize) -> Result<Storage> {
        layout::concat_cols(self, parts, rows)
    }
    fn slice_cols(&self, x: &Storage, shape: Rows, start: usize, len: usize) -> Result<Storage> {
        layout::slice_cols(self, x, shape, start, len)
    }
    fn gather_rows(&self, x: &Storage, shape: Rows, index: &[usize]) -> Result<Storage> {
        layout::gather_rows(self, x, shape, index)
    }
    fn scatter_add_rows(&self, src: &Storage, shape: Rows, index: &[usize]) -> Result<Storage> {
        layout::scatter_add_rows(self, src, shape, index)
    }

    fn dropout_mask(&self, len: usize, keep: f32, seed: u64) -> Result<Storage> {
        dropout::mask(self, len, keep, seed)
    }

    fn l2_normalize(&self, x: &Storage, shape: Rows, eps: f32) -> Result<Storage> {
        normalize::l2_normalize(self, x, shape, eps)
    }
    fn l2_normalize_backward(&self, dy: &Storage, x: &Storage, shape: Rows, eps: f32) -> Result<Storage> {
        normalize::l2_normalize_backward(self, dy, x, shape, eps)
    }
    fn softmax(&self, x: &Storage, shape: Rows) -> Result<Storage> {
        normalize::softmax(self, x, shape)
    }
    fn softmax_backward(&self, dy: &Storage, y: &Storage, shape: Rows) -> Result<Storage> {
        normalize::softmax_backward(self, dy, y, shape)
    }
    fn softmax_cross_entropy(&self, logits: &Storage, labels: &[usize], shape: Rows) -> Result<(Storage, Storage)> {
        loss::softmax_cross_entropy(self, logits, labels, shape)
    }
    fn softmax_cross_entropy_backward(
        &self,
        dloss: &Storage,
        probs: &Storage,
        labels: &[usize],
        shape: Rows,
    ) -> Result<Storage> {
        loss::softmax_cross_entropy_backward(self, dloss, probs, labels, shape)
    }
    fn center_loss(&self, embeddings: &Storage, centers: &Storage, labels: &[usize], shape: Rows) -> Result<Storage> {
        loss::center_loss(self, embeddings, centers, labels, shape)
    }
    fn center_loss_backward(
        &self,
        dloss: &Storage,
        embeddings: &Storage,
        centers: &Storage,
        labels: &[usize],
        shape: Rows,
    ) -> Result<Storage> {
        loss::center_loss_backward(self, dloss, embeddings, centers, labels, shape)
    }
}
