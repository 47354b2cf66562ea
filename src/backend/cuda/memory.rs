//! Uploads, downloads, fills, copies and dtype conversions (`kernels/memory.cu`).

use super::runtime::kernels as k;
use super::runtime::launch::Launch;
use super::{CudaBackend, THREADS};
use crate::error::Result;
use crate::tensor::{DType, Storage};

pub fn upload(b: &CudaBackend, data: &[f32]) -> Result<Storage> {
    let out = b.alloc_f32("upload", data.len())?;
    b.gpu.write("upload", out.buffer.ptr(), bytemuck::cast_slice(data))?;
    Ok(Storage::Cuda(out))
}

pub fn download(b: &CudaBackend, x: &Storage) -> Result<Vec<f32>> {
    let s = b.ours("download", x)?;
    if s.dtype != DType::F32 {
        return download(b, &cast(b, x, DType::F32)?);
    }
    let mut out = vec![0f32; s.len];
    b.gpu.read("download", s.buffer.ptr(), bytemuck::cast_slice_mut(&mut out))?;
    Ok(out)
}

pub fn zeros(b: &CudaBackend, len: usize) -> Result<Storage> {
    let out = b.alloc_f32("zeros", len)?;
    b.launch("zeros", Launch::linear(k::FILL_F32, len, THREADS).ptr(out.buffer.ptr()).f32(0.0).size(len))?;
    Ok(Storage::Cuda(out))
}

pub fn copy(b: &CudaBackend, x: &Storage) -> Result<Storage> {
    let s = b.ours("copy", x)?;
    let out = b.alloc("copy", s.len, s.dtype)?;
    let words = s.len * s.dtype.size_in_bytes() / 2;
    b.launch("copy", Launch::linear(k::COPY_U16, words, THREADS).ptr(out.buffer.ptr()).ptr(s.buffer.ptr()).size(words))?;
    Ok(Storage::Cuda(out))
}

pub fn cast(b: &CudaBackend, x: &Storage, dtype: DType) -> Result<Storage> {
    let s = b.ours("cast", x)?;
    let kernel = match (s.dtype, dtype) {
        (from, to) if from == to => return copy(b, x),
        (DType::F32, DType::BF16) => k::F32_TO_BF16,
        (DType::F32, DType::F16) => k::F32_TO_F16,
        (DType::BF16, DType::F32) => k::BF16_TO_F32,
        (DType::F16, DType::F32) => k::F16_TO_F32,
        // Between the half types, through f32 (exact: both widen exactly).
        (_, _) => return cast(b, &cast(b, x, DType::F32)?, dtype),
    };
    let out = b.alloc("cast", s.len, dtype)?;
    b.launch("cast", Launch::linear(kernel, s.len, THREADS).ptr(out.buffer.ptr()).ptr(s.buffer.ptr()).size(s.len))?;
    Ok(Storage::Cuda(out))
}
