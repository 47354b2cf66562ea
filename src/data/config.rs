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

/// Settings typed on the command line: each source takes the ones it needs, and `None`
/// keeps what the source has (its default, or what a checkpoint stored).
#[derive(Clone, Debug, Default)]
pub struct SourceOptions {
    /// The synthetic faces' settings, for `synth`.
    pub synth: SynthConfig,
    /// `--protocol`: CaVI's `clean` (default) or `reference`; WebCaricature's `restricted`
    /// (default), `unrestricted`, `c2p` or `p2c`.
    pub protocol: Option<String>,
    /// WebCaricature's view (default View 2) and the fold a training run uses (default 1).
    pub view: Option<View>,
    pub fold: Option<usize>,
    pub on_bad_line: Option<OnBadLine>,
    /// How a folder's images are told apart (default: by file name).
    pub modality_rule: Option<ModalityRule>,
}

const SPEC_FORMS: &str = "`synth`, `cavi:PATH`, `webcaricature:PATH` or `folder:PATH`";

impl DataSource {
    /// `synth`, `cavi:PATH`, `webcaricature:PATH` or `folder:PATH`, with the settings of
    /// `options` that apply to it; a protocol given to a source without protocols is refused.
    pub fn parse(spec: &str, options: &SourceOptions) -> Result<DataSource> {
        let root = |path: &str| PathBuf::from(path);
        let source = match spec.split_once(':') {
            None if spec == "synth" => DataSource::Synth(options.synth.clone()),
            Some(("cavi", path)) if !path.is_empty() => {
                DataSource::Cavi { root: root(path), protocol: CaviProtocol::default() }
            }
            Some(("webcaricature", path)) if !path.is_empty() => {
                DataSource::WebCaricature { root: root(path), protocol: WebCaricatureProtocol::default() }
            }
            Some(("folder", path)) if !path.is_empty() => {
                DataSource::Folder { root: root(path), modality_rule: ModalityRule::FileName }
            }
            _ => return Err(Error::invalid("dataset", format!("`{spec}` is none of {SPEC_FORMS}"))),
        };
        source.with(options)
    }

    /// This source with the settings `options` gives (a stored source changed by the flags
    /// typed, say); a protocol given to a source without protocols is refused.
    pub fn with(self, options: &SourceOptions) -> Result<DataSource> {
        let no_protocol = |source: &str| match &options.protocol {
            Some(p) => Err(Error::invalid("protocol", format!("`{p}`: {source} has no protocols to choose from"))),
            None => Ok(()),
        };
        Ok(match self {
            DataSource::Synth(config) => {
                no_protocol("the synthetic data")?;
                DataSource::Synth(config)
            }
            DataSource::Cavi { root, protocol } => {
                let protocol = options.protocol.as_deref().map(CaviProtocol::from_str).transpose()?.unwrap_or(protocol);
                DataSource::Cavi { root, protocol }
            }
            DataSource::WebCaricature { root, protocol } => {
                let task = options.protocol.as_deref().map(WebCaricatureTask::from_str).transpose()?;
                let protocol = WebCaricatureProtocol {
                    task: task.unwrap_or(protocol.task),
                    view: options.view.unwrap_or(protocol.view),
                    fold: options.fold.unwrap_or(protocol.fold),
                    on_bad_line: options.on_bad_line.unwrap_or(protocol.on_bad_line),
                };
                DataSource::WebCaricature { root, protocol }
            }
            DataSource::Folder { root, modality_rule } => {
                no_protocol("a folder")?;
                DataSource::Folder { root, modality_rule: options.modality_rule.unwrap_or(modality_rule) }
            }
        })
    }

    /// The data an evaluation of a model trained on `self` reads: `spec` when given, else
    /// the model's own source, changed by the settings of `options` that apply. The
    /// synthetic faces keep the model's settings (`options.synth` serves only a model that
    /// did not train on them).
    pub fn evaluated_on(&self, spec: Option<&str>, options: SourceOptions) -> Result<DataSource> {
        let synth = match self {
            DataSource::Synth(trained) => trained.clone(),
            _ => options.synth,
        };
        let options = SourceOptions { synth, ..options };
        match spec {
            Some(spec) => DataSource::parse(spec, &options),
            None => self.clone().with(&options),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(protocol: Option<&str>) -> SourceOptions {
        SourceOptions { protocol: protocol.map(String::from), ..SourceOptions::default() }
    }

    #[test]
    fn an_evaluation_keeps_the_trained_synthetic_faces_and_their_settings() {
        let trained = DataSource::Synth(SynthConfig { identities: 5, seed: 9, ..SynthConfig::default() });
        assert_eq!(trained.evaluated_on(None, typed(None)).unwrap(), trained);
        assert_eq!(trained.evaluated_on(Some("synth"), typed(None)).unwrap(), trained);
        let err = trained.evaluated_on(None, typed(Some("clean"))).unwrap_err().to_string();
        assert!(err.contains("`clean`") && err.contains("synthetic data"), "{err}");
    }

    #[test]
    fn an_evaluation_reads_the_dataset_typed_with_the_settings_typed() {
        let trained = DataSource::Cavi { root: "faces".into(), protocol: CaviProtocol::default() };
        let reference = CaviProtocol::from_str("reference").unwrap();
        let want = DataSource::Cavi { root: "faces".into(), protocol: reference };
        assert_eq!(trained.evaluated_on(None, typed(Some("reference"))).unwrap(), want);
        let want = DataSource::Cavi { root: "other".into(), protocol: reference };
        assert_eq!(trained.evaluated_on(Some("cavi:other"), typed(Some("reference"))).unwrap(), want);
        let synth = SynthConfig { identities: 4, ..SynthConfig::default() };
        let options = SourceOptions { synth: synth.clone(), ..typed(None) };
        assert_eq!(trained.evaluated_on(Some("synth"), options).unwrap(), DataSource::Synth(synth));
    }
}
