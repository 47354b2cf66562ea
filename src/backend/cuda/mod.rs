//! The CUDA backend: every op of [`Backend`](super::Backend) as our own kernels
//! (`kernels/*.cu`), launched on a [`Gpu`], either a real device through cudarc or the CPU
//! emulation of the CUDA execution model. One file per op family, named as in `cpu/` and
//! `kernels/`, each implementing that family's trait for [`CudaBackend`].

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
mod tensor_list;

pub use runtime::DeviceBuffer;

use super::{CudaStorage, DeviceOps, Profile, Storage};
use crate::dtype::DType;
use crate::error::{Error, Result};
use runtime::counting::Counting;
use runtime::launch::Launch;
use runtime::pool::BufferPool;
use runtime::Gpu;
use std::sync::{Arc, Mutex};

/// Threads per block of the element-wise kernels.
const THREADS: u32 = 256;

pub struct CudaBackend {
    /// The device every op runs on: the buffer pool over `counting` (which so counts the
    /// allocations that reach the device).
    gpu: Arc<dyn Gpu>,
    counting: Arc<Counting>,
    /// The counters last-arrival reductions count their finished blocks on
    /// (`cari_last_arrival` in common.cuh): zeros between launches (each launch leaves the
    /// ones it used so), grown on demand. One set serves every launch, since the launches
    /// of our one stream run one after another.
    counters: Mutex<Option<CudaStorage>>,
}

impl CudaBackend {
    fn on(counting: Counting) -> CudaBackend {
        let counting = Arc::new(counting);
        CudaBackend { gpu: Arc::new(BufferPool::new(counting.clone())), counting, counters: Mutex::new(None) }
    }

    /// The address of at least `count` zeroed completion counters (`counters`).
    fn completion_counters(&self, op: &'static str, count: usize) -> Result<u64> {
        let mut counters = self.counters.lock().expect("completion counters poisoned");
        if !counters.as_ref().is_some_and(|c| c.len >= count) {
            let zeros = self.alloc(op, count.next_power_of_two().max(256), DType::F32)?;
            self.gpu.write(op, zeros.buffer.ptr(), &vec![0; zeros.len * 4])?;
            *counters = Some(zeros);
        }
        Ok(counters.as_ref().map_or(0, |c| c.buffer.ptr()))
    }

    /// The real GPU `cuda:N`; a clear error where there is no driver, device or NVRTC.
    pub fn open(ordinal: usize) -> Result<CudaBackend> {
        Ok(CudaBackend::on(Counting::new(Arc::new(runtime::driver::CudaDriver::open(ordinal)?))))
    }

    /// The same backend on the CPU emulation of the CUDA execution model.
    #[cfg(cari_emu)]
    pub fn emulated(order: runtime::emulator::ThreadOrder) -> CudaBackend {
        CudaBackend::on(Counting::new(Arc::new(runtime::emulator::Emulator::new(order))))
    }

    /// The emulation as a dry run (`cuda-emu:count`): every launch validated and counted,
    /// none run (see [`Counting::dry`]).
    #[cfg(cari_emu)]
    pub fn emulated_dry() -> CudaBackend {
        let emulator = runtime::emulator::Emulator::new(runtime::emulator::ThreadOrder::Forward);
        CudaBackend::on(Counting::dry(Arc::new(emulator)))
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

    /// The `Σ lengths` values of `T` at `ptr`, read in one copy (one wait) and cut into runs
    /// of `lengths`: how a group of results packed side by side comes back.
    fn read_runs<T: bytemuck::Pod>(&self, op: &'static str, ptr: u64, lengths: &[usize]) -> Result<Vec<Vec<T>>> {
        let mut values = vec![T::zeroed(); lengths.iter().sum()];
        if !values.is_empty() {
            self.gpu.read(op, ptr, bytemuck::cast_slice_mut(&mut values))?;
        }
        let mut rest = values.as_slice();
        Ok(lengths
            .iter()
            .map(|&n| {
                let (run, others) = rest.split_at(n);
                rest = others;
                run.to_vec()
            })
            .collect())
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

impl DeviceOps for CudaBackend {
    fn name(&self) -> String {
        self.gpu.name()
    }

    fn synchronize(&self) -> Result<()> {
        self.gpu.synchronize()
    }

    fn profile(&self) -> Option<Profile> {
        Some(self.counting.profile())
    }

    fn queue_point(&self) -> Result<super::QueuePoint> {
        Ok(super::QueuePoint(self.gpu.mark("queue point")?))
    }

    fn records_graphs(&self) -> bool {
        true
    }

    fn begin_capture(&self, capture: super::Capture) -> Result<()> {
        self.gpu.begin_capture("graph capture", capture)
    }

    fn end_capture(&self) -> Result<super::DeviceGraph> {
        Ok(super::DeviceGraph(self.gpu.end_capture("graph capture")?))
    }
}
