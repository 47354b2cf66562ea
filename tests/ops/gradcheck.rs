//! Finite-difference gradient checks of every op through the tape, on random shapes
//! including awkward ones (batch 1, primes, 1×1 spatial).

use crate::common::{away_from_zero, cpu, distinct, gradcheck, random};
use cari::autograd::Var;
use cari::ops::{self, Activation, Conv2dSpec, Padding};
use cari::Tensor;

// Step and tolerance for smooth ops: with values O(1), a central difference of step 1e-2
// has truncation error ~1e-4·|f'''| and f32 rounding noise ~1e-7/1e-2 per term summed
// over the output; 2e-3 relative leaves room for both.
const EPS: f32 = 1e-2;
const TOL: f64 = 2e-3;

#[test]
fn conv2d_every_kernel_stride_and_padding() {
    // (input NHWC, kernel, out channels, stride, padding)
    type Case = ([usize; 4], (usize, usize), usize, usize, Padding);
    let cases: &[Case] = &[
        ([2, 5, 7, 3], (1, 1), 4, 1, Padding::Same),
        ([1, 7, 5, 2], (3, 3), 3, 1, Padding::Same),
        ([2, 7, 7, 3], (3, 3), 5, 1, Padding::Valid),
        ([1, 8, 8, 2], (3, 3), 3, 2, Padding::Same),
        ([1, 9, 9, 2], (3, 3), 3, 2, Padding::Same),
        ([2, 9, 8, 3], (3, 3), 2, 2, Padding::Valid),
        ([1, 5, 11, 2], (1, 7), 3, 1, Padding::Same),
        ([1, 11, 5, 2], (7, 1), 3, 1, Padding::Same),
        ([2, 3, 3, 5], (1, 3), 4, 1, Padding::Same),
        ([2, 3, 3, 5], (3, 1), 4, 1, Padding::Same),
        ([1, 1, 1, 3], (3, 3), 2, 1, Padding::Same),
        ([3, 1, 1, 7], (1, 1), 1, 1, Padding::Valid),
    ];
    for (i, &(x, (kh, kw), co, stride, padding)) in cases.iter().enumerate() {
        let inputs = [random(x, i as u64), random([kh, kw, x[3], co], 100 + i as u64)];
        gradcheck(
            &format!("conv2d {x:?} {kh}x{kw}/{stride} {padding:?}"),
            &inputs,
            |v| ops::conv2d(&v[0], &v[1], Conv2dSpec { stride, padding }),
            EPS,
            TOL,
        );
    }
}

#[test]
fn batch_norm_training_and_inference() {
    for (i, shape) in [[2, 3, 5, 4], [1, 1, 7, 3], [3, 2, 2, 1]].into_iter().enumerate() {
        let c = shape[3];
        let inputs = [random(shape, i as u64), random([c], 50 + i as u64)];
        gradcheck(
            &format!("batch_norm_train {shape:?}"),
            &inputs,
            |v| Ok(ops::batch_norm_train(&v[0], &v[1], 1e-3, Activation::Identity)?.0),
            EPS,
            TOL,
        );
        let mean = random([c], 60);
        let var = Tensor::from_vec((0..c).map(|j| 0.5 + j as f32 * 0.3).collect(), [c], &cpu()).unwrap();
        gradcheck(
            &format!("batch_norm_infer {shape:?}"),
            &inputs,
            |v| ops::batch_norm_infer(&v[0], &v[1], &mean, &var, 1e-3, Activation::Identity),
            EPS,
            TOL,
        );
    }
}

#[test]
fn relu_and_residual() {
    let x = away_from_zero([2, 3, 5, 7], 1);
    gradcheck("relu", &[x], |v| ops::relu(&v[0]), EPS, TOL);
    let inputs = [random([1, 3, 3, 5], 2), random([1, 3, 3, 5], 3)];
    gradcheck("add_scaled", &inputs, |v| ops::add_scaled(&v[0], &v[1], 0.17), EPS, TOL);
}

