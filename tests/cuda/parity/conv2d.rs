//! `conv2d` and `conv2d_backward` (each gradient alone and both in one launch) on the network's kernel shapes
//! (1×1, 3×3, 1×7/7×1, 1×3/3×1), SAME and VALID, strides 1–3, batch 1 and 3, channel
//! counts around the 64-wide tile (1, 3, 5, 17, 33, 70), and explicit paddings TF never
//! makes.

use super::harness::{check, cpu, devices, down, fresh_seed, random, up};
use super::matmul::sum_tolerance;
use cari::backend::{Backend, Conv2dBackward, Conv2dGeometry, Conv2dGrads, Padding};
use cari::rng::Rng;
use cari::tensor::Storage;
use cari::Error;

const SAME: Padding = Padding::Same;
const VALID: Padding = Padding::Valid;

/// The gradients `wanted` of one backward pass, as given.
fn backward(
    b: &dyn Backend,
    [x, w, dy]: [&Storage; 3],
    g: &Conv2dGeometry,
    wanted: Conv2dGrads,
) -> cari::Result<(Option<Storage>, Option<Storage>)> {
    b.conv2d_backward(Conv2dBackward { x, w, dy }, g, wanted)
}

/// All three passes of `g` on fresh inputs, against the CPU backend. Each output element
/// is a sum over the forward's patch (kh·kw·in_c), the taps reaching an input pixel
/// (at most kh·kw·out_c) or the output positions (batch·out_h·out_w).
fn case(g: Conv2dGeometry) {
    let x = random(g.input_len(), fresh_seed());
    let w = random(g.weight_len(), fresh_seed());
    let dy = random(g.output_len(), fresh_seed());
    let c = cpu();
    let cb = c.backend();
    let want_y = down(&c, &cb.conv2d((&up(&c, &x)).into(), &up(&c, &w), &g).unwrap());
    let (want_dx, want_dw) = backward(cb, [&up(&c, &x), &up(&c, &w), &up(&c, &dy)], &g, Conv2dGrads::BOTH).unwrap();
    let (want_dx, want_dw) = (down(&c, &want_dx.unwrap()), down(&c, &want_dw.unwrap()));
    let patch = g.kernel_h * g.kernel_w * g.in_c;
    for d in devices() {
        let b = d.backend();
        let (x, w, dy) = (up(&d, &x), up(&d, &w), up(&d, &dy));
        let result =
            |pass: &str, r: cari::Result<Storage>| down(&d, &r.unwrap_or_else(|e| panic!("{pass} {g:?}: {e}")));
        let y = result("conv2d", b.conv2d((&x).into(), &w, &g));
        check(&format!("conv2d {g:?}"), &d, &y, &want_y, sum_tolerance(patch));
        let (taps, rows) = (g.kernel_h * g.kernel_w * g.out_c, g.batch * g.out_h * g.out_w);
        for wanted in [Conv2dGrads::INPUT, Conv2dGrads::WEIGHTS, Conv2dGrads::BOTH] {
            let (dx, dw) = backward(b, [&x, &w, &dy], &g, wanted).unwrap_or_else(|e| panic!("{wanted:?} {g:?}: {e}"));
            assert_eq!((dx.is_some(), dw.is_some()), (wanted.input, wanted.weights), "{wanted:?}");
            if let Some(dx) = dx {
                check(&format!("input gradient ({wanted:?}) {g:?}"), &d, &down(&d, &dx), &want_dx, sum_tolerance(taps));
            }
            if let Some(dw) = dw {
                check(
                    &format!("weight gradient ({wanted:?}) {g:?}"),
                    &d,
                    &down(&d, &dw),
                    &want_dw,
                    sum_tolerance(rows),
                );
            }
        }
    }
}

