//! Uploads, downloads, fills, copies and dtype conversions (`kernels/memory.cu`).

use super::layout::{copy_blocks, Block};
use super::runtime::kernels as k;
use super::runtime::launch::Launch;
use super::{CudaBackend, THREADS};
use crate::backend::{MemoryOps, QueuePoint, Storage};
use crate::dtype::DType;
use crate::error::Result;

impl MemoryOps for CudaBackend {
    fn upload(&self, data: Vec<f32>) -> Result<Storage> {
        let out = self.alloc_f32("upload", data.len())?;
        self.gpu.write("upload", out.buffer.ptr(), bytemuck::cast_slice(&data))?;
        Ok(Storage::Cuda(out))
    }

    fn download(&self, x: &Storage) -> Result<Vec<f32>> {
        let s = self.ours("download", x)?;
        if s.dtype != DType::F32 {
            return self.download(&self.cast(x, DType::F32)?);
        }
        let mut out = vec![0f32; s.len];
        self.gpu.read("download", s.buffer.ptr(), bytemuck::cast_slice_mut(&mut out))?;
        Ok(out)
    }

    fn download_all(&self, xs: &[&Storage]) -> Result<Vec<Vec<f32>>> {
        let op = "download";
        // Half-precision storage is widened first, as `download` does.
        let widened: Vec<Option<Storage>> = xs
            .iter()
            .map(|x| (x.dtype() != DType::F32).then(|| self.cast(x, DType::F32)).transpose())
            .collect::<Result<_>>()?;
        let inputs = xs
            .iter()
            .zip(&widened)
            .map(|(x, w)| self.f32_storage(op, w.as_ref().unwrap_or(x)))
            .collect::<Result<Vec<_>>>()?;
        let total: usize = inputs.iter().map(|&(_, n)| n).sum();
        let packed = self.alloc_f32(op, total)?;
        // Every tensor copied side by side in one launch, then read in one copy.
        let (mut blocks, mut offset) = (Vec::with_capacity(inputs.len()), 0);
        for &(ptr, n) in &inputs {
            let dst = packed.buffer.ptr() + 4 * offset as u64;
            blocks.push(Block { dst: (dst, n), src: (ptr, n), rows: 1, cols: n, bn: None });
            offset += n;
        }
        copy_blocks(self, op, &blocks)?;
        let lengths: Vec<usize> = inputs.iter().map(|&(_, n)| n).collect();
        self.read_runs(op, packed.buffer.ptr(), &lengths)
    }

    fn zeros(&self, len: usize) -> Result<Storage> {
        let out = self.alloc_f32("zeros", len)?;
        self.launch("zeros", Launch::linear(k::FILL_F32, len, THREADS).ptr(out.buffer.ptr()).f32(0.0).size(len))?;
        Ok(Storage::Cuda(out))
    }

    fn copy(&self, x: &Storage) -> Result<Storage> {
        let s = self.ours("copy", x)?;
        let out = self.alloc("copy", s.len, s.dtype)?;
        let words = s.len * s.dtype.size_in_bytes() / 2;
        self.launch(
            "copy",
            Launch::linear(k::COPY_U16, words, THREADS).ptr(out.buffer.ptr()).ptr(s.buffer.ptr()).size(words),
        )?;
        Ok(Storage::Cuda(out))
    }

    fn copy_into(&self, dst: &mut Storage, src: &Storage) -> Result<()> {
        let op = "copy_into";
        let (s, d) = (self.ours(op, src)?, self.ours(op, dst)?);
        if (s.len, s.dtype) != (d.len, d.dtype) {
            return Err(self.fail(op, format!("{} {:?} values over {} {:?}", s.len, s.dtype, d.len, d.dtype)));
        }
        let words = s.len * s.dtype.size_in_bytes() / 2;
        if words > 0 {
            let launch = Launch::linear(k::COPY_U16, words, THREADS).ptr(d.buffer.ptr()).ptr(s.buffer.ptr());
            self.launch(op, launch.size(words))?;
        }
        Ok(())
    }

    fn upload_ahead(&self, dst: &mut Storage, data: &[f32], after: &QueuePoint) -> Result<()> {
        let op = "upload_ahead";
        let d = self.ours(op, dst)?;
        if (d.len, d.dtype) != (data.len(), DType::F32) {
            return Err(self.fail(op, format!("{} f32 values over {} {:?}", data.len(), d.len, d.dtype)));
        }
        self.gpu.write_ahead(op, d.buffer.ptr(), bytemuck::cast_slice(data), after.0.as_ref())
    }

    fn cast(&self, x: &Storage, dtype: DType) -> Result<Storage> {
        let s = self.ours("cast", x)?;
        let kernel = match (s.dtype, dtype) {
            (from, to) if from == to => return self.copy(x),
            (DType::F32, DType::BF16) => k::F32_TO_BF16,
            (DType::F32, DType::F16) => k::F32_TO_F16,
            (DType::BF16, DType::F32) => k::BF16_TO_F32,
            (DType::F16, DType::F32) => k::F16_TO_F32,
            // Between the half types, through f32 (exact: both widen exactly).
            (_, _) => return self.cast(&self.cast(x, DType::F32)?, dtype),
        };
        let out = self.alloc("cast", s.len, dtype)?;
        self.launch(
            "cast",
            Launch::linear(kernel, s.len, THREADS).ptr(out.buffer.ptr()).ptr(s.buffer.ptr()).size(s.len),
        )?;
        Ok(Storage::Cuda(out))
    }
}