#[test]
fn pooling() {
    // Distinct values 0.05 apart: a step of 1e-2 along a unit direction never swaps the
    // order within a window.
    for (i, shape) in [[2, 7, 9, 3], [1, 3, 3, 1], [1, 8, 8, 2]].into_iter().enumerate() {
        let x = distinct(shape, i as u64, 0.05);
        gradcheck(&format!("max_pool2d {shape:?}"), &[x], |v| ops::max_pool2d(&v[0], 3, 2), 1e-3, TOL);
    }
    for shape in [[2, 3, 3, 5], [1, 1, 1, 7]] {
        gradcheck(
            &format!("global_avg_pool {shape:?}"),
            &[random(shape, 4)],
            |v| ops::global_avg_pool(&v[0]),
            EPS,
            TOL,
        );
    }
}

#[test]
fn layout_ops() {
    let inputs = [random([2, 3, 3, 5], 1), random([2, 3, 3, 1], 2), random([2, 3, 3, 7], 3)];
    gradcheck("concat", &inputs, |v| ops::concat_channels(&[&v[0], &v[1], &v[2]]), EPS, TOL);
    gradcheck("slice", &[random([3, 2, 2, 7], 4)], |v| ops::slice_channels(&v[0], 2, 3), EPS, TOL);
    gradcheck("gather_rows", &[random([5, 3], 5)], |v| ops::gather_rows(&v[0], &[4, 0, 4, 2]), EPS, TOL);
    gradcheck("element", &[random([3], 6)], |v| ops::element(&v[0], 2), EPS, TOL);
    gradcheck("reshape", &[random([2, 3, 5], 7)], |v| ops::reshape(&v[0], [6, 5]), EPS, TOL);
}

#[test]
fn dense_ops() {
    let inputs = [random([3, 7], 1), random([7, 5], 2), random([5], 3)];
    gradcheck("linear", &inputs, |v| ops::linear(&v[0], &v[1], &v[2], Activation::Identity), EPS, TOL);
    // With the ReLU: inputs away from the kink (a large positive bias keeps most outputs
    // clear of 0, a few negative ones clear of it too).
    let relu_inputs = [away_from_zero([3, 7], 1), random([7, 5], 2), away_from_zero([5], 3)];
    gradcheck("linear relu", &relu_inputs, |v| ops::linear(&v[0], &v[1], &v[2], Activation::Relu), EPS, TOL);
    let inputs = [random([1, 13], 4), random([13, 1], 5)];
    gradcheck("matmul 1x13x1", &inputs, |v| ops::matmul(&v[0], &v[1]), EPS, TOL);
}

#[test]
fn elementwise_arithmetic_and_reductions() {
    let a = random([3, 5], 1);
    let b =
        Tensor::from_vec(away_from_zero([3, 5], 2).to_vec().unwrap().iter().map(|v| v * 2.0).collect(), [3, 5], &cpu())
            .unwrap();
    let ab = [a.clone(), b.clone()];
    gradcheck("add", &ab, |v| ops::add(&v[0], &v[1]), EPS, TOL);
    gradcheck("sub", &ab, |v| ops::sub(&v[0], &v[1]), EPS, TOL);
    gradcheck("mul", &ab, |v| ops::mul(&v[0], &v[1]), EPS, TOL);
    gradcheck("div", &ab, |v| ops::div(&v[0], &v[1]), 1e-3, TOL);
    gradcheck("affine", std::slice::from_ref(&a), |v| ops::affine(&v[0], -1.7, 0.3), EPS, TOL);
    gradcheck("exp", std::slice::from_ref(&a), |v| ops::exp(&v[0]), EPS, TOL);
    gradcheck("sum", std::slice::from_ref(&a), |v| ops::sum(&v[0]), EPS, TOL);
    gradcheck("mean", std::slice::from_ref(&a), |v| ops::mean(&v[0]), EPS, TOL);
    gradcheck("mean_rows", std::slice::from_ref(&a), |v| ops::mean_rows(&v[0]), EPS, TOL);
    gradcheck("add_bias", &[a, random([5], 3)], |v| ops::add_bias(&v[0], &v[1]), EPS, TOL);
}

