//! Files: safetensors weights, memory-mapped on read and written atomically; checkpoints
//! with integrity checks.

mod atomic;
mod checkpoint;
mod checksum;
mod safetensors;
mod training_checkpoint;

pub use self::atomic::write_atomically;
pub use self::checkpoint::{open_weights, save_checkpoint, Checkpoint, CHECKSUMS_KEY, FORMAT, FORMAT_KEY};
pub use self::checksum::checksum;
pub use self::safetensors::{save_safetensors, WeightsFile};
pub use self::training_checkpoint::{TrainingCheckpoint, TrainingHeader};
