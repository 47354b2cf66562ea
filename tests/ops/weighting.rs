//! The weighting strategies: the paper's analytic claim about the dynamic and naive
//! weight-module objectives, their gradient against finite differences, and what each
//! strategy trains.

use crate::common::{cpu, random};
use cari::autograd::{ParamGroup, ParamStore, Tape, Var};
use cari::batch::{Batch, Modality, Task};
use cari::model::{
    training_objective, weight_objective, MultiTaskNet, NetworkConfig, ObjectiveConfig, WeightModule, Weighting,
    LOG_VARIANCE,
};
use cari::nn::{init_params, Ctx};
use cari::optim::{Optimizer, OptimizerConfig, Rule};
use cari::Tensor;

const Z_FEATURES: usize = 24;
const SIGMA: f32 = 0.01;

fn weight_module(tasks: usize) -> (WeightModule, ParamStore, Var) {
    let module = WeightModule::new(Z_FEATURES, tasks, 1.0);
    let mut specs = Vec::new();
    module.declare(&mut specs);
    let params = init_params(specs, 11, &cpu()).unwrap();
    (module, params, Var::constant(random([6, Z_FEATURES], 5)))
}

fn constant_losses(values: &[(Task, f32)]) -> Vec<(Task, Var)> {
    values.iter().map(|&(t, l)| (t, Var::constant(Tensor::scalar(l, &cpu()).unwrap()))).collect()
}

/// w after `steps` SGD updates of the weight module on its objective, with the task
/// losses held fixed.
fn weights_after(weighting: Weighting, losses: &[(Task, f32)], steps: usize) -> Vec<f32> {
    let (module, mut params, z) = weight_module(losses.len());
    let losses = constant_losses(losses);
    let mut opt =
        Optimizer::new(OptimizerConfig { rule: Rule::Sgd { momentum: 0.0 }, max_grad_norm: None, weight_decay: 0.0 });
    for _ in 0..steps {
        let grads = {
            let tape = Tape::new();
            let ctx = Ctx::train(&params, &tape);
            let w = module.forward(&ctx, &z).unwrap();
            weight_objective(weighting, &w.weights, &losses, SIGMA).unwrap().unwrap().backward().unwrap()
        };
        opt.step(&mut params, &grads, 0.5).unwrap();
    }
    let ctx = Ctx::infer(&params);
    module.forward(&ctx, &z).unwrap().weights.value().to_vec().unwrap()
}

#[test]
fn dynamic_weighting_raises_the_harder_task_and_naive_lowers_it() {
    // Two tasks, L1 > L2.
    let losses = [(Task::Verification, 2.0), (Task::PhotoId, 0.5)];
    let start = weights_after(Weighting::Dynamic, &losses, 0);
    let dynamic = weights_after(Weighting::Dynamic, &losses, 200);
    let naive = weights_after(Weighting::Naive, &losses, 200);
    assert!(dynamic[0] > dynamic[1] && dynamic[0] > start[0], "dynamic: {start:?} → {dynamic:?}");
    assert!(naive[0] < naive[1] && naive[0] < start[0], "naive: {start:?} → {naive:?}");
    // The same with the three tasks: the largest loss gets the largest dynamic weight.
    let three = [(Task::Verification, 0.4), (Task::PhotoId, 0.3), (Task::CaricatureId, 3.0)];
    let w = weights_after(Weighting::Dynamic, &three, 200);
    assert!(w[2] > w[0] && w[2] > w[1], "{w:?}");
    let w = weights_after(Weighting::Naive, &three, 200);
    assert!(w[2] < w[0] && w[2] < w[1], "{w:?}");
}

