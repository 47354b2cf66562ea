//! cari: caricature ↔ photo face recognition by dynamic multi-task learning.
//!
//! Layers, bottom up: [`dtype`] and [`shape`], [`error`], [`backend`] (one trait per op
//! family, their sum `Backend`, the CPU and CUDA implementations, the storage they compute
//! on), [`tensor`] (a shape and storage on a device), [`autograd`] (the tape), [`ops`]
//! (shape-checked ops that run on a backend and record their backward), [`nn`] (layers),
//! [`model`] (the multi-task network, its weighting strategies and objectives), [`optim`]
//! (optimizers, schedules), [`train`] (steps, runs, logs, checkpoints), [`data`] (the
//! synthetic caricatures, CaVI, preprocessing, loader threads), [`eval`] (the protocols'
//! metrics), [`experiment`] (the paper's Table I), [`io`] (safetensors, checkpoints),
//! [`plot`] (the training log as the paper's Figure 3).

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
