//! Helpers shared by the integration tests: the `cari` command, tiny configurations, inputs
//! and the finite-difference gradient check. Each test binary uses a part of them.
#![allow(dead_code)]

use cari::autograd::{Tape, Var};
use cari::data::{DataConfig, DataSource, Preprocess, SynthConfig};
use cari::rng::Rng;
use cari::{Device, Result, Shape, Tensor};
use std::path::Path;
use std::process::{Command, Output};

/// `cari train` flags for a network small enough to train in a test: 75×75 input, channels
/// / 16, batches of 4, no progress bar.
pub const TINY_NETWORK: &[&str] = &["--image-size", "75", "--width-divisor", "16", "--batch", "4", "--quiet"];

/// Runs the `cari` binary of this build with `args`, whatever its exit status.
pub fn cari(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cari")).args(args).output().expect("cari runs")
}

/// Runs `cari` with `args` and asserts that it succeeded, showing its stderr otherwise.
pub fn cari_ok(args: &[&str]) -> Output {
    let o = cari(args);
    assert!(o.status.success(), "cari {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

/// What a successful `cari` run with `args` printed on stdout.
pub fn cari_stdout(args: &[&str]) -> String {
    String::from_utf8(cari_ok(args).stdout).unwrap()
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn cpu() -> Device {
    Device::cpu()
}

/// Uniform values in [-1, 1).
pub fn random(shape: impl Into<Shape>, seed: u64) -> Tensor {
    let shape = shape.into();
    let mut rng = Rng::new(seed);
    let v = (0..shape.len()).map(|_| rng.uniform_in(-1.0, 1.0)).collect();
    Tensor::from_vec(v, shape, &cpu()).unwrap()
}

/// Values in ±[0.1, 1): nothing near the ReLU kink at zero.
pub fn away_from_zero(shape: impl Into<Shape>, seed: u64) -> Tensor {
    let shape = shape.into();
    let mut rng = Rng::new(seed);
    let v = (0..shape.len())
        .map(|_| {
            let m = rng.uniform_in(0.1, 1.0);
            if rng.uniform() < 0.5 {
                -m
            } else {
                m
            }
        })
        .collect();
    Tensor::from_vec(v, shape, &cpu()).unwrap()
}

/// A random permutation of evenly spaced values: every pair differs by at least `gap`,
/// so max pooling has no ties within a finite-difference step.
pub fn distinct(shape: impl Into<Shape>, seed: u64, gap: f32) -> Tensor {
    let shape = shape.into();
    let n = shape.len();
    let mut rng = Rng::new(seed);
    let mut v: Vec<f32> = (0..n).map(|i| (i as f32 - n as f32 / 2.0) * gap).collect();
    for i in (1..n).rev() {
        v.swap(i, rng.below(i + 1));
    }
    Tensor::from_vec(v, shape, &cpu()).unwrap()
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum()
}

/// Checks the tape's gradients of `f` against central finite differences.
///
/// The scalar probed is ⟨f(inputs), r⟩ for a fixed random `r`, evaluated in f64 on the
/// host; for each input, the directional derivative along a random unit-scale direction
/// v is compared with ⟨∂/∂input, v⟩. `eps` is the step; the tolerance is
/// `tol·(1 + |analytic|)` because f32 forward passes carry ~1e-7 relative rounding that
/// the step divides into ~1e-5..1e-4 absolute noise.
pub fn gradcheck(what: &str, inputs: &[Tensor], f: impl Fn(&[Var]) -> Result<Var>, eps: f32, tol: f64) {
    let tape = Tape::new();
    let vars: Vec<Var> = inputs.iter().enumerate().map(|(i, t)| tape.leaf(format!("in{i}"), t.clone())).collect();
    let y = f(&vars).unwrap_or_else(|e| panic!("{what}: forward failed: {e}"));
    let r = random(y.shape().clone(), 0xC0FFEE);
    let loss = cari::ops::sum(&cari::ops::mul(&y, &Var::constant(r.clone())).unwrap()).unwrap();
    let grads = loss.backward().unwrap();
    let r = r.to_vec().unwrap();
    let probe = |xs: &[Tensor]| -> f64 {
        let vars: Vec<Var> = xs.iter().cloned().map(Var::constant).collect();
        dot(&f(&vars).unwrap().value().to_vec().unwrap(), &r)
    };
    for (i, x) in inputs.iter().enumerate() {
        let Some(g) = grads.get(&format!("in{i}")) else {
            panic!("{what}: no gradient for input {i}");
        };
        assert_eq!(g.shape(), x.shape(), "{what}: gradient shape of input {i}");
        let v = random(x.shape().clone(), 77 + i as u64).to_vec().unwrap();
        let analytic = dot(&g.to_vec().unwrap(), &v);
        let shifted = |sign: f32| -> Vec<Tensor> {
            let mut xs = inputs.to_vec();
            let xv: Vec<f32> = x.to_vec().unwrap().iter().zip(&v).map(|(a, d)| a + sign * eps * d).collect();
            xs[i] = Tensor::from_vec(xv, x.shape().clone(), &cpu()).unwrap();
            xs
        };
        let numeric = (probe(&shifted(1.0)) - probe(&shifted(-1.0))) / (2.0 * f64::from(eps));
        let err = (analytic - numeric).abs();
        assert!(
            err <= tol * (1.0 + analytic.abs()),
            "{what}: input {i} {}: analytic {analytic:.6e} vs numeric {numeric:.6e} (error {err:.3e})",
            x.shape()
        );
    }
}

/// Input size of the tiny training runs.
pub const TINY_IMAGE: usize = 75;

/// Synthetic data small enough to train on in a test: 4 identities of 4 photos and 4
/// caricatures each (faces drawn with `faces_seed`), [`TINY_IMAGE`] px crops from a 6 px
/// margin, batches of 6 (sampler seed 5).
pub fn tiny_synth_data(faces_seed: u64) -> DataConfig {
    let synth = SynthConfig {
        seed: faces_seed,
        identities: 4,
        photos_per_identity: 4,
        caricatures_per_identity: 4,
        size: TINY_IMAGE + 6,
    };
    let mut preprocess = Preprocess::new(TINY_IMAGE).unwrap();
    preprocess.crop_margin = 6;
    DataConfig { source: DataSource::Synth(synth), preprocess, batch_size: 6, seed: 5 }
}
