//! Training checkpoints: every tensor a run needs to continue bit for bit (parameters,
//! batch-norm averages, centers, both optimizers' state) and, in the header metadata, the
//! network and training configuration, the step, the optimizers' update counts, the data
//! order and how the data is read and preprocessed.

use super::{TrainConfig, Trainer};
use crate::backend::Device;
use crate::data::{DataConfig, SamplerState};
use crate::error::{Error, Result};
use crate::io::{save_checkpoint, Checkpoint};
use crate::model::{MultiTaskNet, NetworkConfig};
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

/// Writes `trainer`'s state after its last step, with the data order `sampler` reached,
/// to `path` (atomically: a temporary file renamed over it).
pub fn save_training_checkpoint(
    path: &Path,
    trainer: &Trainer,
    data: &DataConfig,
    sampler: SamplerState,
) -> Result<()> {
    let mut meta = BTreeMap::new();
    meta.insert(NETWORK.to_string(), json(&trainer.net.config));
    meta.insert(TRAINING.to_string(), json(&trainer.config));
    meta.insert(DATA.to_string(), json(data));
    meta.insert(STEP.to_string(), trainer.step.to_string());
    meta.insert(OPTIMIZER_STEPS.to_string(), json(&trainer.optimizer_steps()));
    meta.insert(SAMPLER.to_string(), json(&sampler));
    meta.insert(COMMIT.to_string(), env!("CARI_BUILD_COMMIT").to_string());
    save_checkpoint(path, &trainer.state_tensors(), &meta)
}

/// An opened training checkpoint with its configuration read back.
pub struct TrainingCheckpoint {
    pub file: Checkpoint,
    pub network: NetworkConfig,
    pub training: TrainConfig,
    pub data: DataConfig,
    pub step: u64,
    pub sampler: SamplerState,
    optimizer_steps: [u64; 2],
}

impl TrainingCheckpoint {
    /// Opens and verifies `path` (format, checksums) and parses its training metadata.
    pub fn open(path: &Path) -> Result<TrainingCheckpoint> {
        let file = Checkpoint::open(path)?;
        Ok(TrainingCheckpoint {
            network: parse(&file, NETWORK)?,
            training: parse(&file, TRAINING)?,
            data: parse(&file, DATA)?,
            step: parse(&file, STEP)?,
            sampler: parse(&file, SAMPLER)?,
            optimizer_steps: parse(&file, OPTIMIZER_STEPS)?,
            file,
        })
    }

    /// A trainer in exactly the state the checkpoint was written in, on `device`: every
    /// parameter and buffer and both optimizers' state restored (a missing or misshapen
    /// tensor is an error naming it).
    pub fn trainer(&self, device: &Device) -> Result<Trainer> {
        let net = MultiTaskNet::new(self.network.clone())?;
        let params = net.init_params(self.training.seed, device)?;
        let mut trainer = Trainer::new(net, params, self.training.clone())?;
        self.file.restore(&mut trainer.params, |_| true, false)?;
        let names = self.file.names().into_iter().map(String::from).collect::<Vec<_>>();
        trainer.restore_optimizers(self.step, self.optimizer_steps, |name| {
            if names.iter().any(|n| n == name) {
                Ok(Some(self.file.tensor(name, device)?))
            } else {
                Ok(None)
            }
        })?;
        Ok(trainer)
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
