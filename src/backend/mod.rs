//! The backend boundary: every op's forward and backward is a method of [`Backend`].
//!
//! Backends see raw storage plus a geometry that `crate::ops` has already validated, so
//! they never check shapes against each other; they only check that storage is theirs and
//! of the dtype they compute in. Conventions (shapes in brackets, row-major):
//! - activations are NHWC, viewed as `[rows, channels]` by per-channel ops;
//! - conv weights are HWIO `[kh, kw, in_c, out_c]`, linear weights `[in, out]`;
//! - every method returns fresh storage, except the optimizer updates, which change the
//!   parameter and its state in place (nothing else reads them).
//!
//! `CpuBackend` (in `cpu/`) is the reference; the CUDA backend implements the same trait.

pub mod cpu;
pub mod cuda;
mod device;

pub use device::Device;

use crate::error::Result;
use crate::tensor::{DType, Storage};

/// A convolution's full geometry, TF padding resolved to explicit top/left padding
/// (the bottom/right padding follows from the output size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_c: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub out_h: usize,
    pub out_w: usize,
}

/// TensorFlow's padding modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// `out = ⌈in/stride⌉`, the odd padding pixel at the bottom/right.
    Same,
    /// No padding: `out = ⌊(in − k)/stride⌋ + 1` (0 when the kernel does not fit).
    Valid,
}

impl Padding {
    /// Output extent and leading pad along one axis.
    pub fn resolve(self, input: usize, kernel: usize, stride: usize) -> (usize, usize) {
        match self {
            Padding::Valid => ((input + 1).saturating_sub(kernel).div_ceil(stride), 0),
            Padding::Same => {
                let out = input.div_ceil(stride);
                (out, ((out.max(1) - 1) * stride + kernel).saturating_sub(input) / 2)
            }
        }
    }
}

impl Conv2dGeometry {
    /// The geometry of a convolution of `[batch, h, w, in_c]` by a `[kh, kw, in_c, out_c]`
    /// kernel with strides `(sh, sw)` and TF padding. No validation: `ops::conv_geometry`
    /// checks shapes first.
    pub fn with_padding(
        batch: usize,
        (in_h, in_w): (usize, usize),
        in_c: usize,
        out_c: usize,
        (kernel_h, kernel_w): (usize, usize),
        (stride_h, stride_w): (usize, usize),
        padding: Padding,
    ) -> Conv2dGeometry {
        let (out_h, pad_top) = padding.resolve(in_h, kernel_h, stride_h);
        let (out_w, pad_left) = padding.resolve(in_w, kernel_w, stride_w);
        Conv2dGeometry {
            batch,
            in_h,
            in_w,
            in_c,
            out_c,
            kernel_h,
            kernel_w,
            stride_h,
            stride_w,
            pad_top,
            pad_left,
            out_h,
            out_w,
        }
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.in_h * self.in_w * self.in_c
    }
    pub fn weight_len(&self) -> usize {
        self.kernel_h * self.kernel_w * self.in_c * self.out_c
    }
    pub fn output_len(&self) -> usize {
        self.batch * self.out_h * self.out_w * self.out_c
    }
    /// Multiply-adds of the forward pass (each backward pass costs the same).
    pub fn macs(&self) -> usize {
        self.output_len() * self.kernel_h * self.kernel_w * self.in_c
    }
}

/// A pooling window over NHWC input with VALID padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dGeometry {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub channels: usize,
    pub window: usize,
    pub stride: usize,
    pub out_h: usize,
    pub out_w: usize,
}

/// A matrix product `c[m, n] = op(a) · op(b)` where `op(a)` is `[m, k]` and `op(b)` `[k, n]`;
/// a transposed operand is stored as its transpose (`a` as `[k, m]`, `b` as `[n, k]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulGeometry {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub transpose_a: bool,
    pub transpose_b: bool,
}

/// Element-wise operations on two operands of the same length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// The activation an op applies to its result before writing it (fused, so the
/// activations are read and written once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Relu,
}

/// One SGD-with-momentum update's numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep {
    pub lr: f32,
    pub momentum: f32,
    pub grad_scale: f32,
}

/// One RMSProp update's numbers, TF's semantics (DESIGN.md §2): the caller starts `ms` at
/// 1 and `mom` at 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropStep {
    pub lr: f32,
    pub decay: f32,
    pub momentum: f32,
    pub epsilon: f32,
    pub grad_scale: f32,
}

/// One Adam update's numbers; `step` counts from 1 (TF's bias-corrected step size).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    pub step: u64,
    pub grad_scale: f32,
}

/// `[rows, cols]` view of a tensor for row-wise and per-column ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rows {
    pub rows: usize,
    pub cols: usize,
}

