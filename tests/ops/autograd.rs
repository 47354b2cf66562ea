//! The tape: reverse-mode accumulation, stop-gradient, parameter groups, inference.

use crate::common::{cpu, random};
use cari::autograd::{ParamGroup, ParamStore, Tape, Var};
use cari::batch::{Batch, Modality};
use cari::model::{training_objective, MultiTaskNet, NetworkConfig, ObjectiveConfig};
use cari::nn::Ctx;
use cari::ops;
use cari::Tensor;

fn scalar(v: f32) -> Tensor {
    Tensor::scalar(v, &cpu()).unwrap()
}

#[test]
fn a_value_used_twice_accumulates_both_gradients() {
    let tape = Tape::new();
    let x = tape.leaf("x", scalar(3.0));
    // y = x·x + 2x → dy/dx = 2x + 2 = 8
    let y = ops::add(&ops::mul(&x, &x).unwrap(), &ops::affine(&x, 2.0, 0.0).unwrap()).unwrap();
    let g = y.backward().unwrap();
    assert_eq!(g.require("x").unwrap().to_scalar().unwrap(), 8.0);
}

#[test]
fn detach_stops_the_gradient() {
    let tape = Tape::new();
    let x = tape.leaf("x", scalar(3.0));
    // y = x·sg(x) → dy/dx = sg(x) = 3
    let y = ops::mul(&x, &x.detach()).unwrap();
    assert_eq!(y.backward().unwrap().require("x").unwrap().to_scalar().unwrap(), 3.0);
}

#[test]
fn backward_for_returns_only_the_selected_leaves() {
    let tape = Tape::new();
    let a = tape.leaf("a", scalar(2.0));
    let b = tape.leaf("b", scalar(5.0));
    let y = ops::mul(&a, &b).unwrap();
    let g = y.backward_for(|n| n == "b").unwrap();
    assert_eq!(g.len(), 1);
    assert_eq!(g.require("b").unwrap().to_scalar().unwrap(), 2.0);
    assert!(g.get("a").is_none());
}

#[test]
fn a_non_scalar_loss_is_refused() {
    let tape = Tape::new();
    let x = tape.leaf("x", random([2, 3], 1));
    let err = ops::relu(&x).unwrap().backward().err().unwrap();
    assert!(err.to_string().contains("exactly one element"), "{err}");
}

#[test]
fn constants_record_nothing() {
    let x = Var::constant(random([2, 3], 1));
    let y = ops::relu(&ops::affine(&x, 2.0, 1.0).unwrap()).unwrap();
    assert!(!y.is_recorded());
}

fn small_setup() -> (MultiTaskNet, ParamStore, Batch) {
    let net =
        MultiTaskNet::new(NetworkConfig { image_size: 75, num_classes: 4, width_divisor: 16, ..Default::default() })
            .unwrap();
    let params = net.init_params(3, &cpu()).unwrap();
    let batch = Batch::new(
        random([4, 75, 75, 3], 9),
        vec![0, 1, 2, 3],
        vec![Modality::Photo, Modality::Caricature, Modality::Photo, Modality::Caricature],
    )
    .unwrap();
    (net, params, batch)
}

#[test]
fn the_two_objectives_update_disjoint_groups_from_one_forward() {
    let (net, params, batch) = small_setup();
    let tape = Tape::new();
    let ctx = Ctx::train(&params, &tape);
    let out = training_objective(&net, &ctx, &batch, 7, &ObjectiveConfig::default()).unwrap();
    let recorded = tape.len();
    let g_net = out.loss.backward().unwrap();
    let g_w = out.loss_w.as_ref().unwrap().backward().unwrap();
    assert_eq!(tape.len(), recorded, "backward records nothing");
    // Even asked for every leaf, L reaches only θ and L_w only ψ: the stop-gradients
    // of eq. 11–12 are in the graph, not in the caller's selection.
    for (name, _) in g_net.iter() {
        assert_eq!(params.group(name).unwrap(), ParamGroup::Network, "L reached {name}");
    }
    for (name, _) in g_w.iter() {
        assert_eq!(params.group(name).unwrap(), ParamGroup::WeightModule, "L_w reached {name}");
    }
    assert_eq!(g_net.len(), params.names_in(ParamGroup::Network).len());
    assert_eq!(g_w.len(), 2);
}

#[test]
fn the_reference_gradient_path_reaches_the_trunk_through_w() {
    let (net, params, batch) = small_setup();
    let grad_of = |reference_gradient_path: bool| {
        let tape = Tape::new();
        let ctx = Ctx::train(&params, &tape);
        let obj = ObjectiveConfig { reference_gradient_path, ..Default::default() };
        let out = training_objective(&net, &ctx, &batch, 7, &obj).unwrap();
        let g = out.loss.backward_for(params.in_group(ParamGroup::Network)).unwrap();
        g.require("InceptionResnetV1/Conv2d_1a_3x3/weights").unwrap().to_vec().unwrap()
    };
    let (paper, reference) = (grad_of(false), grad_of(true));
    let diff: f32 = paper.iter().zip(&reference).map(|(a, b)| (a - b).abs()).sum();
    assert!(diff > 0.0, "the extra path through w changed nothing");
}

#[test]
fn inference_records_nothing() {
    let (net, params, batch) = small_setup();
    let ctx = Ctx::infer(&params);
    let z = net.trunk_forward(&ctx, &Var::constant(batch.images.clone())).unwrap();
    assert!(!z.is_recorded());
    let e = net.embed(&params, &batch.images).unwrap();
    assert_eq!(e.dims(), &[4, net.embedding_dim()]);
    // Rows are unit length.
    for row in e.to_vec().unwrap().chunks(net.embedding_dim()) {
        let n: f32 = row.iter().map(|v| v * v).sum();
        assert!((n - 1.0).abs() < 1e-4);
    }
}
