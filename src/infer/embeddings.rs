//! Embeddings with their labels and source files: what `cari embed` writes and what a
//! gallery is. Stored as safetensors (`embeddings` [n, d], labels and paths as JSON in the
//! metadata) or as NumPy `.npy` (the matrix alone, labels in a `.txt` beside it).

use crate::backend::Device;
use crate::error::{Error, Result};
use crate::io::{save_safetensors, WeightsFile};
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

const TENSOR: &str = "embeddings";
const LABELS: &str = "labels";
const PATHS: &str = "paths";

#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    pub dim: usize,
    /// Row-major `[len, dim]`, each row unit length.
    pub values: Vec<f32>,
    pub labels: Vec<String>,
    pub paths: Vec<String>,
}

impl Embeddings {
    pub fn new(dim: usize, values: Vec<f32>, labels: Vec<String>, paths: Vec<String>) -> Result<Embeddings> {
        if dim == 0 || values.len() != dim * labels.len() || labels.len() != paths.len() {
            return Err(Error::invalid(
                "embeddings",
                format!(
                    "{} values, {} labels and {} paths do not make rows of {dim}",
                    values.len(),
                    labels.len(),
                    paths.len()
                ),
            ));
        }
        Ok(Embeddings { dim, values, labels, paths })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// Appends `other`'s rows (the same embedding size).
    pub fn extend(&mut self, other: Embeddings) -> Result<()> {
        if other.dim != self.dim {
            return Err(Error::invalid("embeddings", format!("rows of {} added to rows of {}", other.dim, self.dim)));
        }
        self.values.extend(other.values);
        self.labels.extend(other.labels);
        self.paths.extend(other.paths);
        Ok(())
    }

    /// Writes `.npy` (plus `<stem>.labels.txt`: `label<TAB>path` per row) when the path
    /// ends in `.npy`, safetensors otherwise.
    pub fn save(&self, path: &Path) -> Result<()> {
        if path.extension().is_some_and(|e| e == "npy") {
            return self.save_npy(path);
        }
        let tensor = Tensor::from_slice(&self.values, [self.len(), self.dim], &Device::cpu())?;
        let mut meta = HashMap::new();
        meta.insert(LABELS.to_string(), serde_json::to_string(&self.labels).expect("strings encode"));
        meta.insert(PATHS.to_string(), serde_json::to_string(&self.paths).expect("strings encode"));
        save_safetensors(path, &[(TENSOR.to_string(), tensor)], meta)
    }

    /// Reads what [`Embeddings::save`] wrote as safetensors (a gallery).
    pub fn load(path: &Path) -> Result<Embeddings> {
        let file = WeightsFile::open(path)?;
        let shape = file.shape(TENSOR)?;
        if shape.rank() != 2 {
            return Err(Error::format(path, format!("tensor `{TENSOR}` has shape {shape}, expected [images, dim]")));
        }
        let list = |key: &str| -> Result<Vec<String>> {
            let text =
                file.metadata().get(key).ok_or_else(|| Error::format(path, format!("no `{key}` in the metadata")))?;
            serde_json::from_str(text).map_err(|e| Error::format(path, format!("metadata `{key}`: {e}")))
        };
        let (labels, paths) = (list(LABELS)?, list(PATHS)?);
        Embeddings::new(shape.dims()[1], file.f32_values(TENSOR)?.into_owned(), labels, paths)
            .map_err(|e| Error::format(path, e.to_string()))
    }

    /// NumPy's format 1.0: magic, header length, a Python dict literal padded to 64
    /// bytes, then little-endian f32 in C order.
    fn save_npy(&self, path: &Path) -> Result<()> {
        let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", self.len(), self.dim);
        let unpadded = 10 + dict.len() + 1;
        let header = format!("{dict}{}\n", " ".repeat(unpadded.next_multiple_of(64) - unpadded));
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        self.values.iter().for_each(|v| bytes.extend(v.to_le_bytes()));
        crate::io::write_atomically(path, |f| f.write_all(&bytes).map_err(|e| Error::io(path, e)))?;
        let labels: String = self.labels.iter().zip(&self.paths).map(|(l, p)| format!("{l}\t{p}\n")).collect();
        let labels_path = path.with_extension("labels.txt");
        crate::io::write_atomically(&labels_path, |f| {
            f.write_all(labels.as_bytes()).map_err(|e| Error::io(&labels_path, e))
        })
    }
}
