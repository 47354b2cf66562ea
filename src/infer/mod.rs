//! Using a trained model: embeddings of image files, galleries, verification and
//! identification (`cari embed`, `cari verify`, `cari identify`).

mod embeddings;
mod model;
mod search;

pub use embeddings::Embeddings;
pub use model::InferenceModel;
pub use search::{identify, verify, Match, Threshold, Verdict};
