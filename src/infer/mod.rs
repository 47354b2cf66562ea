//! Using a trained model: embeddings of image files, galleries, verification and
//! identification (`cari embed`, `cari verify`, `cari identify`).

mod batches;
pub mod calibrate;
mod embeddings;
mod graph;
mod model;
pub mod output;
mod search;

pub use batches::{for_each_batch, EvalLoading};
pub use embeddings::Embeddings;
pub use graph::EmbeddingGraph;
pub use model::{InferenceModel, UNCALIBRATED_THRESHOLD};
pub use search::{identify, scored_pairs, verify, Match, Threshold, Verdict, METRIC};