#[test]
fn pointwise() {
    case(Conv2dGeometry::with_padding(3, (5, 7), 17, 33, (1, 1), (1, 1), SAME));
    case(Conv2dGeometry::with_padding(1, (1, 1), 1, 1, (1, 1), (1, 1), VALID));
    case(Conv2dGeometry::with_padding(1, (4, 3), 70, 5, (1, 1), (1, 1), VALID));
}

#[test]
fn three_by_three_same_and_valid() {
    case(Conv2dGeometry::with_padding(1, (9, 11), 5, 17, (3, 3), (1, 1), SAME));
    case(Conv2dGeometry::with_padding(3, (7, 6), 3, 33, (3, 3), (1, 1), VALID));
    case(Conv2dGeometry::with_padding(1, (1, 1), 3, 2, (3, 3), (1, 1), SAME));
}

#[test]
fn strided() {
    case(Conv2dGeometry::with_padding(3, (9, 8), 3, 17, (3, 3), (2, 2), VALID));
    case(Conv2dGeometry::with_padding(1, (8, 7), 5, 3, (3, 3), (2, 2), SAME));
    case(Conv2dGeometry::with_padding(3, (6, 7), 5, 17, (1, 1), (2, 2), SAME));
    case(Conv2dGeometry::with_padding(1, (11, 13), 1, 1, (5, 2), (3, 2), SAME));
    case(Conv2dGeometry::with_padding(3, (11, 13), 2, 3, (5, 2), (3, 2), VALID));
    case(Conv2dGeometry::with_padding(1, (1, 1), 4, 3, (3, 3), (2, 2), SAME));
}

#[test]
fn asymmetric_kernels() {
    case(Conv2dGeometry::with_padding(1, (9, 8), 33, 17, (1, 7), (1, 1), SAME));
    case(Conv2dGeometry::with_padding(3, (9, 8), 5, 33, (7, 1), (1, 1), SAME));
    case(Conv2dGeometry::with_padding(1, (5, 3), 17, 5, (1, 3), (1, 1), SAME));
    case(Conv2dGeometry::with_padding(3, (3, 4), 3, 17, (3, 1), (1, 1), SAME));
}

/// Paddings TF never makes: wider than the kernel, symmetric, and outputs smaller or
/// larger than the input allows.
#[test]
fn explicit_paddings() {
    let explicit = |pad: usize, k: usize, s: usize, in_hw: usize, out: usize| Conv2dGeometry {
        batch: 3,
        in_h: in_hw,
        in_w: in_hw + 1,
        in_c: 5,
        out_c: 3,
        kernel_h: k,
        kernel_w: k,
        stride_h: s,
        stride_w: s,
        pad_top: pad,
        pad_left: pad,
        out_h: out,
        out_w: out + 1,
    };
    case(explicit(1, 1, 1, 5, 7));
    case(explicit(3, 2, 2, 5, 5));
    case(explicit(1, 3, 1, 6, 4));
    case(explicit(4, 3, 2, 4, 2));
}

/// More than one tile along every GEMM dimension of every pass (rows, channels, depth).
#[test]
fn larger_than_a_tile() {
    case(Conv2dGeometry::with_padding(3, (8, 8), 33, 70, (3, 3), (1, 1), SAME));
}

/// 300 output positions: the weight gradient splits its reduction over two blocks and
/// adds the partials in a second pass.
#[test]
fn weight_grad_over_several_splits() {
    case(Conv2dGeometry::with_padding(3, (10, 10), 5, 17, (3, 3), (1, 1), SAME));
    case(Conv2dGeometry::with_padding(3, (21, 21), 3, 5, (3, 3), (2, 2), VALID));
}