#[test]
fn dropout_routes_gradients_through_the_mask() {
    gradcheck("dropout", &[random([7, 11], 1)], |v| ops::dropout(&v[0], 0.5, 99), EPS, TOL);
}

#[test]
fn normalisation_and_losses() {
    for shape in [[3, 5], [1, 1], [2, 13]] {
        let x = away_from_zero(shape, 1);
        gradcheck(
            &format!("l2_normalize {shape:?}"),
            std::slice::from_ref(&x),
            |v| ops::l2_normalize(&v[0], 1e-10),
            1e-3,
            TOL,
        );
        gradcheck(&format!("softmax {shape:?}"), &[x], |v| ops::softmax(&v[0]), EPS, TOL);
    }
    let logits = random([4, 7], 2);
    gradcheck("softmax_cross_entropy", &[logits], |v| ops::softmax_cross_entropy(&v[0], &[6, 0, 3, 3]), EPS, TOL);
    let centers = random([5, 3], 3);
    gradcheck("center_loss", &[random([4, 3], 4)], |v| ops::center_loss(&v[0], &centers, &[4, 0, 4, 1]), EPS, TOL);
}

#[test]
fn composed_block_matches_finite_differences() {
    // A residual block in miniature: conv → BN → ReLU twice, concat, 1×1 up with bias,
    // scaled residual, ReLU — every op's backward chained through the tape.
    let x = random([2, 5, 5, 4], 1);
    let w0 = random([1, 1, 4, 3], 2);
    let w1 = random([3, 3, 4, 2], 3);
    let up = random([1, 1, 5, 4], 4);
    let (b0, b1, bias) = (random([3], 5), random([2], 6), random([4], 7));
    let f = |v: &[Var]| {
        let same = Conv2dSpec { stride: 1, padding: Padding::Same };
        let t0 =
            ops::relu(&ops::batch_norm_train(&ops::conv2d(&v[0], &v[1], same)?, &v[4], 1e-3, Activation::Identity)?.0)?;
        let t1 =
            ops::relu(&ops::batch_norm_train(&ops::conv2d(&v[0], &v[2], same)?, &v[5], 1e-3, Activation::Identity)?.0)?;
        let mixed = ops::concat_channels(&[&t0, &t1])?;
        let u = ops::add_bias(&ops::conv2d(&mixed, &v[3], same)?, &v[6])?;
        ops::add_scaled(&v[0], &u, 0.17)
    };
    gradcheck("residual block", &[x, w0, w1, up, b0, b1, bias], f, 1e-3, 5e-3);
}

#[test]
fn fused_batch_norm_relu_equals_batch_norm_then_relu() {
    // The fused op must be the composition, bit for bit, forward and backward, in both
    // modes (its own finite-difference check is the composition's: relu and batch norm
    // are each checked above).
    use cari::autograd::Tape;
    let x = random([2, 5, 3, 7], 1);
    let beta = random([7], 2);
    let mean = random([7], 3);
    let var = Tensor::from_vec((0..7).map(|j| 0.5 + j as f32 * 0.2).collect(), [7], &cpu()).unwrap();
    let dy = random([2, 5, 3, 7], 4);
    let run = |fused: bool, train: bool| {
        let tape = Tape::new();
        let (xv, bv) = (tape.leaf("x", x.clone()), tape.leaf("beta", beta.clone()));
        let act = if fused { Activation::Relu } else { Activation::Identity };
        let y = if train {
            ops::batch_norm_train(&xv, &bv, 1e-3, act).unwrap().0
        } else {
            ops::batch_norm_infer(&xv, &bv, &mean, &var, 1e-3, act).unwrap()
        };
        let y = if fused { y } else { ops::relu(&y).unwrap() };
        let g = ops::sum(&ops::mul(&y, &Var::constant(dy.clone())).unwrap()).unwrap().backward().unwrap();
        [
            y.value().to_vec().unwrap(),
            g.require("x").unwrap().to_vec().unwrap(),
            g.require("beta").unwrap().to_vec().unwrap(),
        ]
    };
    for train in [true, false] {
        assert_eq!(run(true, train), run(false, train), "train mode {train}");
    }
}

