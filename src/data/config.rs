//! Which data a run trains on and how it is read: stored in checkpoints so a resumed run
//! reopens the same data in the same order.

use super::{
    BatchLoader, Cavi, CaviProtocol, Dataset, FolderDataset, LoaderOptions, ModalityRule, OnBadLine, Preprocess,
    Protocol, Sampler, SamplerState, SynthConfig, SynthFaces, View, WebCaricature, WebCaricatureProtocol,
    WebCaricatureTask,
};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    /// The built-in procedural faces, rendered on the fly.
    Synth(SynthConfig),
    /// CaVI in its published layout.
    Cavi { root: PathBuf, protocol: CaviProtocol },
    /// WebCaricature in its published layout.
    WebCaricature { root: PathBuf, protocol: WebCaricatureProtocol },
    /// A folder with one subfolder per identity.
    Folder { root: PathBuf, modality_rule: ModalityRule },
}

/// The settings `--dataset` is read with: each source takes the ones it needs.
#[derive(Clone, Debug)]
pub struct SourceOptions {
    /// The synthetic faces' settings.
    pub synth: SynthConfig,
    /// `--protocol`: CaVI's `clean` (default) or `reference`; WebCaricature's `restricted`
    /// (default), `unrestricted`, `c2p` or `p2c`.
    pub protocol: Option<String>,
    /// WebCaricature's view and the fold a training run uses (1-based).
    pub view: View,
    pub fold: usize,
    pub on_bad_line: OnBadLine,
    /// How a folder's images are told apart.
    pub modality_rule: ModalityRule,
}

impl Default for SourceOptions {
    fn default() -> SourceOptions {
        SourceOptions {
            synth: SynthConfig::default(),
            protocol: None,
            view: View::default(),
            fold: 1,
            on_bad_line: OnBadLine::default(),
            modality_rule: ModalityRule::default(),
        }
    }
}

const SPEC_FORMS: &str = "`synth`, `cavi:PATH`, `webcaricature:PATH` or `folder:PATH`";

impl DataSource {
    /// `synth`, `cavi:PATH`, `webcaricature:PATH` or `folder:PATH`, with the settings of
    /// `options` that apply to it; a protocol given to a source without protocols is refused.
    pub fn parse(spec: &str, options: &SourceOptions) -> Result<DataSource> {
        let protocol = options.protocol.as_deref();
        let no_protocol = |source: &str| match protocol {
            Some(p) => Err(Error::invalid("--protocol", format!("`{p}`: {source} has no protocols to choose from"))),
            None => Ok(()),
        };
        match spec.split_once(':') {
            None if spec == "synth" => {
                no_protocol("the synthetic data")?;
                Ok(DataSource::Synth(options.synth.clone()))
            }
            Some(("cavi", path)) if !path.is_empty() => {
                let protocol = protocol.map(CaviProtocol::from_str).transpose()?.unwrap_or_default();
                Ok(DataSource::Cavi { root: PathBuf::from(path), protocol })
            }
            Some(("webcaricature", path)) if !path.is_empty() => {
                let task = protocol.map(WebCaricatureTask::from_str).transpose()?.unwrap_or_default();
                let protocol = WebCaricatureProtocol {
                    task,
                    view: options.view,
                    fold: options.fold,
                    on_bad_line: options.on_bad_line,
                };
                Ok(DataSource::WebCaricature { root: PathBuf::from(path), protocol })
            }
            Some(("folder", path)) if !path.is_empty() => {
                no_protocol("a folder")?;
                Ok(DataSource::Folder { root: PathBuf::from(path), modality_rule: options.modality_rule })
            }
            _ => Err(Error::invalid("--dataset", format!("`{spec}` is none of {SPEC_FORMS}"))),
        }
    }

    /// The `--dataset` text of this source.
    pub fn spec(&self) -> String {
        match self {
            DataSource::Synth(_) => "synth".into(),
            DataSource::Cavi { root, .. } => format!("cavi:{}", root.display()),
            DataSource::WebCaricature { root, .. } => format!("webcaricature:{}", root.display()),
            DataSource::Folder { root, .. } => format!("folder:{}", root.display()),
        }
    }

    /// Opens the dataset and the protocol a training run uses (for WebCaricature, the
    /// chosen fold).
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
            DataSource::WebCaricature { root, protocol } => {
                let web = WebCaricature::open(root)?;
                let protocol = web.training_protocol(protocol)?;
                Ok((Arc::new(web), protocol))
            }
            DataSource::Folder { root, modality_rule } => {
                let folder = FolderDataset::open(root, *modality_rule)?;
                let protocol = folder.protocol();
                Ok((Arc::new(folder), protocol))
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
