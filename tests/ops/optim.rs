//! The SGD-with-momentum optimizer: the update rule, clipping, and that its in-place
//! update never changes a tensor someone else still holds.

use crate::common::cpu;
use cari::autograd::{ParamGroup, ParamStore, Tape, Var};
use cari::ops;
use cari::optim::{Optimizer, OptimizerConfig, Rule};
use cari::Tensor;

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
    let mut sgd =
        Optimizer::new(OptimizerConfig { rule: Rule::Sgd { momentum: 0.9 }, max_grad_norm: None, weight_decay: 0.0 });
    let g = [0.2f32, -0.4];
    for _ in 0..2 {
        let grads = grads_of_dot(&params, &g);
        sgd.step(&mut params, &grads, 0.5).unwrap();
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
    let mut sgd = Optimizer::new(OptimizerConfig::new(Rule::Sgd { momentum: 0.0 }));
    // ‖(30, 40)‖ = 50 → scaled by 5/50 to (3, 4); w = 0 − 1·(3, 4).
    let grads = grads_of_dot(&params, &[30.0, 40.0]);
    sgd.step(&mut params, &grads, 1.0).unwrap();
    let w = params.get("w").unwrap().to_vec().unwrap();
    assert!((w[0] + 3.0).abs() < 1e-5 && (w[1] + 4.0).abs() < 1e-5, "{w:?}");
}

fn optimizer(rule: Rule) -> Optimizer {
    Optimizer::new(OptimizerConfig { rule, max_grad_norm: None, weight_decay: 0.0 })
}

fn one_param(values: &[f32]) -> ParamStore {
    let mut params = ParamStore::new();
    params.insert("w", Tensor::from_slice(values, [values.len()], &cpu()).unwrap(), ParamGroup::Network).unwrap();
    params
}

#[test]
fn rmsprop_follows_tf_with_the_mean_square_starting_at_one() {
    let mut params = one_param(&[1.0, -1.0]);
    let mut opt = optimizer(Rule::REFERENCE_RMSPROP);
    let g = [0.5f32, -2.0];
    let (mut ms, mut mom, mut w) = ([1.0f64; 2], [0.0f64; 2], [1.0f64, -1.0]);
    for _ in 0..3 {
        let grads = grads_of_dot(&params, &g);
        opt.step(&mut params, &grads, 0.1).unwrap();
        for i in 0..2 {
            let gi = f64::from(g[i]);
            ms[i] = 0.9 * ms[i] + 0.1 * gi * gi;
            mom[i] = 0.9 * mom[i] + 0.1 * gi / (ms[i] + 1.0).sqrt();
            w[i] -= mom[i];
        }
    }
    let got = params.get("w").unwrap().to_vec().unwrap();
    for (a, b) in got.iter().zip(&w) {
        assert!((f64::from(*a) - b).abs() < 1e-6, "{got:?} vs {w:?}");
    }
    let state = opt.state_tensors("opt");
    let names: Vec<&str> = state.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["opt/mean_square/w", "opt/momentum/w"]);
    let ms_got = state[0].1.to_vec().unwrap();
    assert!((f64::from(ms_got[1]) - ms[1]).abs() < 1e-6, "{ms_got:?} vs {ms:?}");
}

#[test]
fn adam_takes_bias_corrected_steps() {
    let mut params = one_param(&[0.0]);
    let mut opt = optimizer(Rule::Adam { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 });
    // With a constant gradient the bias-corrected m/√v is 1: each step moves lr.
    for step in 1..=3 {
        let grads = grads_of_dot(&params, &[0.3]);
        opt.step(&mut params, &grads, 0.01).unwrap();
        let w = params.get("w").unwrap().to_vec().unwrap()[0];
        assert!((w + 0.01 * step as f32).abs() < 1e-5, "step {step}: {w}");
    }
}

#[test]
fn weight_decay_applies_to_kernels_only() {
    let mut params = ParamStore::new();
    for name in ["conv/weights", "conv/beta"] {
        params.insert(name, Tensor::from_slice(&[2.0], [1], &cpu()).unwrap(), ParamGroup::Network).unwrap();
    }
    let mut opt =
        Optimizer::new(OptimizerConfig { rule: Rule::Sgd { momentum: 0.0 }, max_grad_norm: None, weight_decay: 0.5 });
    let tape = Tape::new();
    let loss =
        ops::add(&params.var(Some(&tape), "conv/weights").unwrap(), &params.var(Some(&tape), "conv/beta").unwrap())
            .unwrap();
    let grads = ops::sum(&loss).unwrap().backward().unwrap();
    drop((loss, tape));
    let stats = opt.step(&mut params, &grads, 0.1).unwrap();
    // weights: g = 1 + 0.5·2 = 2 → 2 − 0.1·2; beta: g = 1 → 2 − 0.1.
    assert!((params.get("conv/weights").unwrap().to_vec().unwrap()[0] - 1.8).abs() < 1e-6);
    assert!((params.get("conv/beta").unwrap().to_vec().unwrap()[0] - 1.9).abs() < 1e-6);
    assert!((stats.grad_norm - 5f32.sqrt()).abs() < 1e-6, "{stats:?}");
}

#[test]
fn restored_state_continues_exactly() {
    let g = [0.7f32, -0.2, 1.5];
    let run = |split: bool| {
        let mut params = one_param(&[0.1, 0.2, 0.3]);
        let mut opt = optimizer(Rule::Adam { beta1: 0.9, beta2: 0.999, epsilon: 0.1 });
        for step in 0..4 {
            if split && step == 2 {
                let state = opt.state_tensors("opt");
                let steps = opt.steps();
                opt = optimizer(Rule::Adam { beta1: 0.9, beta2: 0.999, epsilon: 0.1 });
                let lookup = |n: &str| Ok(state.iter().find(|(k, _)| k == n).map(|(_, t)| t.clone()));
                opt.restore("opt", steps, &["w".to_string()], lookup).unwrap();
            }
            let grads = grads_of_dot(&params, &g);
            opt.step(&mut params, &grads, 0.05).unwrap();
        }
        params.get("w").unwrap().to_vec().unwrap()
    };
    assert_eq!(run(false), run(true));
}