#[test]
fn residual_tail_matches_finite_differences() {
    // x + scale·(up + bias) kept away from the ReLU's kink.
    let (x, up, bias) = (away_from_zero([2, 3, 3, 5], 1), random([2, 3, 3, 5], 2), random([5], 3));
    for act in [Activation::Relu, Activation::Identity] {
        let inputs = [x.clone(), up.clone(), bias.clone()];
        let f = |v: &[Var]| ops::residual_tail(&v[0], &v[1], &v[2], 0.17, act);
        gradcheck(&format!("residual_tail {act:?}"), &inputs, f, EPS, TOL);
    }
}

#[test]
fn residual_tail_equals_add_bias_add_scaled_relu() {
    // The fused op is the composition, bit for bit, forward and backward.
    use cari::autograd::Tape;
    let (x, up, bias, dy) = (random([2, 4, 3, 6], 1), random([2, 4, 3, 6], 2), random([6], 3), random([2, 4, 3, 6], 4));
    let run = |fused: bool, act: Activation| {
        let tape = Tape::new();
        let (xv, uv, bv) = (tape.leaf("x", x.clone()), tape.leaf("up", up.clone()), tape.leaf("bias", bias.clone()));
        let y = if fused {
            ops::residual_tail(&xv, &uv, &bv, 0.2, act).unwrap()
        } else {
            let y = ops::add_scaled(&xv, &ops::add_bias(&uv, &bv).unwrap(), 0.2).unwrap();
            if act == Activation::Relu {
                ops::relu(&y).unwrap()
            } else {
                y
            }
        };
        value_and_grad_bits(&y, &dy, &["x", "up", "bias"])
    };
    for act in [Activation::Relu, Activation::Identity] {
        assert_eq!(run(true, act), run(false, act), "{act:?}");
    }
}

#[test]
fn conv_bn_train_equals_conv_then_batch_norm() {
    // The training path of a conv + batch norm layer as one op is the composition, bit for
    // bit, forward, statistics and backward (its finite-difference check is the
    // composition's: conv2d and batch norm are each checked above).
    use cari::autograd::Tape;
    let (x, w, beta, dy) = (random([2, 6, 5, 3], 1), random([3, 3, 3, 4], 2), random([4], 3), random([2, 6, 5, 4], 4));
    let spec = Conv2dSpec { stride: 1, padding: Padding::Same };
    let run = |fused: bool| {
        let tape = Tape::new();
        let (xv, wv, bv) = (tape.leaf("x", x.clone()), tape.leaf("w", w.clone()), tape.leaf("beta", beta.clone()));
        let (y, stats) = if fused {
            let (y, stats) = ops::conv_bn_train(&xv.clone().into(), &wv, &bv, spec, 1e-3, Activation::Relu).unwrap();
            (y.var().unwrap(), stats)
        } else {
            ops::batch_norm_train(&ops::conv2d(&xv, &wv, spec).unwrap(), &bv, 1e-3, Activation::Relu).unwrap()
        };
        let mut out = value_and_grad_bits(&y, &dy, &["x", "w", "beta"]);
        out.extend([bits(&stats.mean), bits(&stats.variance)]);
        out
    };
    assert_eq!(run(true), run(false));
}

