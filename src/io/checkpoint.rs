//! Checkpoints: named f32 tensors and a string map of metadata in one safetensors file,
//! with integrity checks.
//!
//! The caller decides the contents (parameters, optimizer state under names such as
//! `optimizer/<group>/<slot>/<param>`, scalars as JSON in metadata values). The file adds
//! two metadata entries of its own: [`FORMAT_KEY`] = [`FORMAT`], and [`CHECKSUMS_KEY`], a
//! JSON object giving each tensor's [`checksum`](crate::io::checksum). Opening verifies
//! both, so a corrupt, truncated or foreign file is refused with the file and the tensor
//! named. Files are written atomically, so a crash never leaves a half-written checkpoint
//! behind. `tools/check_checkpoint.py` reads and verifies one from Python.

use super::checksum::checksum_hex;
use super::safetensors::{write_host_tensors, HostTensor};
use super::WeightsFile;
use crate::autograd::ParamStore;
use crate::backend::Device;
use crate::error::{Error, Result};
use crate::tensor::{DType, Shape, Tensor};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Metadata key of the format tag.
pub const FORMAT_KEY: &str = "cari.format";
/// The format this module writes and reads.
pub const FORMAT: &str = "checkpoint/1";
/// Metadata key of the per-tensor checksums (a JSON object: name → 16 hex digits).
pub const CHECKSUMS_KEY: &str = "cari.checksums";
/// Metadata keys starting with this belong to the file format, not to the caller.
const RESERVED_PREFIX: &str = "cari.";

/// Writes a checkpoint of `tensors` and `metadata` to `path` atomically. Metadata keys
/// starting with `cari.` are reserved for the format.
pub fn save_checkpoint(
    path: impl AsRef<Path>,
    tensors: &[(String, Tensor)],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let path = path.as_ref();
    if let Some(key) = metadata.keys().find(|k| k.starts_with(RESERVED_PREFIX)) {
        return Err(Error::invalid(
            format!("checkpoint metadata key `{key}`"),
            format!("keys starting with `{RESERVED_PREFIX}` belong to the file format"),
        ));
    }
    let host = tensors.iter().map(|(name, t)| HostTensor::of(name, t)).collect::<Result<Vec<_>>>()?;
    let sums: BTreeMap<&str, String> = host.par_iter().map(|t| (t.name, checksum_hex(t.bytes()))).collect();
    let mut full = metadata.clone();
    full.insert(FORMAT_KEY.into(), FORMAT.into());
    full.insert(CHECKSUMS_KEY.into(), serde_json::to_string(&sums).expect("a string map is JSON"));
    write_host_tensors(path, host, &full)
}

/// Opens a weights file to load tensors from by name: verified as a checkpoint when its
/// metadata carries the checkpoint format tag, read as plain safetensors otherwise (a
/// pretrained model exported elsewhere).
pub fn open_weights(path: impl AsRef<Path>) -> Result<WeightsFile> {
    let file = WeightsFile::open(path)?;
    if file.metadata().contains_key(FORMAT_KEY) {
        return Ok(Checkpoint::verify(file)?.into_file());
    }
    Ok(file)
}

/// An opened, verified checkpoint. Tensors load as views of the file map on the CPU.
pub struct Checkpoint {
    file: WeightsFile,
    metadata: BTreeMap<String, String>,
}

impl Checkpoint {
    /// Opens and verifies a checkpoint: a safetensors file with our format tag, every
    /// tensor f32 and matching its stored checksum.
    pub fn open(path: impl AsRef<Path>) -> Result<Checkpoint> {
        Checkpoint::verify(WeightsFile::open(path)?)
    }