/// The inverse of a row index, for `scatter_add_rows`: `sources[starts[d]..starts[d + 1]]`
/// lists, in increasing order, the `i` with `index[i] = d` (every index below `rows`).
pub(crate) fn sources_by_row(index: &[usize], rows: usize) -> (Vec<usize>, Vec<usize>) {
    let mut starts = vec![0usize; rows + 1];
    for &d in index {
        assert!(d < rows, "scatter index {d} out of {rows} rows");
        starts[d + 1] += 1;
    }
    for d in 0..rows {
        starts[d + 1] += starts[d];
    }
    let mut next = starts.clone();
    let mut sources = vec![0usize; index.len()];
    for (i, &d) in index.iter().enumerate() {
        sources[next[d]] = i;
        next[d] += 1;
    }
    (starts, sources)
}

pub trait Backend: Send + Sync {
    /// The device's name as users write it: `cpu`, `cuda:0`.
    fn name(&self) -> String;

    /// Waits until every operation issued so far has finished (kernels launch
    /// asynchronously on a GPU); reports a fault of an earlier launch. Timing needs it.
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

    // ---- memory ----
    fn upload(&self, data: Vec<f32>) -> Result<Storage>;
    fn download(&self, x: &Storage) -> Result<Vec<f32>>;
    fn zeros(&self, len: usize) -> Result<Storage>;
    /// A copy that shares nothing with `x` (before an in-place update of shared storage).
    fn copy(&self, x: &Storage) -> Result<Storage>;
    fn cast(&self, x: &Storage, dtype: DType) -> Result<Storage>;

    // ---- element-wise ----
    fn binary(&self, op: BinaryOp, a: &Storage, b: &Storage) -> Result<Storage>;
    /// `x·mul + add`.
    fn affine(&self, x: &Storage, mul: f32, add: f32) -> Result<Storage>;
    /// `eˣ` (the uncertainty weighting's task precisions).
    fn exp(&self, x: &Storage) -> Result<Storage>;
    /// `a + alpha·b`: the scaled residual add, and every gradient accumulation.
    fn add_scaled(&self, a: &Storage, b: &Storage, alpha: f32) -> Result<Storage>;
    fn relu(&self, x: &Storage) -> Result<Storage>;
    /// `dy` where the ReLU output `y` is positive, else 0.
    fn relu_backward(&self, dy: &Storage, y: &Storage) -> Result<Storage>;
    /// `x[r, c] + bias[c]`.
    fn add_bias(&self, x: &Storage, bias: &Storage, shape: Rows) -> Result<Storage>;
    /// Column sums of `x[rows, cols]` → `[cols]` (bias gradients, batch means).
    fn sum_rows(&self, x: &Storage, shape: Rows) -> Result<Storage>;
    /// `[cols]` repeated `rows` times → `[rows, cols]`.
    fn broadcast_rows(&self, x: &Storage, shape: Rows) -> Result<Storage>;

    /// `Σ x²`, accumulated in f64 (global-norm gradient clipping).
    fn sum_squares(&self, x: &Storage) -> Result<f64>;

    // ---- optimizer updates ----
    /// SGD with momentum, in place and in one pass: `v ← μ·v + s·g; θ ← θ − lr·v` (`s`
    /// scales the gradient, e.g. for clipping). Updating in place saves the optimizer a
    /// third of its memory traffic: it is the one op whose inputs nobody else reads.
    fn sgd_momentum(&self, param: &mut Storage, velocity: &mut Storage, grad: &Storage, hyper: SgdStep) -> Result<()>;
    /// RMSProp as TF implements it, in place, with `g = s·grad`:
    /// `ms ← ρ·ms + (1 − ρ)·g²; mom ← μ·mom + lr·g/√(ms + ε); θ ← θ − mom`.
    fn rmsprop(
        &self,
        param: &mut Storage,
        ms: &mut Storage,
        mom: &mut Storage,
        grad: &Storage,
        hyper: RmsPropStep,
    ) -> Result<()>;
    /// Adam as TF implements it, in place, with `g = s·grad`: `m ← β₁·m + (1 − β₁)·g;
    /// v ← β₂·v + (1 − β₂)·g²; θ ← θ − lr_t·m/(√v + ε)`, `lr_t = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)`.
    fn adam(&self, param: &mut Storage, m: &mut Storage, v: &mut Storage, grad: &Storage, hyper: AdamStep)
        -> Result<()>;

    // ---- dense ----
    fn matmul(&self, a: &Storage, b: &Storage, g: &MatmulGeometry) -> Result<Storage>;

    // ---- convolution ----
    /// `y[n, oh, ow, o] = Σ x[n, ih, iw, i]·w[kh, kw, i, o]`.
    fn conv2d(&self, x: &Storage, w: &Storage, g: &Conv2dGeometry) -> Result<Storage>;
    /// ∂L/∂x from ∂L/∂y.
    fn conv2d_input_grad(&self, dy: &Storage, w: &Storage, g: &Conv2dGeometry) -> Result<Storage>;
    /// ∂L/∂w from the input and ∂L/∂y.
    fn conv2d_weight_grad(&self, x: &Storage, dy: &Storage, g: &Conv2dGeometry) -> Result<Storage>;

