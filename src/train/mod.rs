//! Training: one step of the paper's model ([`Trainer`]), what each step records, whole
//! runs with their log and checkpoints.

mod checkpoint;
mod log;
mod record;
mod run;
mod trainer;

pub use checkpoint::{save_training_checkpoint, TrainingCheckpoint};
pub use log::{read_training_log, LogContents, TrainingLog};
pub use record::StepRecord;
pub use run::{run, RunOptions, RunSummary};
pub use trainer::{StepReport, TrainConfig, Trainer, NETWORK_OPTIMIZER, WEIGHT_OPTIMIZER};