/// The split weight gradient adds its partials in a fixed order, so it is bit-identical
/// across runs and thread orders. Float atomics would fail this on `cuda:0`, where blocks
/// run concurrently in no fixed order (the emulation runs them one after another).
#[test]
fn weight_grad_is_deterministic() {
    let g = Conv2dGeometry::with_padding(3, (12, 12), 7, 9, (3, 3), (1, 1), SAME);
    let x = random(g.input_len(), fresh_seed());
    let dy = random(g.output_len(), fresh_seed());
    let mut runs = Vec::new();
    for d in devices() {
        for _ in 0..2 {
            let w = up(&d, &vec![0.0; g.weight_len()]);
            let (_, dw) = backward(d.backend(), [&up(&d, &x), &w, &up(&d, &dy)], &g, Conv2dGrads::BOTH).unwrap();
            runs.push(down(&d, &dw.unwrap()));
        }
    }
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert!(runs.iter().all(|r| bits(r) == bits(&runs[0])), "weight gradients differ between runs");
}

/// Geometries drawn afresh each run: per axis an input of 1–12, a kernel of 1–5, a stride
/// of 1–3, a padding of 0–4 and any output size the padded input allows; 1–40 channels.
#[test]
fn random_geometries() {
    let mut rng = Rng::new(fresh_seed());
    for _ in 0..40 {
        let mut axis = || {
            let (input, kernel, stride, pad) = (1 + rng.below(12), 1 + rng.below(5), 1 + rng.below(3), rng.below(5));
            let most = (input + 2 * pad).saturating_sub(kernel) / stride + 1;
            (input, kernel, stride, pad, 1 + rng.below(most))
        };
        let (in_h, kernel_h, stride_h, pad_top, out_h) = axis();
        let (in_w, kernel_w, stride_w, pad_left, out_w) = axis();
        let (batch, in_c, out_c) = (1 + rng.below(3), 1 + rng.below(40), 1 + rng.below(40));
        case(Conv2dGeometry {
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
        });
    }
}

#[test]
fn storage_of_another_device_is_refused() {
    let g = Conv2dGeometry::with_padding(1, (3, 3), 2, 2, (3, 3), (1, 1), SAME);
    let on_cpu = |len| up(&cpu(), &random(len, fresh_seed()));
    for d in devices() {
        let b = d.backend();
        let here = |len| up(&d, &random(len, fresh_seed()));
        let errors = [
            ("conv2d", b.conv2d((&on_cpu(g.input_len())).into(), &here(g.weight_len()), &g).err()),
            (
                "conv2d_backward",
                backward(
                    b,
                    [&here(g.input_len()), &on_cpu(g.weight_len()), &here(g.output_len())],
                    &g,
                    Conv2dGrads::INPUT,
                )
                .err(),
            ),
            (
                "conv2d_backward",
                backward(
                    b,
                    [&here(g.input_len()), &here(g.weight_len()), &on_cpu(g.output_len())],
                    &g,
                    Conv2dGrads::BOTH,
                )
                .err(),
            ),
        ];
        for (op, err) in errors {
            let err = err.unwrap_or_else(|| panic!("{op}: CPU storage on {d} must fail"));
            assert!(matches!(err, Error::Backend { op: o, .. } if o == op), "{err:?}");
            assert!(err.to_string().contains(&d.name()) && err.to_string().contains("CPU"), "{err}");
        }
    }
}

