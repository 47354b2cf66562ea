//! Deferred batch-norm outputs (`ops::Features`): on a CUDA device a conv + batch norm
//! layer's output is not written; the next convolution normalises it in its loaders and a
//! concatenation as it copies. A tower of two such layers whose first output also feeds the
//! concatenation (two consumers: the gradients add up) must give the same values and
//! gradients, bit for bit, as the same ops over stored outputs, on every emulation, and the
//! CPU's (which stores every output) to rounding.

use super::parity::harness::{cpu, devices};
use cari::autograd::Tape;
use cari::ops::{self, Activation, Conv2dSpec, Features, Padding};
use cari::rng::Rng;
use cari::tensor::Tensor;
use cari::Device;

/// `(y, ∂/∂x, ∂/∂w1, ∂/∂w2, ∂/∂β1, ∂/∂β2)` of the tower under the loss Σ y·r, outputs
/// written (`store`) or deferred.
fn tower(device: &Device, store: bool) -> Vec<Vec<f32>> {
    let t = |shape: &[usize], seed: u64, lo: f32| {
        let n = shape.iter().product();
        Tensor::from_vec(Rng::new(seed).vec(n, lo, 1.0), shape.to_vec(), device).unwrap()
    };
    let tape = Tape::new();
    let x = tape.leaf("x", t(&[2, 7, 6, 3], 1, -1.0));
    let (w1, w2) = (tape.leaf("w1", t(&[1, 1, 3, 5], 2, -1.0)), tape.leaf("w2", t(&[3, 3, 5, 4], 3, -1.0)));
    let (b1, b2) = (tape.leaf("b1", t(&[5], 4, -1.0)), tape.leaf("b2", t(&[4], 5, -1.0)));
    let same = Conv2dSpec { stride: 1, padding: Padding::Same };
    let written = |f: Features| if store { Features::Value(f.var().unwrap()) } else { f };
    let (f1, _) = ops::conv_bn_train(&x.into(), &w1, &b1, same, 1e-3, Activation::Relu).unwrap();
    let f1 = written(f1);
    let (f2, _) = ops::conv_bn_train(&f1, &w2, &b2, same, 1e-3, Activation::Identity).unwrap();
    let y = ops::concat_features(&[written(f2), f1]).unwrap();
    let r = Tensor::from_vec(Rng::new(6).vec(y.value().len(), -1.0, 1.0), y.shape().clone(), device).unwrap();
    let g = ops::sum(&ops::mul(&y, &cari::autograd::Var::constant(r)).unwrap()).unwrap().backward().unwrap();
    let mut out = vec![y.value().to_vec().unwrap()];
    out.extend(["x", "w1", "w2", "b1", "b2"].map(|n| g.require(n).unwrap().to_vec().unwrap()));
    out
}

#[test]
fn deferred_outputs_equal_stored_ones() {
    let want = tower(&cpu(), true);
    assert_eq!(want, tower(&cpu(), false), "the CPU stores every output either way");
    for d in devices() {
        assert!(d.backend().normalizes_where_loaded(), "{d}");
        let got = tower(&d, false);
        assert_eq!(got, tower(&d, true), "{d}: deferred vs stored outputs");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let worst = g.iter().zip(w).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "{d}: output {i} differs from the CPU's by {worst:e} (relative)");
        }
    }
}
