//! Layers. A layer knows its parameters' names (the reference's TensorFlow scopes), shapes
//! and initialisation, its output shape, and how to run forward in a [`Ctx`].

mod block;
mod conv;
mod linear;
mod reduction;

pub use block::ResidualBlock;
pub use conv::{Conv, ConvBn, ConvSpec};
pub use linear::Linear;
pub use reduction::{MaxPool, Reduction};

use crate::autograd::{ParamGroup, ParamStore, Tape, Var};
use crate::error::Result;
use crate::ops::{BatchNormStats, Features};
use crate::tensor::Shape;
use std::cell::RefCell;

/// Batch norm hyper-parameters of the reference (slim defaults as facenet sets them).
pub const BN_EPS: f32 = 0.001;
pub const BN_DECAY: f32 = 0.995;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics in batch norm, dropout on.
    Train,
    /// Moving averages in batch norm, dropout off.
    Infer,
}

/// What a forward pass runs in: the parameters, the tape (when gradients are wanted),
/// the mode, and the batch statistics each training-mode batch norm produced.
pub struct Ctx<'a> {
    pub params: &'a ParamStore,
    pub tape: Option<&'a Tape>,
    pub mode: Mode,
    bn_stats: RefCell<Vec<(String, BatchNormStats)>>,
}

impl<'a> Ctx<'a> {
    /// A training forward recording on `tape`.
    pub fn train(params: &'a ParamStore, tape: &'a Tape) -> Ctx<'a> {
        Ctx { params, tape: Some(tape), mode: Mode::Train, bn_stats: RefCell::default() }
    }

    /// An inference forward: nothing is recorded.
    pub fn infer(params: &'a ParamStore) -> Ctx<'a> {
        Ctx { params, tape: None, mode: Mode::Infer, bn_stats: RefCell::default() }
    }

    pub fn param(&self, name: &str) -> Result<Var> {
        self.params.var(self.tape, name)
    }

    pub fn training(&self) -> bool {
        self.mode == Mode::Train
    }

    fn push_bn_stats(&self, scope: String, stats: BatchNormStats) {
        self.bn_stats.borrow_mut().push((scope, stats));
    }

    /// The batch statistics of every batch norm run so far, by layer scope.
    pub fn take_bn_stats(&self) -> Vec<(String, BatchNormStats)> {
        self.bn_stats.take()
    }
}

/// How a parameter starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Glorot uniform, `±√(6/(fan_in + fan_out))` (slim's `xavier_initializer`).
    Xavier {
        fan_in: usize,
        fan_out: usize,
    },
    /// Normal with this σ, redrawn beyond 2σ.
    TruncatedNormal(f32),
    Zeros,
    Ones,
}

#[derive(Clone, Debug)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Shape,
    pub group: ParamGroup,
    pub init: Init,
}

pub trait Layer {
    /// The scope its parameters live under.
    fn scope(&self) -> &str;
    fn forward(&self, ctx: &Ctx, x: &Features) -> Result<Features>;
    /// The output shape for `input`, or the error the forward pass would give.
    fn output_shape(&self, input: &Shape) -> Result<Shape>;
    /// Appends the layer's parameters and buffers.
    fn declare(&self, out: &mut Vec<ParamSpec>);
}

/// A layer's `<scope>/weights` (initialised by `init`) and its zero-initialised
/// `<scope>/biases` of `out` values: the parameters of every biased layer.
fn declare_weights_and_biases(
    scope: &str,
    weights: Shape,
    init: Init,
    out: usize,
    group: ParamGroup,
    specs: &mut Vec<ParamSpec>,
) {
    specs.push(ParamSpec { name: format!("{scope}/weights"), shape: weights, group, init });
    specs.push(ParamSpec { name: format!("{scope}/biases"), shape: Shape::new([out]), group, init: Init::Zeros });
}

/// A biased layer's weights and biases as variables of `ctx`.
fn weights_and_biases(ctx: &Ctx, scope: &str) -> Result<(Var, Var)> {
    Ok((ctx.param(&format!("{scope}/weights"))?, ctx.param(&format!("{scope}/biases"))?))
}

/// Trainable scalars among specs.
pub fn trainable_count(specs: &[ParamSpec]) -> usize {
    specs.iter().filter(|s| s.group.is_trainable()).map(|s| s.shape.len()).sum()
}

/// Freshly initialised tensors for `specs`; each tensor's values depend only on `seed`
/// and its name.
pub fn init_params(specs: Vec<ParamSpec>, seed: u64, device: &crate::backend::Device) -> Result<ParamStore> {
    let mut store = ParamStore::new();
    for spec in specs {
        let mut rng = crate::rng::Rng::derive(seed, crate::rng::fnv1a(spec.name.as_bytes()));
        let n = spec.shape.len();
        let values: Vec<f32> = match spec.init {
            Init::Zeros => vec![0.0; n],
            Init::Ones => vec![1.0; n],
            Init::TruncatedNormal(std) => (0..n).map(|_| rng.truncated_normal(std)).collect(),
            Init::Xavier { fan_in, fan_out } => {
                let limit = (6.0 / (fan_in + fan_out) as f32).sqrt();
                (0..n).map(|_| rng.uniform_in(-limit, limit)).collect()
            }
        };
        store.insert(spec.name, crate::tensor::Tensor::from_vec(values, spec.shape, device)?, spec.group)?;
    }
    Ok(store)
}
