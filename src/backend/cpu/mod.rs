//! The CPU backend: pure Rust, multi-threaded with rayon, GEMM from the `gemm` crate.
//!
//! One module per op family, each implementing that family's trait for [`CpuBackend`] over
//! slice kernels. Each keeps a naive, obviously-correct `reference` beside any fast path,
//! and its tests check the fast path against the reference.

pub mod batch_norm;
pub mod buffer;
pub mod conv2d;
pub mod dropout;
pub mod elementwise;
pub mod layout;
pub mod loss;
pub mod matmul;
mod memory;
pub mod normalize;
pub mod optim;
pub mod pool;

use super::{CpuStorage, DeviceOps, Storage, Values};
use crate::dtype::DType;
use crate::error::{Error, Result};
use std::borrow::Cow;

#[derive(Debug, Default, Clone, Copy)]
pub struct CpuBackend;

fn f32s<'a>(x: &'a Storage, op: &'static str) -> Result<&'a [f32]> {
    x.host_f32().ok_or_else(|| not_cpu_f32(x, op))
}

/// The f32 values of an operand: borrowed when stored; a batch norm's output is written
/// first (the CPU has no loaders to fold it into).
fn operand<'a>(x: Values<'a>, op: &'static str) -> Result<Cow<'a, [f32]>> {
    Ok(match x {
        Values::Stored(s) => Cow::Borrowed(f32s(s, op)?),
        Values::Normalized(bn) => Cow::Owned(batch_norm::forward(batch_norm::values(bn, op)?)),
    })
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

impl DeviceOps for CpuBackend {
    fn name(&self) -> String {
        "cpu".into()
    }
}
