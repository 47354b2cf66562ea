//! Inverted-dropout masks (`kernels/dropout.cu`), bit-identical to the CPU's draw.

use super::runtime::kernels as k;
use super::shapes::grid_stride;
use super::CudaBackend;
use crate::backend::{DropoutOps, Storage};
use crate::error::Result;

impl DropoutOps for CudaBackend {
    fn dropout_mask(&self, len: usize, keep: f32, seed: u64) -> Result<Storage> {
        let op = "dropout_mask";
        let out = self.alloc_f32(op, len)?;
        // The kept value rounded here, as the CPU rounds it.
        let scale = 1.0 / keep;
        let launch = grid_stride(k::DROPOUT_MASK, len).ptr(out.buffer.ptr()).f32(keep).f32(scale).u64(seed);
        self.launch(op, launch.size(len))?;
        Ok(Storage::Cuda(out))
    }
}
