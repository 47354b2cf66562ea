//! What the CUDA backend needs from a device: memory, copies and launches. Two
//! implementations: the real GPU through cudarc (`driver.rs`) and the CPU emulation of the
//! CUDA execution model (`emulator.rs`). Everything else, every kernel included, is shared:
//! the kernel table (`kernels.rs`), launch descriptions (`launch.rs`), NVRTC (`nvrtc.rs`),
//! the counters every op passes through (`counting.rs`) and the buffer pool above them
//! (`pool.rs`).

pub mod counting;
pub mod driver;
#[cfg(cari_emu)]
pub mod emulator;
pub mod kernels;
pub mod launch;
pub mod nvrtc;
pub mod pool;
mod staging;

use crate::error::{Error, Result};
use launch::Launch;
use std::sync::Arc;

pub trait Gpu: Send + Sync {
    /// As users write it: `cuda:0`, `cuda-emu`.
    fn name(&self) -> String;
    /// `bytes` of device memory (contents undefined); `op` names the op in errors.
    fn alloc(&self, op: &'static str, bytes: usize) -> Result<u64>;
    /// # Safety
    /// `ptr` came from this device's `alloc` and is no longer used.
    unsafe fn free(&self, ptr: u64);
    /// Queues a copy of `src` to `dst` in stream order; returns once `src` has been taken
    /// (the driver stages it in pinned memory), without waiting for the device.
    fn write(&self, op: &'static str, dst: u64, src: &[u8]) -> Result<()>;
    /// Copies `src` to `dst` once every launch before it has run: the host waits.
    fn read(&self, op: &'static str, src: u64, dst: &mut [u8]) -> Result<()>;
    /// Runs the launch (already validated) in stream order.
    fn launch(&self, op: &'static str, launch: &Launch) -> Result<()>;
    /// Waits for every launch so far.
    fn synchronize(&self) -> Result<()>;
    /// A point of the compute stream: the work queued so far (`None` where work runs as it
    /// is queued, as in the emulator).
    fn mark(&self, op: &'static str) -> Result<Option<QueueMark>>;
    /// Like `write`, on the copy stream, once the compute stream has passed `after`; the
    /// compute stream's later work waits for the copy. `dst` must not be touched by any work
    /// queued after `after` and before this call: the copy may run while that work does.
    fn write_ahead(&self, op: &'static str, dst: u64, src: &[u8], after: Option<&QueueMark>) -> Result<()>;
    /// From here on, records launches and writes instead of running them, until
    /// `end_capture`; a read or a wait in between is an error (nothing has run yet).
    fn begin_capture(&self, op: &'static str, capture: Capture) -> Result<()>;
    /// The work recorded since `begin_capture`, to replay.
    fn end_capture(&self, op: &'static str) -> Result<Box<dyn Graph>>;
}

pub use crate::backend::Capture;

/// A point of a device's compute stream (see `Gpu::mark`), kept by whoever waits for it.
pub type QueueMark = Arc<dyn std::any::Any + Send + Sync>;

/// Recorded device work, replayed whole (a CUDA graph): the same launches on the same
/// buffers, and the same writes of the bytes written while it was recorded. Whoever
/// captured it keeps the buffers it reads alive and writes new inputs into them before a
/// replay.
pub trait Graph: Send + Sync + std::any::Any {
    /// Queues the recorded work again, in stream order.
    fn replay(&self, op: &'static str) -> Result<()>;
    /// The kernel launches it holds.
    fn launches(&self) -> usize;
    /// Becomes `newer` (a graph of the same device, captured later): on the driver, this
    /// graph's executable is updated in place when the two have the same shape of work,
    /// which costs far less than making a new one.
    fn update(&mut self, newer: Box<dyn Graph>) -> Result<()>;
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any>;
}

/// `newer` as the graph type `G` of the device that made `this` one.
fn same_kind<G: 'static>(newer: Box<dyn Graph>) -> Result<Box<G>> {
    newer
        .into_any()
        .downcast::<G>()
        .map_err(|_| Error::invalid("graph update", "the graphs come from different devices"))
}

/// Device memory owned by one storage; freed on drop.
pub struct DeviceBuffer {
    gpu: Arc<dyn Gpu>,
    ptr: u64,
    bytes: usize,
}

impl DeviceBuffer {
    pub fn alloc(gpu: &Arc<dyn Gpu>, op: &'static str, bytes: usize) -> Result<DeviceBuffer> {
        let ptr = gpu.alloc(op, bytes)?;
        Ok(DeviceBuffer { gpu: gpu.clone(), ptr, bytes })
    }

    pub fn ptr(&self) -> u64 {
        self.ptr
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn gpu(&self) -> &Arc<dyn Gpu> {
        &self.gpu
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        // SAFETY: the pointer came from this device's `alloc` and this buffer owned it.
        unsafe { self.gpu.free(self.ptr) }
    }
}

impl std::fmt::Debug for DeviceBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceBuffer({} bytes on {})", self.bytes, self.gpu.name())
    }
}
