//! The SGD-with-momentum optimizer: the update rule, clipping, and that its in-place
//! update never changes a tensor someone else still holds.

mod common;

use cari::autograd::{ParamGroup, ParamStore, Tape, Var};
use cari::ops;
use cari::optim::Sgd;
use cari::Tensor;
use common::cpu;

/// Gradients of ⟨w, x⟩ with respect to `w`: exactly `x`.
fn grads_of_dot(params: &ParamStore, x: &[f32]) -> cari::autograd::Gradients {
    let tape = Tape::new();
    let w = params.var(Some(&tape), "w").unwrap();
    let x = Var::constant(Tensor::from_slice(x, [x.len()], &cpu()).unwrap());
    ops::sum(&ops::mul(&w, &x).unwrap()).unwrap().backward().unwrap()
}

#[test]
fn momentum_update_follows_the_rule_and_leaves_shared_tensors_alone() {
    let mut params = ParamStore::new();
    params.insert("w", Tensor::from_slice(&[1.0, 2.0], [2], &cpu()).unwrap(), ParamGroup::Network).unwrap();
    let before = params.get("w").unwrap().clone();
    let mut sgd = Sgd::new(0.5, 0.9, None);
    let g = [0.2f32, -0.4];
    for _ in 0..2 {
        let grads = grads_of_dot(&params, &g);
        sgd.step(&mut params, &grads).unwrap();
    }
    // v1 = g, w1 = w0 − lr·g; v2 = 0.9·g + g, w2 = w1 − lr·1.9·g.
    let expected: Vec<f32> = [1.0f32, 2.0].iter().zip(&g).map(|(w, g)| w - 0.5 * g - 0.5 * (0.9 * g + g)).collect();
    let got = params.get("w").unwrap().to_vec().unwrap();
    for (a, b) in got.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-6, "{got:?} vs {expected:?}");
    }
    assert_eq!(before.to_vec().unwrap(), vec![1.0, 2.0], "a tensor sharing the old storage changed");
}

#[test]
fn clipping_scales_to_the_global_norm() {
    let mut params = ParamStore::new();
    params.insert("w", Tensor::from_slice(&[0.0, 0.0], [2], &cpu()).unwrap(), ParamGroup::Network).unwrap();
    let mut sgd = Sgd::new(1.0, 0.0, Some(5.0));
    // ‖(30, 40)‖ = 50 → scaled by 5/50 to (3, 4); w = 0 − 1·(3, 4).
    let grads = grads_of_dot(&params, &[30.0, 40.0]);
    sgd.step(&mut params, &grads).unwrap();
    let w = params.get("w").unwrap().to_vec().unwrap();
    assert!((w[0] + 3.0).abs() < 1e-5 && (w[1] + 4.0).abs() < 1e-5, "{w:?}");
}
