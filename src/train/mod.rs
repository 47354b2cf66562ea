//! Training: one step of the paper's model ([`Trainer`]) and what each step records.

mod log;
mod record;
mod trainer;

pub use log::{read_training_log, LogContents, TrainingLog};
pub use record::StepRecord;
pub use trainer::{StepReport, TrainConfig, Trainer, NETWORK_OPTIMIZER, WEIGHT_OPTIMIZER};
