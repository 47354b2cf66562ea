//! cari: caricature ↔ photo face recognition by dynamic multi-task learning.
//!
//! Layers, bottom up: [`tensor`] (shapes, dtypes, storage), [`backend`] (the `Backend`
//! trait and its CPU implementation), [`autograd`] (the tape), [`ops`] (shape-checked ops
//! that run on a backend and record their backward), [`nn`] (layers), [`model`] (the
//! multi-task network and its objectives), [`optim`], [`train`] (one training step),
//! [`data`] (the built-in synthetic dataset), [`io`] (safetensors), [`plot`] (the training
//! log as the paper's Figure 3).

pub mod autograd;
pub mod backend;
pub mod data;
pub mod error;
pub mod eval;
pub mod experiment;
pub mod io;
pub mod model;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod plot;
pub mod rng;
pub mod tensor;
pub mod train;

pub use backend::Device;
pub use error::{Error, Result};
pub use tensor::{DType, Shape, Tensor};
