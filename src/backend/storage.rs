//! Device storage, what backends compute on. One variant per device kind; a backend
//! accepts only its own.

use super::cpu::buffer;
use super::cuda::DeviceBuffer;
use crate::dtype::DType;
use half::{bf16, f16};
use memmap2::Mmap;
use std::fmt;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub enum CpuStorage {
    F32(Vec<f32>),
    BF16(Vec<bf16>),
    F16(Vec<f16>),
    /// f32 values read in place from a file map (a tensor loaded from safetensors).
    Mapped(MappedF32),
}

/// Large f32 buffers go back to the CPU backend's cache for the next op of that size.
impl Drop for CpuStorage {
    fn drop(&mut self) {
        if let CpuStorage::F32(v) = self {
            buffer::recycle(std::mem::take(v));
        }
    }
}

impl CpuStorage {
    pub fn dtype(&self) -> DType {
        match self {
            CpuStorage::F32(_) | CpuStorage::Mapped(_) => DType::F32,
            CpuStorage::BF16(_) => DType::BF16,
            CpuStorage::F16(_) => DType::F16,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            CpuStorage::F32(v) => v.len(),
            CpuStorage::BF16(v) => v.len(),
            CpuStorage::F16(v) => v.len(),
            CpuStorage::Mapped(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values when they are f32, owned or mapped.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            CpuStorage::F32(v) => Some(v),
            CpuStorage::Mapped(m) => Some(m.as_slice()),
            CpuStorage::BF16(_) | CpuStorage::F16(_) => None,
        }
    }
}

/// `len` f32 values at a byte offset of a read-only file map shared by every tensor of
/// the file. Loading a tensor this way copies nothing; the map stays alive as long as one
/// such view does. Views are read-only: `Tensor::storage_mut` replaces one by an owned
/// copy before anything writes.
#[derive(Clone)]
pub struct MappedF32 {
    map: Arc<Mmap>,
    offset: usize,
    len: usize,
}

impl MappedF32 {
    /// The view of `len` f32 values at byte `offset` of `map`; `None` when the range lies
    /// outside the map or is not 4-byte aligned (the values must then be copied).
    pub fn new(map: Arc<Mmap>, offset: usize, len: usize) -> Option<MappedF32> {
        let end = len.checked_mul(4)?.checked_add(offset)?;
        bytemuck::try_cast_slice::<u8, f32>(map.get(offset..end)?).ok()?;
        Some(MappedF32 { map, offset, len })
    }

    pub fn as_slice(&self) -> &[f32] {
        bytemuck::cast_slice(&self.map[self.offset..self.offset + self.len * 4])
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for MappedF32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MappedF32 {{ offset: {}, len: {} }}", self.offset, self.len)
    }
}

/// Memory on a CUDA device (real or emulated): `len` elements of `dtype`.
#[derive(Debug)]
pub struct CudaStorage {
    pub buffer: DeviceBuffer,
    pub len: usize,
    pub dtype: DType,
}

/// Not `Clone`: copying device memory can fail, so it goes through `MemoryOps::copy`.
#[derive(Debug)]
pub enum Storage {
    Cpu(CpuStorage),
    Cuda(CudaStorage),
}

impl Storage {
    pub fn dtype(&self) -> DType {
        match self {
            Storage::Cpu(s) => s.dtype(),
            Storage::Cuda(s) => s.dtype,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Storage::Cpu(s) => s.len(),
            Storage::Cuda(s) => s.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the values are read in place from a file (and so cannot be written).
    pub fn is_mapped(&self) -> bool {
        matches!(self, Storage::Cpu(CpuStorage::Mapped(_)))
    }

    /// The values when they are f32 in host memory (borrowed, no copy).
    pub fn host_f32(&self) -> Option<&[f32]> {
        match self {
            Storage::Cpu(s) => s.as_f32(),
            Storage::Cuda(_) => None,
        }
    }
}
