//! Which data a run trains on and how it is read: stored in checkpoints so a resumed run
//! reopens the same data in the same order.

use super::{
    BatchLoader, Cavi, CaviProtocol, Dataset, LoaderOptions, Preprocess, Protocol, Sampler, SamplerState, SynthConfig,
    SynthFaces,
};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    /// The built-in procedural faces, rendered on the fly.
    Synth(SynthConfig),
    /// CaVI in its published layout.
    Cavi { root: PathBuf, protocol: CaviProtocol },
}

impl DataSource {
    /// `synth` (with `synth` as its settings) or `cavi:PATH`.
    pub fn parse(spec: &str, synth: SynthConfig, protocol: CaviProtocol) -> Result<DataSource> {
        match spec.split_once(':') {
            None if spec == "synth" => Ok(DataSource::Synth(synth)),
            Some(("cavi", path)) if !path.is_empty() => Ok(DataSource::Cavi { root: PathBuf::from(path), protocol }),
            _ => Err(Error::invalid("--dataset", format!("`{spec}` is neither `synth` nor `cavi:PATH`"))),
        }
    }

    /// The `--dataset` text of this source (`synth` or `cavi:PATH`).
    pub fn spec(&self) -> String {
        match self {
            DataSource::Synth(_) => "synth".into(),
            DataSource::Cavi { root, .. } => format!("cavi:{}", root.display()),
        }
    }

    /// Opens the dataset and its protocol.
    pub fn open(&self) -> Result<(Arc<dyn Dataset>, Protocol)> {
        match self {
            DataSource::Synth(config) => {
                let faces = SynthFaces::new(config.clone())?;
                let protocol = faces.protocol();
                Ok((Arc::new(faces), protocol))
            }
            DataSource::Cavi { root, protocol } => {
                let cavi = Cavi::open(root)?;
                let protocol = cavi.protocol(*protocol)?;
                Ok((Arc::new(cavi), protocol))
            }
        }
    }
}

/// Everything that decides which images a run's batches hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    pub source: DataSource,
    pub preprocess: Preprocess,
    pub batch_size: usize,
    /// Seeds the sampling order and the augmentation.
    pub seed: u64,
}

/// A dataset opened for training: its test protocol and a loader drawing its batches.
pub struct OpenedData {
    pub dataset: Arc<dyn Dataset>,
    pub protocol: Protocol,
    pub loader: BatchLoader,
}

impl DataConfig {
    /// The built-in synthetic faces at `image_size` (rendered a tenth larger, for the
    /// training crops), `photos` photos and as many caricatures per identity.
    pub fn synth(
        identities: usize,
        photos: usize,
        image_size: usize,
        batch_size: usize,
        seed: u64,
    ) -> Result<DataConfig> {
        let preprocess = Preprocess::new(image_size)?;
        let synth = SynthConfig {
            seed,
            identities,
            photos_per_identity: photos,
            caricatures_per_identity: photos,
            size: preprocess.resized_size(),
        };
        Ok(DataConfig { source: DataSource::Synth(synth), preprocess, batch_size, seed })
    }

    /// Opens the data and starts loading training batches: from the start, or from where
    /// a checkpointed run's sampler stood.
    pub fn open_for_training(&self, resume: Option<SamplerState>, options: LoaderOptions) -> Result<OpenedData> {
        let (dataset, protocol) = self.source.open()?;
        let sampler = match resume {
            Some(state) => Sampler::from_state(protocol.train.clone(), self.batch_size, state)?,
            None => Sampler::new(protocol.train.clone(), self.batch_size, self.seed)?,
        };
        let loader = BatchLoader::new(dataset.clone(), sampler, self.preprocess, options)?;
        Ok(OpenedData { dataset, protocol, loader })
    }
}
