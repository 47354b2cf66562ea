//! safetensors files (readable by Python's `safetensors` and PyTorch).
//!
//! Reading maps the file with memmap2 and views f32 tensors in place; a corrupt header,
//! a truncated file or a tensor whose bytes disagree with its shape is an error naming the
//! file and the tensor. Writing goes to a temporary file that is renamed over the target,
//! so an interrupted write never leaves a half-written file behind.

use crate::backend::Device;
use crate::error::{Error, Result};
use crate::tensor::{Shape, Tensor};
use ::safetensors::tensor::{Dtype, TensorInfo, View};
use ::safetensors::SafeTensors;
use half::{bf16, f16};
use memmap2::Mmap;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

pub struct WeightsFile {
    path: PathBuf,
    mmap: Mmap,
    data_start: usize,
    infos: HashMap<String, TensorInfo>,
    metadata: HashMap<String, String>,
}

impl WeightsFile {
    pub fn open(path: impl AsRef<Path>) -> Result<WeightsFile> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        // SAFETY: the map is read-only and lives as long as `WeightsFile`; like every
        // mmap reader we assume nobody truncates the file while it is open.
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
        let (header_len, meta) = SafeTensors::read_metadata(&mmap)
            .map_err(|e| Error::format(&path, format!("not a valid safetensors file: {e}")))?;
        let infos: HashMap<String, TensorInfo> =
            meta.tensors().into_iter().map(|(k, v)| (k, v.clone())).collect();
        let data_start = 8 + header_len;
        for (name, info) in &infos {
            let (begin, end) = info.data_offsets;
            let expected = info.shape.iter().product::<usize>() * info.dtype.bitsize() / 8;
            if end - begin != expected {
                return Err(Error::format(&path, format!("tensor `{name}`: {} bytes for shape {:?}", end - begin, info.shape)));
            }
            if data_start + end > mmap.len() {
                return Err(Error::format(&path, format!("tensor `{name}` runs past the end of the file (truncated?)")));
            }
        }
        let metadata = meta.metadata().clone().unwrap_or_default();
        Ok(WeightsFile { path, mmap, data_start, infos, metadata })
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
        self.infos
            .get(name)
            .ok_or_else(|| Error::format(&self.path, format!("no tensor named `{name}`")))
    }

    pub fn shape(&self, name: &str) -> Result<Shape> {
        Ok(Shape::new(self.info(name)?.shape.clone()))
    }

    fn bytes(&self, info: &TensorInfo) -> &[u8] {
        let (begin, end) = info.data_offsets;
        &self.mmap[self.data_start + begin..self.data_start + end]
    }

    /// The tensor's values as f32: borrowed from the map when stored as aligned f32,
    /// converted when stored as bf16/f16.
    pub fn f32_values(&self, name: &str) -> Result<Cow<'_, [f32]>> {
        let info = self.info(name)?;
        let bytes = self.bytes(info);
        let values = match info.dtype {
            Dtype::F32 => match bytemuck::try_cast_slice::<u8, f32>(bytes) {
                Ok(v) => Cow::Borrowed(v),
                Err(_) => Cow::Owned(bytemuck::pod_collect_to_vec::<u8, f32>(bytes)),
            },
            Dtype::BF16 => Cow::Owned(bytemuck::pod_collect_to_vec::<u8, bf16>(bytes).iter().map(|h| h.to_f32()).collect()),
            Dtype::F16 => Cow::Owned(bytemuck::pod_collect_to_vec::<u8, f16>(bytes).iter().map(|h| h.to_f32()).collect()),
            other => {
                return Err(Error::format(&self.path, format!("tensor `{name}` has unsupported dtype {other:?}")));
            }
        };
        Ok(values)
    }

    /// The tensor copied to `device` as f32.
    pub fn tensor(&self, name: &str, device: &Device) -> Result<Tensor> {
        let shape = self.shape(name)?;
        Tensor::from_vec(self.f32_values(name)?.into_owned(), shape, device)
    }
}

/// A tensor's bytes as safetensors serialises them.
struct F32View {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for F32View {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Writes `tensors` (as f32) and `metadata` to `path` atomically: a temporary file in
/// the same folder, flushed, then renamed over `path`.
pub fn save_safetensors(path: impl AsRef<Path>, tensors: &[(String, Tensor)], metadata: HashMap<String, String>) -> Result<()> {
    let path = path.as_ref();
    let mut views = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let values = t.to_vec()?;
        views.push((name.clone(), F32View { shape: t.dims().to_vec(), bytes: bytemuck::cast_slice(&values).to_vec() }));
    }
    let meta = if metadata.is_empty() { None } else { Some(metadata) };
    let bytes = ::safetensors::serialize(views, meta).map_err(|e| Error::format(path, e.to_string()))?;
    let tmp = path.with_extension("safetensors.tmp");
    {
        use std::io::Write;
        let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(&bytes).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
