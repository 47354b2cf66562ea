//! Training: one step of the paper's model ([`Trainer`]), what each step records, whole
//! runs with their log and checkpoints, sessions that start or resume them, and the timing
//! of repeated steps (`cari bench`).

mod bench;
mod checkpoint;
mod log;
mod record;
mod run;
mod session;
mod trainer;

pub use bench::{measure, Measured};
pub use checkpoint::{save_training_checkpoint, TrainingCheckpoint};
pub use log::{read_training_log, LogContents, TrainingLog};
pub use record::StepRecord;
pub use run::{run, RunOptions, RunSummary};
pub use session::{overridden_on_resume, FreshRun, Origin, Session, WarmStart, RESUME_SETTINGS};
pub use trainer::{QueuedStep, StepReport, TrainConfig, Trainer, NETWORK_OPTIMIZER, WEIGHT_OPTIMIZER};