#[test]
fn task_loss_matches_finite_differences_and_equals_its_composition() {
    use cari::autograd::Tape;
    let (logits, e) = (random([5, 4], 1), random([5, 3], 2));
    let centers = random([4, 3], 3);
    let labels = [2, 0, 3, 3, 1];
    let c = centers.clone();
    gradcheck(
        "task_loss",
        &[logits.clone(), e.clone()],
        move |v| ops::task_loss(&v[0], &v[1], &c, &labels, 0.3),
        EPS,
        TOL,
    );
    let run = |fused: bool| {
        let tape = Tape::new();
        let (lv, ev) = (tape.leaf("logits", logits.clone()), tape.leaf("e", e.clone()));
        let loss = if fused {
            ops::task_loss(&lv, &ev, &centers, &labels, 0.3).unwrap()
        } else {
            let ce = ops::softmax_cross_entropy(&lv, &labels).unwrap();
            let center = ops::center_loss(&ev, &centers, &labels).unwrap();
            ops::mean(&ops::add_scaled(&ce, &center, 0.3).unwrap()).unwrap()
        };
        let g = ops::affine(&loss, 1.7, 0.0).unwrap().backward().unwrap();
        [bits(loss.value()), bits(g.require("logits").unwrap()), bits(g.require("e").unwrap())]
    };
    assert_eq!(run(true), run(false));
}

#[test]
fn weighted_losses_match_finite_differences_and_equal_their_composition() {
    use cari::autograd::Tape;
    let w = Tensor::from_slice(&[0.2, 0.5, 0.3], [3], &cpu()).unwrap();
    let ls: Vec<Tensor> = [1.3f32, 0.7, 2.1].iter().map(|&v| Tensor::from_slice(&[v], [1], &cpu()).unwrap()).collect();
    for term in [ops::LossTerm::Product, ops::LossTerm::Inverse { sigma: 0.01 }] {
        // Tasks 2 and 0 present, in that order.
        let inputs = [w.clone(), ls[2].clone(), ls[0].clone()];
        let f = move |v: &[Var]| ops::weighted_losses(&v[0], &[(2, v[1].clone()), (0, v[2].clone())], term);
        gradcheck(&format!("weighted_losses {term:?}"), &inputs, f, EPS, TOL);
        let run = |fused: bool| {
            let tape = Tape::new();
            let (wv, a, b) = (tape.leaf("w", w.clone()), tape.leaf("a", ls[2].clone()), tape.leaf("b", ls[0].clone()));
            let y = if fused {
                ops::weighted_losses(&wv, &[(2, a.clone()), (0, b.clone())], term).unwrap()
            } else {
                let one = |i: usize, l: &Var| {
                    let w_i = ops::element(&wv, i).unwrap();
                    match term {
                        ops::LossTerm::Product => ops::mul(&w_i, l).unwrap(),
                        ops::LossTerm::Inverse { sigma } => {
                            ops::div(&w_i, &ops::affine(l, 1.0, sigma).unwrap()).unwrap()
                        }
                    }
                };
                ops::add(&one(2, &a), &one(0, &b)).unwrap()
            };
            let g = ops::affine(&y, -1.3, 0.0).unwrap().backward().unwrap();
            [
                bits(y.value()),
                bits(g.require("w").unwrap()),
                bits(g.require("a").unwrap()),
                bits(g.require("b").unwrap()),
            ]
        };
        assert_eq!(run(true), run(false), "{term:?}");
    }
}