/// The forward pass with its output's batch statistics from the same launch: `y` is the
/// plain forward's bit for bit, and the statistics are `batch_norm_stats` of it to the
/// rounding of f64 sums taken in another order (one f32 ulp).
#[test]
fn forward_with_batch_statistics() {
    use cari::backend::Rows;
    // One tile, several row tiles and column tiles (out_c 70 > 64), a 1×1 and a strided 3×3.
    let cases = [
        Conv2dGeometry::with_padding(1, (3, 3), 2, 5, (3, 3), (1, 1), SAME),
        Conv2dGeometry::with_padding(3, (17, 13), 5, 70, (1, 1), (1, 1), SAME),
        Conv2dGeometry::with_padding(2, (15, 16), 3, 33, (3, 3), (2, 2), VALID),
    ];
    for g in cases {
        let (x, w) = (random(g.input_len(), fresh_seed()), random(g.weight_len(), fresh_seed()));
        let shape = Rows { rows: g.batch * g.out_h * g.out_w, cols: g.out_c };
        for d in devices() {
            let b = d.backend();
            let (x, w) = (up(&d, &x), up(&d, &w));
            let (y, mean, var) =
                b.conv2d_with_stats((&x).into(), &w, &g).unwrap_or_else(|e| panic!("{g:?} on {d}: {e}"));
            let plain = b.conv2d((&x).into(), &w, &g).unwrap();
            assert_eq!(down(&d, &y), down(&d, &plain), "{g:?} on {d}: y differs from the plain forward");
            let (want_mean, want_var) = b.batch_norm_stats(&plain, shape).unwrap();
            let ulp = super::harness::Tolerance {
                atol: 1e-7,
                rtol: 1.2e-7,
                reason: "f64 sums in another order, one f32 rounding",
            };
            check(&format!("mean {g:?}"), &d, &down(&d, &mean), &down(&d, &want_mean), ulp);
            check(&format!("var {g:?}"), &d, &down(&d, &var), &down(&d, &want_var), ulp);
        }
    }
}

/// The backward pass of a convolution and the training batch norm after it, with the batch
/// norm's dx computed in the convolution's loaders: bit for bit the separate batch-norm
/// backward followed by `conv2d_backward` on the same device, and the CPU's to the
/// convolution's tolerance.
#[test]
fn backward_through_a_batch_norm() {
    use cari::backend::{Activation, BatchNorm, BatchNormGeometry, BnSums, ConvBnBackward, Rows};
    let cases = [
        Conv2dGeometry::with_padding(2, (7, 6), 3, 5, (3, 3), (1, 1), SAME),
        Conv2dGeometry::with_padding(2, (15, 16), 4, 70, (3, 3), (2, 2), VALID),
        Conv2dGeometry::with_padding(3, (9, 9), 33, 17, (1, 1), (1, 1), SAME),
    ];
    for g in cases {
        let shape = Rows { rows: g.batch * g.out_h * g.out_w, cols: g.out_c };
        let (x, w) = (random(g.input_len(), fresh_seed()), random(g.weight_len(), fresh_seed()));
        let (beta, dy) = (random(g.out_c, fresh_seed()), random(g.output_len(), fresh_seed()));
        for act in [Activation::Relu, Activation::Identity] {
            let geometry = BatchNormGeometry { shape, eps: 1e-3, act };
            // The batch norm's sums in the pass, given to it (from a pass of their own), or
            // the two passes apart.
            let run = |d: &cari::Device, mode: usize| {
                let b = d.backend();
                let (x, w, beta, dy) = (up(d, &x), up(d, &w), up(d, &beta), up(d, &dy));
                let (conv, mean, var) = b.conv2d_with_stats((&x).into(), &w, &g).unwrap();
                let bn = BatchNorm { x: &conv, mean: &mean, var: &var, beta: &beta, geometry };
                let (dx, dw, dbeta) = if mode < 2 {
                    let sums = b.batch_norm_backward_sums(&[(&dy, bn)]).unwrap().remove(0);
                    let mut on = ConvBnBackward::new((&x).into(), &w, bn, &dy);
                    on.sums = (mode == 1).then_some(BnSums { dbeta: &sums.dbeta, means: &sums.means });
                    let r = b.conv2d_bn_backward(on, &g, Conv2dGrads::BOTH).unwrap();
                    assert_eq!(r.dbeta.is_some(), mode == 0, "dβ is the given sums' when they are given");
                    (r.dx, r.dw, r.dbeta.unwrap_or(sums.dbeta))
                } else {
                    let (dconv, dbeta) = b.batch_norm_backward(&dy, bn).unwrap();
                    let (dx, dw) = backward(b, [&x, &w, &dconv], &g, Conv2dGrads::BOTH).unwrap();
                    (dx, dw, dbeta)
                };
                [down(d, &dx.unwrap()), down(d, &dw.unwrap()), down(d, &dbeta)]
            };
            let want = run(&cpu(), 0);
            for d in devices() {
                let fused = run(&d, 0);
                for (mode, how) in [(1, "sums given"), (2, "apart")] {
                    let other = run(&d, mode);
                    for (i, what) in ["dx", "dw", "dβ"].iter().enumerate() {
                        let what = format!("{what} {g:?} {act:?} fused vs {how}");
                        check(&what, &d, &fused[i], &other[i], super::harness::EXACT);
                    }
                }
                // The batch norm's dx amplifies rounding by 1/σ: compare to the CPU loosely.
                let taps = g.kernel_h * g.kernel_w * g.out_c * 8;
                check(&format!("dx {g:?} {act:?}"), &d, &fused[0], &want[0], sum_tolerance(taps));
                check(&format!("dw {g:?} {act:?}"), &d, &fused[1], &want[1], sum_tolerance(shape.rows * 8));
            }
        }
    }
}

