//! safetensors files (readable by Python's `safetensors` and PyTorch).
//!
//! Reading maps the file with memmap2; on the CPU an f32 tensor is a view of the map,
//! nothing is copied. A corrupt header, a truncated file or a tensor whose bytes disagree
//! with its shape is an error naming the file and the tensor. Writing streams the tensors
//! into a temporary file that is renamed over the target (`atomic`), so an interrupted
//! write never leaves a half-written file behind. The header is padded with spaces (as
//! the format allows) so the data starts 8-byte aligned: every f32 tensor of a file we
//! write can be viewed in place.

use super::atomic::write_atomically;
use crate::backend::Device;
use crate::error::{Error, Result};
use crate::tensor::{CpuStorage, DType, MappedF32, Shape, Storage, Tensor};
use ::safetensors::tensor::{Dtype, TensorInfo};
use ::safetensors::{SafeTensorError, SafeTensors};
use half::{bf16, f16};
use memmap2::Mmap;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct WeightsFile {
    path: PathBuf,
    mmap: Arc<Mmap>,
    data_start: usize,
    infos: HashMap<String, TensorInfo>,
    metadata: HashMap<String, String>,
}

impl WeightsFile {
    pub fn open(path: impl AsRef<Path>) -> Result<WeightsFile> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        // SAFETY: the map is read-only and lives as long as `WeightsFile` or a tensor
        // viewing it; like every mmap reader we assume nobody truncates or rewrites the
        // file in place while it is open (our writers replace files by rename instead).
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
        let (header_len, meta) = SafeTensors::read_metadata(&mmap).map_err(|e| header_error(&path, &mmap, e))?;
        let infos: HashMap<String, TensorInfo> = meta.tensors().into_iter().map(|(k, v)| (k, v.clone())).collect();
        let metadata = meta.metadata().clone().unwrap_or_default();
        Ok(WeightsFile { path, mmap: Arc::new(mmap), data_start: 8 + header_len, infos, metadata })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.infos.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    pub fn contains(&self, name: &str) -> bool {
        self.infos.contains_key(name)
    }

    fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.infos.get(name).ok_or_else(|| Error::format(&self.path, format!("no tensor named `{name}`")))
    }

    pub fn shape(&self, name: &str) -> Result<Shape> {
        Ok(Shape::new(self.info(name)?.shape.clone()))
    }

    /// The tensor's stored dtype; a dtype the engine does not compute in is an error.
    pub fn dtype(&self, name: &str) -> Result<DType> {
        match self.info(name)?.dtype {
            Dtype::F32 => Ok(DType::F32),
            Dtype::BF16 => Ok(DType::BF16),
            Dtype::F16 => Ok(DType::F16),
            other => Err(Error::format(&self.path, format!("tensor `{name}` has unsupported dtype {other:?}"))),
        }
    }

    /// The tensor's bytes as stored, in the map.
    pub fn data(&self, name: &str) -> Result<&[u8]> {
        let (begin, end) = self.info(name)?.data_offsets;
        Ok(&self.mmap[self.data_start + begin..self.data_start + end])
    }

    /// The tensor's values as f32: borrowed from the map when stored as aligned f32,
    /// converted when stored as bf16/f16.
    pub fn f32_values(&self, name: &str) -> Result<Cow<'_, [f32]>> {
        let bytes = self.data(name)?;
        Ok(match self.dtype(name)? {
            DType::F32 => match bytemuck::try_cast_slice::<u8, f32>(bytes) {
                Ok(v) => Cow::Borrowed(v),
                Err(_) => Cow::Owned(bytemuck::pod_collect_to_vec::<u8, f32>(bytes)),
            },
            DType::BF16 => {
                Cow::Owned(bytemuck::pod_collect_to_vec::<u8, bf16>(bytes).iter().map(|h| h.to_f32()).collect())
            }
            DType::F16 => {
                Cow::Owned(bytemuck::pod_collect_to_vec::<u8, f16>(bytes).iter().map(|h| h.to_f32()).collect())
            }
        })
    }

    /// The tensor as f32 on `device`. On the CPU an aligned f32 tensor is a view of the
    /// file map (no copy; copied on its first write); otherwise the values are copied
    /// (converted from bf16/f16, uploaded to a GPU).
    pub fn tensor(&self, name: &str, device: &Device) -> Result<Tensor> {
        let shape = self.shape(name)?;
        if self.dtype(name)? == DType::F32 && device.same_as(&Device::cpu()) {
            let offset = self.data_start + self.info(name)?.data_offsets.0;
            if let Some(view) = MappedF32::new(self.mmap.clone(), offset, shape.len()) {
                return Ok(Tensor::from_storage(Storage::Cpu(CpuStorage::Mapped(view)), shape, device));
            }
        }
        Tensor::from_vec(self.f32_values(name)?.into_owned(), shape, device)
    }
}

