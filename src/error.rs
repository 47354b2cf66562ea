//! The library's one error type. Every variant names the op, tensor, file or flag at fault.

use crate::dtype::DType;
use crate::shape::Shape;
use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op}: shape mismatch: {lhs} vs {rhs}")]
    ShapeMismatch { op: &'static str, lhs: Shape, rhs: Shape },

    #[error("{op}: invalid shape {shape}: {reason}")]
    InvalidShape { op: &'static str, shape: Shape, reason: String },

    #[error("{op}: expected dtype {expected}, got {got}")]
    DTypeMismatch { op: &'static str, expected: DType, got: DType },

    #[error("{op}: tensors on different devices: {lhs} vs {rhs}")]
    DeviceMismatch { op: &'static str, lhs: String, rhs: String },

    #[error("{op}: empty batch (shape {shape})")]
    EmptyBatch { op: &'static str, shape: Shape },

    #[error("{op}: label {label} out of range for {classes} classes")]
    LabelOutOfRange { op: &'static str, label: usize, classes: usize },

    #[error("unknown parameter `{name}`")]
    UnknownParameter { name: String },

    #[error("parameter `{name}`: {reason}")]
    Parameter { name: String, reason: String },

    #[error("invalid value for {what}: {reason}")]
    InvalidArgument { what: String, reason: String },

    #[error("{op} on {device}: {msg}")]
    Backend { op: &'static str, device: String, msg: String },

    #[error("{what} is not finite ({value})")]
    NonFinite { what: String, value: f32 },

    #[error("training stopped at step {step}: {source}; {checkpoint}")]
    Stopped { step: u64, source: Box<Error>, checkpoint: String },

    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format { path: path.into(), msg: msg.into() }
    }

    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidArgument { what: what.into(), reason: reason.into() }
    }
}