/// The residual tail in the up-conv's epilogue: bit for bit the plain forward followed by
/// `residual_tail` on the same device, and the CPU's to the convolution's tolerance.
#[test]
fn forward_into_a_residual_tail() {
    use cari::backend::{Activation, ConvResidual, ResidualTail, Rows};
    let cases = [
        Conv2dGeometry::with_padding(2, (5, 6), 70, 33, (1, 1), (1, 1), SAME),
        Conv2dGeometry::with_padding(3, (9, 9), 17, 70, (1, 1), (1, 1), SAME),
    ];
    for g in cases {
        let shape = Rows { rows: g.batch * g.out_h * g.out_w, cols: g.out_c };
        let (input, w) = (random(g.input_len(), fresh_seed()), random(g.weight_len(), fresh_seed()));
        let (x, bias) = (random(g.output_len(), fresh_seed()), random(g.out_c, fresh_seed()));
        for act in [Activation::Relu, Activation::Identity] {
            let tail = ResidualTail { shape, scale: 0.17, act };
            let run = |d: &cari::Device, fused: bool| {
                let b = d.backend();
                let (input, w, x, bias) = (up(d, &input), up(d, &w), up(d, &x), up(d, &bias));
                let y = if fused {
                    b.conv2d_residual(&input, &w, &g, ConvResidual { x: &x, bias: &bias, tail }).unwrap()
                } else {
                    b.residual_tail(&x, &b.conv2d((&input).into(), &w, &g).unwrap(), &bias, tail).unwrap()
                };
                down(d, &y)
            };
            let want = run(&cpu(), true);
            for d in devices() {
                let fused = run(&d, true);
                check(
                    &format!("residual tail {g:?} {act:?} fused vs apart"),
                    &d,
                    &fused,
                    &run(&d, false),
                    super::harness::EXACT,
                );
                check(&format!("residual tail {g:?} {act:?}"), &d, &fused, &want, sum_tolerance(g.in_c * 4));
            }
        }
    }
}