/// L_w's gradient with respect to every weight-module parameter, against central
/// differences along random directions (f64 on the host).
#[test]
fn weight_module_gradient_matches_finite_differences() {
    for weighting in [Weighting::Dynamic, Weighting::Naive] {
        let (module, params, z) = weight_module(3);
        let losses = constant_losses(&[(Task::Verification, 1.3), (Task::PhotoId, 0.2), (Task::CaricatureId, 2.1)]);
        let objective = |p: &ParamStore| -> f64 {
            let ctx = Ctx::infer(p);
            let w = module.forward(&ctx, &z).unwrap();
            f64::from(
                weight_objective(weighting, &w.weights, &losses, SIGMA).unwrap().unwrap().value().to_scalar().unwrap(),
            )
        };
        let tape = Tape::new();
        let ctx = Ctx::train(&params, &tape);
        let w = module.forward(&ctx, &z).unwrap();
        let grads = weight_objective(weighting, &w.weights, &losses, SIGMA).unwrap().unwrap().backward().unwrap();
        for (i, name) in params.names_in(ParamGroup::WeightModule).iter().enumerate() {
            let value = params.get(name).unwrap();
            let direction = random(value.shape().clone(), 40 + i as u64).to_vec().unwrap();
            let g = grads.require(name).unwrap().to_vec().unwrap();
            let analytic: f64 = g.iter().zip(&direction).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
            let eps = 2e-3f32;
            let shifted = |sign: f32| {
                let mut p = params.clone();
                let v: Vec<f32> =
                    value.to_vec().unwrap().iter().zip(&direction).map(|(x, d)| x + sign * eps * d).collect();
                p.set(name, Tensor::from_vec(v, value.shape().clone(), &cpu()).unwrap()).unwrap();
                objective(&p)
            };
            let numeric = (shifted(1.0) - shifted(-1.0)) / (2.0 * f64::from(eps));
            let err = (analytic - numeric).abs();
            assert!(
                err <= 2e-3 * (1.0 + analytic.abs()),
                "{weighting} {name}: analytic {analytic:.6e} numeric {numeric:.6e}"
            );
        }
    }
}

fn small_setup() -> (MultiTaskNet, ParamStore, Batch) {
    let net =
        MultiTaskNet::new(NetworkConfig { image_size: 75, num_classes: 4, width_divisor: 16, ..Default::default() })
            .unwrap();
    let params = net.init_params(3, &cpu()).unwrap();
    let modalities = vec![Modality::Photo, Modality::Caricature, Modality::Photo, Modality::Caricature];
    let batch = Batch::new(random([4, 75, 75, 3], 9), vec![0, 1, 2, 3], modalities).unwrap();
    (net, params, batch)
}

#[test]
fn single_and_fixed_weighting_run_only_their_branches() {
    let (net, params, batch) = small_setup();
    for (weighting, runs) in [
        (Weighting::Single(Task::CaricatureId), [false, false, true]),
        (Weighting::Fixed([0.5, 0.0, 2.0]), [true, false, true]),
    ] {
        let tape = Tape::new();
        let ctx = Ctx::train(&params, &tape);
        let obj = ObjectiveConfig { weighting, ..Default::default() };
        let out = training_objective(&net, &ctx, &batch, 7, &obj).unwrap();
        let losses = out.task_losses().unwrap();
        assert_eq!(losses.map(|l| l.is_some()), runs, "{weighting}");
        assert!(out.loss_w.is_none());
        let w: [f32; 3] = match weighting {
            Weighting::Fixed(w) => w,
            _ => [0.0, 0.0, 1.0],
        };
        assert_eq!(out.weights.weights.value().to_vec().unwrap(), w);
        let expected: f32 = losses.iter().zip(w).map(|(l, w)| l.unwrap_or(0.0) * w).sum();
        let loss = out.loss.value().to_scalar().unwrap();
        assert!((loss - expected).abs() <= 1e-6 * expected.abs(), "{weighting}: {loss} vs {expected}");
        let grads = out.loss.backward().unwrap();
        for (name, _) in grads.iter() {
            assert_eq!(params.group(name).unwrap(), ParamGroup::Network, "{weighting} reached {name}");
            assert!(
                !name.starts_with("Branch_2") || runs[1],
                "{weighting}: a branch that did not run has gradient {name}"
            );
        }
    }
}

#[test]
fn uncertainty_weighting_learns_log_variances_on_the_network_objective() {
    let (net, mut params, batch) = small_setup();
    params.insert(LOG_VARIANCE, Tensor::zeros([3], &cpu()).unwrap(), ParamGroup::WeightModule).unwrap();
    let tape = Tape::new();
    let ctx = Ctx::train(&params, &tape);
    let obj = ObjectiveConfig { weighting: Weighting::Uncertainty, ..Default::default() };
    let out = training_objective(&net, &ctx, &batch, 7, &obj).unwrap();
    assert_eq!(out.weights.weights.value().to_vec().unwrap(), [1.0; 3], "w = e^(−s) at s = 0");
    let losses = out.task_losses().unwrap().map(Option::unwrap);
    let grads = out.loss.backward().unwrap();
    // ∂/∂s_t (e^(−s_t)·L_t + ½·s_t) = ½ − L_t at s = 0.
    let g = grads.require(LOG_VARIANCE).unwrap().to_vec().unwrap();
    for t in 0..3 {
        assert!((g[t] - (0.5 - losses[t])).abs() < 1e-5, "task {t}: {g:?} vs losses {losses:?}");
    }
    assert!(grads.get("Logits_lossweights/weights").is_none(), "the weight module is not used");
}