    // ---- batch norm (shift only, no scale) ----
    /// Per-channel batch mean and biased variance of `x[rows, channels]`.
    fn batch_norm_stats(&self, x: &Storage, shape: Rows) -> Result<(Storage, Storage)>;
    /// `act((x − mean)/√(var + eps) + beta)`.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm(
        &self,
        x: &Storage,
        mean: &Storage,
        var: &Storage,
        beta: &Storage,
        shape: Rows,
        eps: f32,
        act: Activation,
    ) -> Result<Storage>;
    /// Gradient of the training-mode batch norm (batch statistics) followed by `act`:
    /// `(dx, dbeta)`. The activation's derivative is recomputed from `x`.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_backward(
        &self,
        dy: &Storage,
        x: &Storage,
        mean: &Storage,
        var: &Storage,
        beta: &Storage,
        shape: Rows,
        eps: f32,
        act: Activation,
    ) -> Result<(Storage, Storage)>;

    // ---- pooling ----
    fn max_pool2d(&self, x: &Storage, g: &Pool2dGeometry) -> Result<Storage>;
    /// Routes each output gradient to the first maximum of its window in `x`.
    fn max_pool2d_backward(&self, dy: &Storage, x: &Storage, g: &Pool2dGeometry) -> Result<Storage>;
    /// Mean over the spatial positions of `x[batch, hw, channels]` → `[batch, channels]`.
    fn global_avg_pool(&self, x: &Storage, batch: usize, hw: usize, channels: usize) -> Result<Storage>;
    fn global_avg_pool_backward(
        &self,
        dy: &Storage,
        batch: usize,
        hw: usize,
        channels: usize,
    ) -> Result<Storage>;

    // ---- layout ----
    /// Concatenates `[rows, c_i]` parts along columns.
    fn concat_cols(&self, parts: &[(&Storage, usize)], rows: usize) -> Result<Storage>;
    /// Columns `start..start + len` of `x[rows, cols]`.
    fn slice_cols(&self, x: &Storage, shape: Rows, start: usize, len: usize) -> Result<Storage>;
    /// Rows `index[i]` of `x[rows, cols]`, in order.
    fn gather_rows(&self, x: &Storage, shape: Rows, index: &[usize]) -> Result<Storage>;
    /// The adjoint of `gather_rows`: `out[index[i]] += src[i]`, `out` has `shape`.
    fn scatter_add_rows(&self, src: &Storage, shape: Rows, index: &[usize]) -> Result<Storage>;

    // ---- regularisation ----
    /// Inverted dropout mask: `1/keep` with probability `keep`, else 0; a pure function
    /// of `(seed, element index)` so every backend draws the same mask.
    fn dropout_mask(&self, len: usize, keep: f32, seed: u64) -> Result<Storage>;

    // ---- normalisation and losses (row-wise over `[rows, cols]`) ----
    /// `x / √max(Σx², eps)` per row.
    fn l2_normalize(&self, x: &Storage, shape: Rows, eps: f32) -> Result<Storage>;
    fn l2_normalize_backward(&self, dy: &Storage, x: &Storage, shape: Rows, eps: f32) -> Result<Storage>;
    fn softmax(&self, x: &Storage, shape: Rows) -> Result<Storage>;
    /// From the softmax output `y`: `dx = y ⊙ (dy − Σ dy⊙y)`.
    fn softmax_backward(&self, dy: &Storage, y: &Storage, shape: Rows) -> Result<Storage>;
    /// Per-row cross-entropy of `logits` against `labels`: `(losses[rows], probs[rows, cols])`.
    fn softmax_cross_entropy(
        &self,
        logits: &Storage,
        labels: &[usize],
        shape: Rows,
    ) -> Result<(Storage, Storage)>;
    /// `dlogits[r] = dloss[r]·(probs[r] − onehot(labels[r]))`.
    fn softmax_cross_entropy_backward(
        &self,
        dloss: &Storage,
        probs: &Storage,
        labels: &[usize],
        shape: Rows,
    ) -> Result<Storage>;
    /// Per-row `½‖e_r − centers[labels[r]]‖²` → `[rows]`.
    fn center_loss(
        &self,
        embeddings: &Storage,
        centers: &Storage,
        labels: &[usize],
        shape: Rows,
    ) -> Result<Storage>;
    /// `de[r] = dloss[r]·(e_r − centers[labels[r]])`.
    fn center_loss_backward(
        &self,
        dloss: &Storage,
        embeddings: &Storage,
        centers: &Storage,
        labels: &[usize],
        shape: Rows,
    ) -> Result<Storage>;
}
