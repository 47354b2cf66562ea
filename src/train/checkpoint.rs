//! A run's training checkpoint (the format of [`crate::io::TrainingCheckpoint`]) with this
//! crate's configurations: written after a step, read back into a trainer in that state.

use super::{TrainConfig, Trainer};
use crate::backend::Device;
use crate::data::{DataConfig, SamplerState};
use crate::error::Result;
use crate::io::{self, TrainingHeader};
use crate::model::{MultiTaskNet, NetworkConfig};
use std::path::Path;

/// An opened training checkpoint of a run of this crate.
pub type TrainingCheckpoint = io::TrainingCheckpoint<NetworkConfig, TrainConfig, DataConfig, SamplerState>;

/// Writes `trainer`'s state after its last step, with the data order `sampler` reached,
/// to `path` (atomically: a temporary file renamed over it).
pub fn save_training_checkpoint(
    path: &Path,
    trainer: &Trainer,
    data: &DataConfig,
    sampler: SamplerState,
) -> Result<()> {
    let header = TrainingHeader {
        network: &trainer.net.config,
        training: &trainer.config,
        data,
        step: trainer.step,
        optimizer_steps: trainer.optimizer_steps(),
        sampler,
    };
    header.save(path, &trainer.state_tensors())
}

impl Trainer {
    /// A trainer in exactly the state `ckpt` was written in, on `device`: every parameter
    /// and buffer and both optimizers' state restored (a missing or misshapen tensor is an
    /// error naming it).
    pub fn from_checkpoint(ckpt: &TrainingCheckpoint, device: &Device) -> Result<Trainer> {
        let header = &ckpt.header;
        let net = MultiTaskNet::new(header.network.clone())?;
        let params = net.init_params(header.training.seed, device)?;
        let mut trainer = Trainer::new(net, params, header.training.clone())?;
        ckpt.file.restore(&mut trainer.params, |_| true, false)?;
        let names = ckpt.file.names().into_iter().map(String::from).collect::<Vec<_>>();
        trainer.restore_optimizers(header.step, header.optimizer_steps, |name| {
            if names.iter().any(|n| n == name) {
                Ok(Some(ckpt.file.tensor(name, device)?))
            } else {
                Ok(None)
            }
        })?;
        Ok(trainer)
    }
}