#[test]
fn conv_residual_tail_matches_finite_differences_and_equals_its_composition() {
    use cari::autograd::Tape;
    let spec = Conv2dSpec { stride: 1, padding: Padding::Same };
    let (x, mixed, w, bias) =
        (away_from_zero([2, 3, 3, 4], 1), random([2, 3, 3, 5], 2), random([1, 1, 5, 4], 3), random([4], 4));
    for act in [Activation::Relu, Activation::Identity] {
        let inputs = [x.clone(), mixed.clone(), w.clone(), bias.clone()];
        let f = move |v: &[Var]| ops::conv_residual_tail(&v[0], &v[1], &v[2], &v[3], spec, 0.17, act);
        gradcheck(&format!("conv_residual_tail {act:?}"), &inputs, f, EPS, TOL);
        let run = |fused: bool| {
            let tape = Tape::new();
            let names = ["x", "mixed", "w", "bias"];
            let v: Vec<Var> = names.iter().zip(&inputs).map(|(n, t)| tape.leaf(*n, t.clone())).collect();
            let y = if fused {
                ops::conv_residual_tail(&v[0], &v[1], &v[2], &v[3], spec, 0.17, act).unwrap()
            } else {
                ops::residual_tail(&v[0], &ops::conv2d(&v[1], &v[2], spec).unwrap(), &v[3], 0.17, act).unwrap()
            };
            let g = ops::sum(&ops::mul(&y, &y).unwrap()).unwrap().backward().unwrap();
            let mut out = vec![bits(y.value())];
            out.extend(names.iter().map(|n| bits(g.require(n).unwrap())));
            out
        };
        assert_eq!(run(true), run(false), "{act:?}");
    }
}

#[test]
fn weight_head_matches_finite_differences_and_equals_its_composition() {
    use cari::autograd::Tape;
    let (a, bias) = (random([5, 3], 1), random([3], 2));
    let f = |v: &[Var]| ops::weight_head(&v[0], &v[1], 2.0, 1e-10);
    gradcheck("weight_head", &[a.clone(), bias.clone()], f, EPS, TOL);
    let dy = random([5, 3], 3);
    let run = |fused: bool| {
        let tape = Tape::new();
        let (av, bv) = (tape.leaf("a", a.clone()), tape.leaf("bias", bias.clone()));
        let pi = if fused {
            ops::weight_head(&av, &bv, 2.0, 1e-10).unwrap()
        } else {
            let n = ops::l2_normalize(&ops::add_bias(&av, &bv).unwrap(), 1e-10).unwrap();
            ops::softmax(&ops::affine(&n, 2.0, 0.0).unwrap()).unwrap()
        };
        value_and_grad_bits(&pi, &dy, &["a", "bias"])
    };
    assert_eq!(run(true), run(false));
}

#[test]
fn linear_equals_matmul_add_bias_relu() {
    use cari::autograd::Tape;
    let (x, w, b, dy) = (random([6, 9], 1), random([9, 5], 2), random([5], 3), random([6, 5], 4));
    for act in [Activation::Relu, Activation::Identity] {
        let run = |fused: bool| {
            let tape = Tape::new();
            let (xv, wv, bv) = (tape.leaf("x", x.clone()), tape.leaf("w", w.clone()), tape.leaf("b", b.clone()));
            let y = if fused {
                ops::linear(&xv, &wv, &bv, act).unwrap()
            } else {
                let y = ops::add_bias(&ops::matmul(&xv, &wv).unwrap(), &bv).unwrap();
                if act == Activation::Relu {
                    ops::relu(&y).unwrap()
                } else {
                    y
                }
            };
            value_and_grad_bits(&y, &dy, &["x", "w", "b"])
        };
        assert_eq!(run(true), run(false), "{act:?}");
    }
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.to_vec().unwrap().iter().map(|v| v.to_bits()).collect()
}

/// The bits of `y` and of the gradients of the leaves `names` under the loss Σ y·dy: what a
/// fused op and its composition must agree on exactly.
fn value_and_grad_bits(y: &Var, dy: &Tensor, names: &[&str]) -> Vec<Vec<u32>> {
    let g = ops::sum(&ops::mul(y, &Var::constant(dy.clone())).unwrap()).unwrap().backward().unwrap();
    std::iter::once(y.value()).chain(names.iter().map(|n| g.require(n).unwrap())).map(bits).collect()
}
