//! cari: caricature ↔ photo face recognition by dynamic multi-task learning.
//!
//! Layers, bottom up (`docs/architecture.md` has the table, `tests/layering.rs` enforces
//! it: a module uses only lower layers): [`dtype`], [`shape`], [`rng`]; [`error`];
//! [`choice`] (named settings); [`backend`] (one trait per op family, their sum `Backend`,
//! the CPU and CUDA implementations, the storage they compute on); [`tensor`] and
//! [`distance`]; [`autograd`] (the tape) and [`batch`] (modalities, tasks, batches);
//! [`ops`] (shape-checked ops that record their backward); [`nn`] (layers), [`optim`]
//! (optimizers, schedules) and [`io`] (safetensors, checkpoints); [`data`] (datasets,
//! preprocessing, loader threads); [`model`] (the multi-task network, weighting,
//! objectives); [`infer`] (a trained model in use); [`eval`] (the protocols' metrics) and
//! [`train`] (steps, runs, sessions, logs); [`plot`]; [`experiment`] (the paper's Table I).

pub mod autograd;
pub mod backend;
pub mod batch;
pub mod choice;
pub mod data;
pub mod distance;
pub mod dtype;
pub mod error;
pub mod eval;
pub mod experiment;
pub mod infer;
pub mod io;
pub mod model;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod plot;
pub mod rng;
pub mod shape;
pub mod tensor;
pub mod train;

pub use backend::Device;
pub use dtype::DType;
pub use error::{Error, Result};
pub use shape::Shape;
pub use tensor::Tensor;