/// A batch norm's output as the convolution's input, computed in the loaders of the
/// forward pass (with and without its own statistics) and of the weight gradient: bit for
/// bit the same passes over the stored batch-norm output on the same device, and the CPU's
/// to the convolution's tolerance. Padding stays zero after the normalisation (a ReLU of a
/// shift would not be).
#[test]
fn normalized_input() {
    use cari::backend::{Activation, BatchNorm, BatchNormGeometry, ConvBnBackward, Rows, Values};
    let cases = [
        Conv2dGeometry::with_padding(2, (7, 6), 3, 5, (3, 3), (1, 1), SAME),
        Conv2dGeometry::with_padding(2, (15, 16), 70, 9, (3, 3), (2, 2), VALID),
        Conv2dGeometry::with_padding(3, (9, 9), 33, 17, (1, 7), (1, 1), SAME),
    ];
    for g in cases {
        let in_shape = Rows { rows: g.batch * g.in_h * g.in_w, cols: g.in_c };
        let out_shape = Rows { rows: g.batch * g.out_h * g.out_w, cols: g.out_c };
        let (x, w, dy) = (
            random(g.input_len(), fresh_seed()),
            random(g.weight_len(), fresh_seed()),
            random(g.output_len(), fresh_seed()),
        );
        let (mean, beta) = (random(g.in_c, fresh_seed()), random(g.in_c, fresh_seed()));
        let var: Vec<f32> = random(g.in_c, fresh_seed()).iter().map(|v| v.abs() + 0.1).collect();
        let out_beta = random(g.out_c, fresh_seed());
        for act in [Activation::Relu, Activation::Identity] {
            let run = |d: &cari::Device, in_loaders: bool| {
                let b = d.backend();
                let (x, w, dy, mean, var, beta) =
                    (up(d, &x), up(d, &w), up(d, &dy), up(d, &mean), up(d, &var), up(d, &beta));
                let input = BatchNorm {
                    x: &x,
                    mean: &mean,
                    var: &var,
                    beta: &beta,
                    geometry: BatchNormGeometry { shape: in_shape, eps: 1e-3, act },
                };
                let stored = b.batch_norm(input).unwrap();
                let values = if in_loaders { Values::Normalized(input) } else { Values::Stored(&stored) };
                let y = b.conv2d(values, &w, &g).unwrap();
                let (conv, out_mean, out_var) = b.conv2d_with_stats(values, &w, &g).unwrap();
                let out_beta = up(d, &out_beta);
                let geometry = BatchNormGeometry { shape: out_shape, eps: 1e-3, act: Activation::Relu };
                let bn = BatchNorm { x: &conv, mean: &out_mean, var: &out_var, beta: &out_beta, geometry };
                let mut on = ConvBnBackward::new(values, &w, bn, &dy);
                on.input_sums = in_loaders;
                let r = b.conv2d_bn_backward(on, &g, Conv2dGrads::BOTH).unwrap();
                let dx = r.dx.unwrap();
                // The input batch norm's sums from the input-gradient tiles, or a pass of their own.
                let sums = match r.input_sums {
                    Some(sums) => sums,
                    None => b.batch_norm_backward_sums(&[(&dx, input)]).unwrap().remove(0),
                };
                [y, conv, out_mean, out_var, dx, r.dw.unwrap(), r.dbeta.unwrap(), sums.dbeta, sums.means]
                    .map(|s| down(d, &s))
            };
            let want = run(&cpu(), true);
            assert_eq!(want, run(&cpu(), false), "{g:?} {act:?}: the CPU's composition");
            let patch = g.kernel_h * g.kernel_w * g.in_c;
            for d in devices() {
                let (fused, apart) = (run(&d, true), run(&d, false));
                for (i, what) in ["y", "y (with stats)", "mean", "var", "dx", "dw", "dβ"].iter().enumerate() {
                    check(
                        &format!("{what} {g:?} {act:?} in the loaders vs stored"),
                        &d,
                        &fused[i],
                        &apart[i],
                        super::harness::EXACT,
                    );
                }
                let last_bit = super::harness::Tolerance {
                    atol: 1e-7,
                    rtol: 2.5e-7,
                    reason: "f64 sums over the tiles vs over row splits, one f32 rounding",
                };
                for (i, what) in [(7, "input dβ"), (8, "input means")] {
                    check(
                        &format!("{what} {g:?} {act:?} from the tiles vs a pass"),
                        &d,
                        &fused[i],
                        &apart[i],
                        last_bit,
                    );
                }
                check(&format!("y {g:?} {act:?}"), &d, &fused[0], &want[0], sum_tolerance(patch));
                check(&format!("dw {g:?} {act:?}"), &d, &fused[5], &want[5], sum_tolerance(out_shape.rows * 8));
            }
        }
    }
}
