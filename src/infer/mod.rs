//! Using a trained model: embeddings of image files, galleries, verification and
//! identification (`cari embed`, `cari verify`, `cari identify`).

pub mod calibrate;
mod embeddings;
mod model;
pub mod output;
mod search;

pub use embeddings::Embeddings;
pub use model::{InferenceModel, UNCALIBRATED_THRESHOLD};
pub use search::{identify, verify, Match, Threshold, Verdict, METRIC};
