//! Files: safetensors weights, memory-mapped on read and written atomically.

mod safetensors;

pub use self::safetensors::{save_safetensors, WeightsFile};
