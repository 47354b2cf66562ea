//! Inverted-dropout masks (`kernels/dropout.cu`), bit-identical to the CPU's draw.

use super::shapes::grid_stride;
use super::runtime::kernels as k;
use super::CudaBackend;
use crate::error::Result;
use crate::tensor::Storage;

pub fn mask(b: &CudaBackend, len: usize, keep: f32, seed: u64) -> Result<Storage> {
    let op = "dropout_mask";
    let out = b.alloc_f32(op, len)?;
    // The kept value rounded here, as the CPU rounds it.
    let scale = 1.0 / keep;
    let launch = grid_stride(k::DROPOUT_MASK, len).ptr(out.buffer.ptr()).f32(keep).f32(scale).u64(seed);
    b.launch(op, launch.size(len))?;
    Ok(Storage::Cuda(out))
}
