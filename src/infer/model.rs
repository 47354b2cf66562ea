//! A trained model opened for inference: the network rebuilt from a training checkpoint's
//! configuration, every tensor a view of the mapped file (no copy on the CPU), and the
//! evaluation preprocessing the model was trained with.

use super::batches::{for_each_batch, EvalLoading};
use super::calibrate::{stored, Calibration, Domain};
use super::{EmbeddingGraph, Embeddings, Threshold};
use crate::autograd::ParamStore;
use crate::backend::Device;
use crate::data::{DataConfig, Dataset, ImageList, LoaderOptions, Preprocess, SamplerState};
use crate::error::{Error, Result};
use crate::io::TrainingCheckpoint;
use crate::model::{MultiTaskNet, NetworkConfig};
use serde::de::IgnoredAny;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct InferenceModel {
    pub path: PathBuf,
    pub net: MultiTaskNet,
    pub params: ParamStore,
    /// Evaluation preprocessing: the training resize, a centre crop, no flip.
    pub preprocess: Preprocess,
    /// The data the model was trained on.
    pub data: DataConfig,
    /// Thresholds fitted by `cari eval --calibrate` (empty when never calibrated).
    pub calibrations: Vec<Calibration>,
    pub device: Device,
}

impl InferenceModel {
    /// Opens a training checkpoint (verified: format, checksums, shapes).
    pub fn open(path: &Path, device: &Device) -> Result<InferenceModel> {
        // The training configuration is checked to be JSON but not read: serving needs only
        // the network and how its images were read.
        let ckpt = TrainingCheckpoint::<NetworkConfig, IgnoredAny, DataConfig, SamplerState>::open(path)?;
        let header = ckpt.header;
        let net = MultiTaskNet::new(header.network)?;
        let mut params = ParamStore::new();
        for spec in net.param_specs() {
            let value = ckpt.file.tensor_shaped(&spec.name, &spec.shape, device)?;
            params.insert(spec.name, value, spec.group)?;
        }
        let preprocess = Preprocess { flip: false, ..header.data.preprocess };
        let calibrations = stored(&ckpt.file)?;
        Ok(InferenceModel {
            path: path.to_path_buf(),
            net,
            params,
            preprocess,
            data: header.data,
            calibrations,
            device: device.clone(),
        })
    }

    /// Branch-1 (verification) embeddings of `indices` of `dataset`, in order, computed
    /// in batches of `batch_size` loaded ahead by `options.workers` threads: a row of
    /// `embedding_dim` values per image.
    pub fn embed(
        &self,
        dataset: Arc<dyn Dataset>,
        indices: Vec<usize>,
        batch_size: usize,
        options: LoaderOptions,
    ) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(indices.len() * self.net.embedding_dim());
        let loading = EvalLoading { preprocess: self.preprocess, batch_size, options };
        // On a device that records graphs, the full batches replay one captured on the
        // first of them; a shorter one (the last) runs as usual.
        let mut graph: Option<EmbeddingGraph> = None;
        for_each_batch(dataset, indices, loading, &self.device, |_, images| {
            let full = images.dims().first() == Some(&batch_size) && self.device.backend().records_graphs();
            if full && graph.is_none() {
                graph = Some(EmbeddingGraph::capture(&self.net, &self.params, images.shape().clone(), &self.device)?);
            }
            match graph.as_mut().filter(|_| full) {
                Some(g) => out.extend(g.embed(images)?),
                None => out.extend(self.net.embed(&self.params, images)?.to_vec()?),
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Embeddings of image files and folders (see [`ImageList`]), each labelled by its
    /// parent folder's name.
    pub fn embed_files(&self, inputs: &[PathBuf], batch_size: usize, options: LoaderOptions) -> Result<Embeddings> {
        let list = Arc::new(ImageList::new(inputs)?);
        let indices: Vec<usize> = (0..list.len()).collect();
        let values = self.embed(list.clone(), indices.clone(), batch_size, options)?;
        let labels = indices.iter().map(|&i| list.label(i).to_string()).collect();
        let paths = indices.iter().map(|&i| list.path(i).display().to_string()).collect();
        Embeddings::new(self.net.embedding_dim(), values, labels, paths)
    }

    /// The gallery of embeddings at `path` (written by `cari embed`), refused when its
    /// embeddings are not this model's size.
    pub fn gallery(&self, path: &Path) -> Result<Embeddings> {
        let gallery = Embeddings::load(path)?;
        let dim = self.net.embedding_dim();
        if gallery.dim != dim {
            return Err(Error::format(path, format!("embeddings of {} values, the model makes {dim}", gallery.dim)));
        }
        Ok(gallery)
    }

    /// The verification threshold for `domain` at `target_far`: the calibrated one, or
    /// [`UNCALIBRATED_THRESHOLD`] when the model was never calibrated there.
    pub fn threshold(&self, domain: Domain, target_far: f64) -> Threshold {
        match self.calibrations.iter().find(|c| c.domain == domain && c.target_far == target_far) {
            Some(c) => Threshold {
                value: c.threshold,
                source: format!(
                    "calibrated at FAR {} on {} {} pairs ({})",
                    c.target_far,
                    c.pairs,
                    domain.name(),
                    c.source
                ),
            },
            None => Threshold {
                value: UNCALIBRATED_THRESHOLD,
                source: format!(
                    "uncalibrated default (no {} calibration at FAR {target_far}: run `cari eval --calibrate`)",
                    domain.name()
                ),
            },
        }
    }
}

/// The threshold used without calibration: unit embeddings at a right angle.
pub const UNCALIBRATED_THRESHOLD: f32 = 1.0;
