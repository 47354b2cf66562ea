//! Uploads, downloads, fills, copies and dtype conversions of host memory.

use super::{buffer, f32s, f32s_mut, not_cpu, wrap, CpuBackend};
use crate::backend::{CpuStorage, MemoryOps, QueuePoint, Storage};
use crate::dtype::DType;
use crate::error::Result;
use half::{bf16, f16};

impl MemoryOps for CpuBackend {
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

    fn copy_into(&self, dst: &mut Storage, src: &Storage) -> Result<()> {
        let op = "copy_into";
        let src = f32s(src, op)?;
        let dst = f32s_mut(dst, op)?;
        if dst.len() != src.len() {
            let msg = format!("{} values over {}", src.len(), dst.len());
            return Err(crate::error::Error::Backend { op, device: "cpu".into(), msg });
        }
        dst.copy_from_slice(src);
        Ok(())
    }

    fn upload_ahead(&self, dst: &mut Storage, data: &[f32], _after: &QueuePoint) -> Result<()> {
        let dst = f32s_mut(dst, "upload_ahead")?;
        if dst.len() != data.len() {
            let msg = format!("{} values over {}", data.len(), dst.len());
            return Err(crate::error::Error::Backend { op: "upload_ahead", device: "cpu".into(), msg });
        }
        dst.copy_from_slice(data);
        Ok(())
    }

    fn cast(&self, x: &Storage, dtype: DType) -> Result<Storage> {
        let v = self.download(x)?;
        Ok(Storage::Cpu(match dtype {
            DType::F32 => CpuStorage::F32(v),
            DType::BF16 => CpuStorage::BF16(v.iter().map(|&f| bf16::from_f32(f)).collect()),
            DType::F16 => CpuStorage::F16(v.iter().map(|&f| f16::from_f32(f)).collect()),
        }))
    }
}