    /// Verifies an opened file as a checkpoint.
    pub fn verify(file: WeightsFile) -> Result<Checkpoint> {
        let fail = |msg: String| Error::format(file.path(), msg);
        match file.metadata().get(FORMAT_KEY) {
            Some(f) if f == FORMAT => {}
            Some(f) => return Err(fail(format!("checkpoint format `{f}`, this build reads `{FORMAT}`"))),
            None => return Err(fail(format!("not a cari checkpoint (no `{FORMAT_KEY}` in its metadata)"))),
        }
        let sums: BTreeMap<String, String> = file
            .metadata()
            .get(CHECKSUMS_KEY)
            .ok_or_else(|| fail(format!("no `{CHECKSUMS_KEY}` in its metadata")))
            .and_then(|s| {
                serde_json::from_str(s)
                    .map_err(|e| fail(format!("`{CHECKSUMS_KEY}` is not a JSON map of strings: {e}")))
            })?;
        if let Some(name) = sums.keys().find(|n| !file.contains(n)) {
            return Err(fail(format!("tensor `{name}` has a checksum but is missing (truncated or edited header?)")));
        }
        let names = file.names();
        names.par_iter().try_for_each(|&name| -> Result<()> {
            let dtype = file.dtype(name)?;
            if dtype != DType::F32 {
                return Err(fail(format!("tensor `{name}` is {dtype}; a checkpoint holds f32 only")));
            }
            let stored = sums.get(name).ok_or_else(|| fail(format!("tensor `{name}` has no checksum")))?;
            let actual = checksum_hex(file.data(name)?);
            if *stored != actual {
                return Err(fail(format!("tensor `{name}` is corrupt: checksum {actual}, stored {stored}")));
            }
            Ok(())
        })?;
        let metadata = file
            .metadata()
            .iter()
            .filter(|(k, _)| !k.starts_with(RESERVED_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Checkpoint { file, metadata })
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The underlying file (for warm starts and other by-name loading).
    pub fn file(&self) -> &WeightsFile {
        &self.file
    }

    pub fn into_file(self) -> WeightsFile {
        self.file
    }

    /// The caller's metadata (the format's own `cari.*` entries left out).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// A metadata value that must be present.
    pub fn require(&self, key: &str) -> Result<&str> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| Error::format(self.path(), format!("no metadata entry `{key}`")))
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.file.names()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.file.contains(name)
    }

    pub fn shape(&self, name: &str) -> Result<Shape> {
        self.file.shape(name)
    }

    /// The tensor on `device` (a view of the file map on the CPU).
    pub fn tensor(&self, name: &str, device: &Device) -> Result<Tensor> {
        self.file.tensor(name, device)
    }

    /// The tensor `name`, which must have `shape`, on `device`: for state whose shape
    /// the caller knows (an optimizer slot shaped like its parameter).
    pub fn tensor_shaped(&self, name: &str, shape: &Shape, device: &Device) -> Result<Tensor> {
        if !self.contains(name) {
            return Err(Error::format(self.path(), format!("no tensor named `{name}`")));
        }
        let stored = self.shape(name)?;
        if stored != *shape {
            return Err(Error::format(
                self.path(),
                format!("tensor `{name}` has shape {stored} in the file, expected {shape}"),
            ));
        }
        self.tensor(name, device)
    }

    /// Replaces the value of every tensor of `store` whose name `select` accepts by the
    /// tensor of that name, on the device the store's tensor lives on. Each must exist
    /// with the same shape; nothing changes unless all do. With `strict`, a tensor of the
    /// file that `select` accepts but the store lacks is an error too. Returns the names
    /// restored, sorted.
    pub fn restore(&self, store: &mut ParamStore, select: impl Fn(&str) -> bool, strict: bool) -> Result<Vec<String>> {
        let wanted: Vec<String> = store.iter().map(|(n, _, _)| n).filter(|n| select(n)).map(String::from).collect();
        if strict {
            if let Some(extra) = self.names().into_iter().find(|n| select(n) && !store.contains(n)) {
                return Err(Error::format(self.path(), format!("tensor `{extra}` is not a tensor of the model")));
            }
        }
        let mut loaded = Vec::with_capacity(wanted.len());
        for name in &wanted {
            let current = store.get(name)?;
            loaded.push(self.tensor_shaped(name, current.shape(), current.device())?);
        }
        for (name, value) in wanted.iter().zip(loaded) {
            store.set(name, value)?;
        }
        Ok(wanted)
    }
}