/// The error for a file whose header the safetensors reader refused.
fn header_error(path: &Path, bytes: &[u8], e: SafeTensorError) -> Error {
    match e {
        SafeTensorError::MetadataIncompleteBuffer => Error::format(
            path,
            format!("the file's {} bytes do not match the size its header describes (truncated?)", bytes.len()),
        ),
        SafeTensorError::InvalidOffset(name) => {
            Error::format(path, format!("tensor `{name}`: data offsets overlap or leave gaps"))
        }
        other => Error::format(path, format!("not a valid safetensors file: {other}")),
    }
}

/// One tensor to write: its values on the host.
pub(super) struct HostTensor<'a> {
    pub name: &'a str,
    pub shape: &'a [usize],
    pub values: Cow<'a, [f32]>,
}

impl<'a> HostTensor<'a> {
    /// Borrows the values of a CPU f32 tensor (mapped ones included); copies the others
    /// to the host as f32.
    pub fn of(name: &'a str, t: &'a Tensor) -> Result<HostTensor<'a>> {
        let values = match t.storage().host_f32() {
            Some(v) => Cow::Borrowed(v),
            None => Cow::Owned(t.to_vec()?),
        };
        Ok(HostTensor { name, shape: t.dims(), values })
    }

    pub fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.values)
    }
}

/// The safetensors header of `tensors` (sorted by name, laid out in that order) and
/// `metadata`, padded with spaces to a multiple of 8 bytes.
fn header(path: &Path, tensors: &[HostTensor<'_>], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut root = serde_json::Map::new();
    if !metadata.is_empty() {
        root.insert("__metadata__".into(), serde_json::to_value(metadata).expect("a string map is JSON"));
    }
    let mut offset = 0usize;
    for t in tensors {
        if t.name == "__metadata__" {
            return Err(Error::format(path, "`__metadata__` is reserved by the format, not a tensor name"));
        }
        let end = offset + t.bytes().len();
        let info = serde_json::json!({ "dtype": "F32", "shape": t.shape, "data_offsets": [offset, end] });
        if root.insert(t.name.to_string(), info).is_some() {
            return Err(Error::format(path, format!("tensor `{}` given twice", t.name)));
        }
        offset = end;
    }
    let mut bytes = serde_json::to_vec(&root).expect("a JSON map serialises");
    bytes.resize(bytes.len().next_multiple_of(8), b' ');
    Ok(bytes)
}

/// Writes `tensors` (sorted by name) and `metadata` as an f32 safetensors file, atomically.
pub(super) fn write_host_tensors(
    path: &Path,
    mut tensors: Vec<HostTensor<'_>>,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    tensors.sort_by(|a, b| a.name.cmp(b.name));
    let header = header(path, &tensors, metadata)?;
    write_atomically(path, |w| {
        let mut put = |bytes: &[u8]| w.write_all(bytes).map_err(|e| Error::io(path, e));
        put(&(header.len() as u64).to_le_bytes())?;
        put(&header)?;
        tensors.iter().try_for_each(|t| put(t.bytes()))
    })
}

/// Writes `tensors` (as f32) and `metadata` to `path` atomically: a temporary file in
/// the same folder, flushed to disk, then renamed over `path`.
pub fn save_safetensors(
    path: impl AsRef<Path>,
    tensors: &[(String, Tensor)],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let host = tensors.iter().map(|(name, t)| HostTensor::of(name, t)).collect::<Result<Vec<_>>>()?;
    write_host_tensors(path.as_ref(), host, &metadata.into_iter().collect())
}
