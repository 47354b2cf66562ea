//! Deferred batch-norm outputs (`ops::Features`): on a CUDA device a conv + batch norm
//! layer's output is not written; the next convolution normalises it in its loaders and a
//! concatenation as it copies. A tower of two such layers whose first output also feeds the
//! concatenation (two consumers: the gradients add up) must give the same values and
//! gradients, bit for bit, as the same ops over stored outputs, on every emulation, and the
//! CPU's (which stores every output) to rounding.

use super::parity::harness::{cpu, devices};
use cari::autograd::{Tape, Var};
use cari::ops::{self, Activation, Conv2dSpec, Features, Padding};
use cari::rng::Rng;
use cari::tensor::Tensor;
use cari::Device;

/// The values and the gradients of every leaf under the loss Σ y·r + Σ z·q of a tower of
/// three conv + batch norm layers, outputs written (`store`) or deferred: x → f1 (1×1) →
/// f2 (3×3) → f3 (3×3, stride 2), y = concat(f3), z = concat(f1, x). f1 has two consumers
/// (its gradients add up); f2 has one, a convolution, whose input-gradient tiles (four
/// stride phases) leave f2's backward sums for it.
fn tower(device: &Device, store: bool) -> Vec<Vec<f32>> {
    let t = |shape: &[usize], seed: u64| {
        let n = shape.iter().product();
        Tensor::from_vec(Rng::new(seed).vec(n, -1.0, 1.0), shape.to_vec(), device).unwrap()
    };
    let tape = Tape::new();
    let x = tape.leaf("x", t(&[2, 9, 8, 3], 1));
    let (w1, w2, w3) = (
        tape.leaf("w1", t(&[1, 1, 3, 5], 2)),
        tape.leaf("w2", t(&[3, 3, 5, 4], 3)),
        tape.leaf("w3", t(&[3, 3, 4, 6], 7)),
    );
    let (b1, b2, b3) = (tape.leaf("b1", t(&[5], 4)), tape.leaf("b2", t(&[4], 5)), tape.leaf("b3", t(&[6], 8)));
    let same = Conv2dSpec { stride: 1, padding: Padding::Same };
    let reduce = Conv2dSpec { stride: 2, padding: Padding::Valid };
    let written = |f: Features| if store { Features::Value(f.var().unwrap()) } else { f };
    let (f1, _) = ops::conv_bn_train(&x.clone().into(), &w1, &b1, same, 1e-3, Activation::Relu).unwrap();
    let f1 = written(f1);
    let (f2, _) = ops::conv_bn_train(&f1, &w2, &b2, same, 1e-3, Activation::Identity).unwrap();
    let (f3, _) = ops::conv_bn_train(&written(f2), &w3, &b3, reduce, 1e-3, Activation::Relu).unwrap();
    let y = ops::concat_features(&[written(f3)]).unwrap();
    let z = ops::concat_features(&[f1, x.into()]).unwrap();
    let probe = |v: &Var, seed: u64| {
        let r = Tensor::from_vec(Rng::new(seed).vec(v.value().len(), -1.0, 1.0), v.shape().clone(), device).unwrap();
        ops::sum(&ops::mul(v, &Var::constant(r)).unwrap()).unwrap()
    };
    let g = ops::add(&probe(&y, 6), &probe(&z, 9)).unwrap().backward().unwrap();
    let mut out = vec![y.value().to_vec().unwrap(), z.value().to_vec().unwrap()];
    out.extend(["x", "w1", "w2", "w3", "b1", "b2", "b3"].map(|n| g.require(n).unwrap().to_vec().unwrap()));
    out
}

#[test]
fn deferred_outputs_equal_stored_ones() {
    let want = tower(&cpu(), true);
    assert_eq!(want, tower(&cpu(), false), "the CPU stores every output either way");
    for d in devices() {
        assert!(d.backend().normalizes_where_loaded(), "{d}");
        let got = tower(&d, false);
        let stored = tower(&d, true);
        // f2's backward sums come from conv 3's tiles in the deferred run, from a pass of
        // their own in the stored one: f64 sums in another order, the last bit of a mean.
        assert_eq!(got[..2], stored[..2], "{d}: values, deferred vs stored outputs");
        for (i, (g, s)) in got.iter().zip(&stored).enumerate().skip(2) {
            let worst = g.iter().zip(s).map(|(a, b)| (a - b).abs() / (1e-3 + b.abs())).fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "{d}: gradient {i}, deferred vs stored, differs by {worst:e} (relative)");
        }
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let worst = g.iter().zip(w).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "{d}: output {i} differs from the CPU's by {worst:e} (relative)");
        }
    }
}
