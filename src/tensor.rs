//! `Tensor`: a shape, a dtype and storage on a device. Cloning is cheap (the storage is
//! shared); tensors are immutable, every op returns a new one.

pub use crate::backend::{CpuStorage, CudaStorage, MappedF32, QueuePoint, Storage};
pub use crate::dtype::DType;
pub use crate::shape::Shape;

use crate::backend::Device;
use crate::error::{Error, Result};
use std::sync::Arc;

#[derive(Clone)]
pub struct Tensor {
    shape: Shape,
    storage: Arc<Storage>,
    device: Device,
}

impl Tensor {
    /// Wraps storage a backend produced. The caller guarantees `storage.len() == shape.len()`.
    pub fn from_storage(storage: Storage, shape: impl Into<Shape>, device: &Device) -> Tensor {
        let shape = shape.into();
        debug_assert_eq!(storage.len(), shape.len(), "storage does not match shape {shape}");
        Tensor { shape, storage: Arc::new(storage), device: device.clone() }
    }

    pub fn from_vec(data: Vec<f32>, shape: impl Into<Shape>, device: &Device) -> Result<Tensor> {
        let shape = shape.into();
        if data.len() != shape.len() {
            return Err(Error::InvalidShape { op: "tensor", shape, reason: format!("{} values given", data.len()) });
        }
        let storage = device.backend().upload(data)?;
        Ok(Tensor::from_storage(storage, shape, device))
    }

    pub fn from_slice(data: &[f32], shape: impl Into<Shape>, device: &Device) -> Result<Tensor> {
        Tensor::from_vec(data.to_vec(), shape, device)
    }

    pub fn zeros(shape: impl Into<Shape>, device: &Device) -> Result<Tensor> {
        let shape = shape.into();
        let storage = device.backend().zeros(shape.len())?;
        Ok(Tensor::from_storage(storage, shape, device))
    }

    pub fn full(value: f32, shape: impl Into<Shape>, device: &Device) -> Result<Tensor> {
        let shape = shape.into();
        Tensor::from_vec(vec![value; shape.len()], shape, device)
    }

    pub fn scalar(value: f32, device: &Device) -> Result<Tensor> {
        Tensor::from_vec(vec![value], Shape::scalar(), device)
    }

    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    pub fn len(&self) -> usize {
        self.shape.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shape.is_empty()
    }

    pub fn dtype(&self) -> DType {
        self.storage.dtype()
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Whether both are the same storage (one tensor and its clones), not merely equal values.
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// The storage, for an in-place update. Copies it first when another tensor shares
    /// it, so no other tensor ever sees the change, or when it is read in place from a
    /// file map, so the file never changes.
    pub fn storage_mut(&mut self) -> Result<&mut Storage> {
        if self.storage.is_mapped() || Arc::get_mut(&mut self.storage).is_none() {
            self.storage = Arc::new(self.device.backend().copy(&self.storage)?);
        }
        Ok(Arc::get_mut(&mut self.storage).expect("storage was just made unique"))
    }

    /// Writes `src`'s values over this tensor's, in place, in the very buffer (the input of a
    /// captured graph): refused when the storage is shared with another tensor or read from
    /// a file, or `src` has another shape.
    pub fn overwrite(&mut self, src: &Tensor) -> Result<()> {
        if src.shape != self.shape {
            return Err(Error::ShapeMismatch { op: "overwrite", lhs: self.shape.clone(), rhs: src.shape.clone() });
        }
        let device = self.device.clone();
        device.backend().copy_into(self.own_storage("overwrite")?, &src.storage)
    }

    /// Writes `data` (this tensor's length) over its values in place once the device has
    /// passed `after`, beside the work queued since (`MemoryOps::upload_ahead`): refused
    /// when the storage is shared or read from a file.
    pub fn upload_ahead(&mut self, data: &[f32], after: &QueuePoint) -> Result<()> {
        if data.len() != self.len() {
            return Err(Error::InvalidShape {
                op: "upload_ahead",
                shape: self.shape.clone(),
                reason: format!("{} values given", data.len()),
            });
        }
        let device = self.device.clone();
        device.backend().upload_ahead(self.own_storage("upload_ahead")?, data, after)
    }

    /// Whether no other tensor shares this one's storage (an in-place write would show only here).
    pub fn owns_storage(&self) -> bool {
        Arc::strong_count(&self.storage) == 1
    }

    /// The storage to write in place: this tensor's alone, and not a file's.
    fn own_storage(&mut self, op: &'static str) -> Result<&mut Storage> {
        match Arc::get_mut(&mut self.storage) {
            Some(dst) if !dst.is_mapped() => Ok(dst),
            _ => Err(Error::invalid(op, "the tensor shares its storage, which would change under the others")),
        }
    }

    /// The same data under another shape with as many elements.
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        if shape.len() != self.shape.len() {
            return Err(Error::ShapeMismatch { op: "reshape", lhs: self.shape.clone(), rhs: shape });
        }
        Ok(Tensor { shape, storage: self.storage.clone(), device: self.device.clone() })
    }

    /// Copies the values to the host as f32 (converting from bf16/f16).
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        self.device.backend().download(&self.storage)
    }

    /// The values of each of `tensors` (all on one device), read back together: on a GPU
    /// the host waits once, not once per tensor.
    pub fn read_together(tensors: &[&Tensor]) -> Result<Vec<Vec<f32>>> {
        let Some(first) = tensors.first() else { return Ok(Vec::new()) };
        let storages: Vec<&Storage> = tensors.iter().map(|t| t.storage()).collect();
        first.device.backend().download_all(&storages)
    }

    /// The same f32 values on another device (bf16/f16 tensors arrive as f32).
    pub fn to_device(&self, device: &Device) -> Result<Tensor> {
        if device.same_as(&self.device) {
            return Ok(self.clone());
        }
        Tensor::from_vec(self.to_vec()?, self.shape.clone(), device)
    }

    /// The single value of a one-element tensor.
    pub fn to_scalar(&self) -> Result<f32> {
        if self.len() != 1 {
            return Err(Error::InvalidShape {
                op: "to_scalar",
                shape: self.shape.clone(),
                reason: "expected exactly one element".into(),
            });
        }
        Ok(self.to_vec()?[0])
    }

    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        let storage = self.device.backend().cast(&self.storage, dtype)?;
        Ok(Tensor::from_storage(storage, self.shape.clone(), &self.device))
    }

    /// Fails with a typed error unless the tensor holds f32, the dtype every op computes in.
    pub fn expect_f32(&self, op: &'static str) -> Result<()> {
        if self.dtype() != DType::F32 {
            return Err(Error::DTypeMismatch { op, expected: DType::F32, got: self.dtype() });
        }
        Ok(())
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({}, {}, {})", self.shape, self.dtype(), self.device)
    }
}
