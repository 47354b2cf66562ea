//! The training checkpoint format: every tensor a run needs to continue bit for bit
//! (parameters, batch-norm averages, centers, both optimizers' state) and, in the header
//! metadata, the network and training configuration, the step, the optimizers' update
//! counts, the data order and how the data is read and preprocessed. Each configuration is
//! stored as the JSON of a type its own layer defines; this module fixes the keys.

use super::{save_checkpoint, Checkpoint};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

const NETWORK: &str = "train.network";
const TRAINING: &str = "train.config";
const DATA: &str = "train.data";
const STEP: &str = "train.step";
const OPTIMIZER_STEPS: &str = "train.optimizer_steps";
const SAMPLER: &str = "train.sampler";
const COMMIT: &str = "train.commit";

/// What a training checkpoint's header holds besides its tensors: the network, training and
/// data configurations, the step, the optimizers' update counts and the data order reached.
#[derive(Clone, Debug)]
pub struct TrainingHeader<Network, Training, Data, Sampler> {
    pub network: Network,
    pub training: Training,
    pub data: Data,
    pub step: u64,
    pub optimizer_steps: [u64; 2],
    pub sampler: Sampler,
}

impl<N: Serialize, T: Serialize, D: Serialize, S: Serialize> TrainingHeader<N, T, D, S> {
    /// Writes `tensors` under this header, and the commit of this build, to `path`
    /// (atomically: a temporary file renamed over it).
    pub fn save(&self, path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
        let mut meta = BTreeMap::new();
        meta.insert(NETWORK.to_string(), json(&self.network));
        meta.insert(TRAINING.to_string(), json(&self.training));
        meta.insert(DATA.to_string(), json(&self.data));
        meta.insert(STEP.to_string(), self.step.to_string());
        meta.insert(OPTIMIZER_STEPS.to_string(), json(&self.optimizer_steps));
        meta.insert(SAMPLER.to_string(), json(&self.sampler));
        meta.insert(COMMIT.to_string(), env!("CARI_BUILD_COMMIT").to_string());
        save_checkpoint(path, tensors, &meta)
    }
}

/// An opened training checkpoint: the verified file and its header read back.
pub struct TrainingCheckpoint<Network, Training, Data, Sampler> {
    pub file: Checkpoint,
    pub header: TrainingHeader<Network, Training, Data, Sampler>,
}

impl<N: DeserializeOwned, T: DeserializeOwned, D: DeserializeOwned, S: DeserializeOwned>
    TrainingCheckpoint<N, T, D, S>
{
    /// Opens and verifies `path` (format, checksums) and parses its training header.
    pub fn open(path: &Path) -> Result<TrainingCheckpoint<N, T, D, S>> {
        let file = Checkpoint::open(path)?;
        let header = TrainingHeader {
            network: parse(&file, NETWORK)?,
            training: parse(&file, TRAINING)?,
            data: parse(&file, DATA)?,
            step: parse(&file, STEP)?,
            sampler: parse(&file, SAMPLER)?,
            optimizer_steps: parse(&file, OPTIMIZER_STEPS)?,
        };
        Ok(TrainingCheckpoint { file, header })
    }
}

fn parse<T: DeserializeOwned>(file: &Checkpoint, key: &str) -> Result<T> {
    let text = file
        .metadata()
        .get(key)
        .ok_or_else(|| Error::format(file.path(), format!("no `{key}` in the metadata: not a training checkpoint")))?;
    serde_json::from_str(text).map_err(|e| Error::format(file.path(), format!("metadata `{key}`: {e}")))
}

/// JSON text of a metadata value (plain serde data: encoding cannot fail).
fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("configuration values encode as JSON")
}
