//! Element-wise maps, bias and broadcast over rows, column sums.
//!
//! The maps do one IEEE operation per rounding on both backends (the kernels round every
//! product on its own, no FMA contraction, and divide exactly), so they must agree bit for
//! bit. Lengths 1000 and 65537 exceed the launch's threads, so the grid-stride loops and
//! the row/column walk of the row ops go round more than once.

use super::harness::*;
use cari::backend::{BinaryOp, Rows};
use cari::tensor::Storage;

const LENS: [usize; 5] = [1, 7, 37, 1000, 65537];

/// `[rows, cols]` shapes: single row/column, primes, a column tile and a bit (33), more
/// rows than one chunk of the column sums (so they take the two-pass path).
const SHAPES: [(usize, usize); 8] = [(1, 1), (1, 37), (7, 1), (13, 33), (37, 7), (1000, 3), (300, 70), (65537, 1)];

/// Column sums: both sides add in f64 and round once; only the order of the f64 additions
/// differs (error ≲ 1e-12 here), so the f32 results are at most one rounding apart.
const COLUMN_SUM: Tolerance =
    Tolerance { atol: 1e-9, rtol: 1.2e-7, reason: "f64 sums in another order, rounded once to f32 (≤ 1 ulp)" };

fn cpu_result(x: cari::Result<Storage>) -> Vec<f32> {
    down(&cpu(), &x.expect("CPU op"))
}

#[test]
fn binary_ops_match_exactly() {
    for device in devices() {
        for len in LENS {
            let (a, b) = (random(len, fresh_seed()), random(len, fresh_seed()));
            for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div] {
                let want = cpu_result(cpu().backend().binary(op, &up(&cpu(), &a), &up(&cpu(), &b)));
                let got = device.backend().binary(op, &up(&device, &a), &up(&device, &b)).unwrap();
                check(&format!("{op:?} len {len}"), &device, &down(&device, &got), &want, EXACT);
            }
        }
    }
}

#[test]
fn affine_and_add_scaled_match_exactly() {
    for device in devices() {
        for len in LENS {
            let (a, b) = (random(len, fresh_seed()), random(len, fresh_seed()));
            let s = random(3, fresh_seed());
            let (mul, add, alpha) = (s[0] * 3.0, s[1], s[2] * 2.0);
            let (ca, cb, da, db) = (up(&cpu(), &a), up(&cpu(), &b), up(&device, &a), up(&device, &b));
            let want = cpu_result(cpu().backend().affine(&ca, mul, add));
            let got = device.backend().affine(&da, mul, add).unwrap();
            check(&format!("affine len {len}"), &device, &down(&device, &got), &want, EXACT);
            let want = cpu_result(cpu().backend().add_scaled(&ca, &cb, alpha));
            let got = device.backend().add_scaled(&da, &db, alpha).unwrap();
            check(&format!("add_scaled len {len}"), &device, &down(&device, &got), &want, EXACT);
        }
    }
}

#[test]
fn exp_matches_within_two_ulp() {
    // CUDA's expf is accurate to 2 ulp; the CPU's (libm) to under 1.
    let tolerance = Tolerance { atol: 0.0, rtol: 4.0 * f32::EPSILON, reason: "expf is within 2 ulp on each side" };
    for device in devices() {
        for len in LENS {
            let x: Vec<f32> = random(len, fresh_seed()).iter().map(|v| v * 20.0).collect();
            let want = cpu_result(cpu().backend().exp(&up(&cpu(), &x)));
            let got = device.backend().exp(&up(&device, &x)).unwrap();
            check(&format!("exp len {len}"), &device, &down(&device, &got), &want, tolerance);
        }
    }
}

#[test]
fn relu_forward_and_backward_match_exactly() {
    for device in devices() {
        for len in LENS {
            let (x, dy) = (random(len, fresh_seed()), random(len, fresh_seed()));
            let want_y = cpu_result(cpu().backend().relu(&up(&cpu(), &x)));
            let y = device.backend().relu(&up(&device, &x)).unwrap();
            check(&format!("relu len {len}"), &device, &down(&device, &y), &want_y, EXACT);
            let want = cpu_result(cpu().backend().relu_backward(&up(&cpu(), &dy), &up(&cpu(), &want_y)));
            let got = device.backend().relu_backward(&up(&device, &dy), &y).unwrap();
            check(&format!("relu_backward len {len}"), &device, &down(&device, &got), &want, EXACT);
        }
    }
}

/// NaN, infinities and signed zeros through ReLU, bit for bit (`check` treats −0 = +0).
#[test]
fn relu_special_values_match_bit_for_bit() {
    let x = [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 1e-45, -1e-45, 2.5, -2.5];
    let dy: Vec<f32> = (0..x.len()).map(|i| i as f32 - 4.5).collect();
    let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
    let want_y = cpu_result(cpu().backend().relu(&up(&cpu(), &x)));
    let want_dx = cpu_result(cpu().backend().relu_backward(&up(&cpu(), &dy), &up(&cpu(), &x)));
    for device in devices() {
        let y = down(&device, &device.backend().relu(&up(&device, &x)).unwrap());
        assert_eq!(bits(y), bits(want_y.clone()), "relu on {device}");
        let dx = device.backend().relu_backward(&up(&device, &dy), &up(&device, &x)).unwrap();
        assert_eq!(bits(down(&device, &dx)), bits(want_dx.clone()), "relu_backward on {device}");
    }
}

#[test]
fn add_bias_and_broadcast_rows_match_exactly() {
    for device in devices() {
        for (rows, cols) in SHAPES {
            let shape = Rows { rows, cols };
            let (x, v) = (random(rows * cols, fresh_seed()), random(cols, fresh_seed()));
            let want = cpu_result(cpu().backend().add_bias(&up(&cpu(), &x), &up(&cpu(), &v), shape));
            let got = device.backend().add_bias(&up(&device, &x), &up(&device, &v), shape).unwrap();
            check(&format!("add_bias {rows}x{cols}"), &device, &down(&device, &got), &want, EXACT);
            let want = cpu_result(cpu().backend().broadcast_rows(&up(&cpu(), &v), shape));
            let got = device.backend().broadcast_rows(&up(&device, &v), shape).unwrap();
            check(&format!("broadcast_rows {rows}x{cols}"), &device, &down(&device, &got), &want, EXACT);
        }
    }
}

#[test]
fn sum_rows_matches_within_one_rounding_and_is_deterministic() {
    for device in devices() {
        for (rows, cols) in SHAPES.into_iter().chain([(0, 5), (4099, 1), (129, 65)]) {
            let shape = Rows { rows, cols };
            let x = random(rows * cols, fresh_seed());
            let want = cpu_result(cpu().backend().sum_rows(&up(&cpu(), &x), shape));
            let dx = up(&device, &x);
            let got = down(&device, &device.backend().sum_rows(&dx, shape).unwrap());
            check(&format!("sum_rows {rows}x{cols}"), &device, &got, &want, COLUMN_SUM);
            let again = down(&device, &device.backend().sum_rows(&dx, shape).unwrap());
            assert_eq!(again, got, "sum_rows {rows}x{cols} on {device}: two runs differ");
        }
    }
}

/// Ones between large values that cancel: an f32 accumulator loses every 1 (1e8 + 1 = 1e8
/// in f32), an f64 one keeps them all (every partial sum is an integer below 2⁵³).
#[test]
fn sum_rows_accumulates_in_f64() {
    let rows = 999;
    let x: Vec<f32> = (0..rows).map(|r| [1e8, 1.0, -1e8][r % 3]).collect();
    for device in devices() {
        let got = down(&device, &device.backend().sum_rows(&up(&device, &x), Rows { rows, cols: 1 }).unwrap());
        assert_eq!(got, vec![333.0], "on {device}");
    }
}

#[test]
fn wrong_device_and_length_are_errors() {
    let on_cpu = up(&cpu(), &[1.0, 2.0]);
    for device in devices() {
        let be = device.backend();
        let err = be.relu(&on_cpu).unwrap_err().to_string();
        assert!(err.contains("relu") && err.contains(&device.name()) && err.contains("CPU"), "{err}");
        let err = be.binary(BinaryOp::Add, &up(&device, &[1.0, 2.0]), &on_cpu).unwrap_err().to_string();
        assert!(err.contains("binary") && err.contains("CPU"), "{err}");
        let err = be.add_scaled(&up(&device, &[1.0, 2.0]), &up(&device, &[1.0]), 1.0).unwrap_err().to_string();
        assert!(err.contains("add_scaled") && err.contains("expected 2 values, an operand holds 1"), "{err}");
    }
}

#[test]
fn sum_all_matches_exactly_and_adds_left_to_right() {
    for device in devices() {
        for len in LENS {
            for count in 1..=5 {
                let xs: Vec<Vec<f32>> = (0..count).map(|_| random(len, fresh_seed())).collect();
                let on = |d: &cari::Device| xs.iter().map(|x| up(d, x)).collect::<Vec<_>>();
                let (cs, ds) = (on(&cpu()), on(&device));
                let want = cpu_result(cpu().backend().sum_all(&cs.iter().collect::<Vec<_>>()));
                let got = device.backend().sum_all(&ds.iter().collect::<Vec<_>>()).unwrap();
                check(&format!("sum_all of {count} len {len}"), &device, &down(&device, &got), &want, EXACT);
                // The order is that of a chain of two-operand adds.
                let chained =
                    xs[1..].iter().fold(xs[0].clone(), |acc, x| acc.iter().zip(x).map(|(a, b)| a + b).collect());
                assert_eq!(want, chained, "CPU sum_all of {count} len {len}");
            }
        }
        let err = device.backend().sum_all(&[]).unwrap_err().to_string();
        assert!(err.contains("sum_all") && err.contains("no tensors"), "{err}");
        let err = device.backend().sum_all(&[&up(&device, &[1.0, 2.0]), &up(&device, &[1.0])]).unwrap_err();
        assert!(err.to_string().contains("expected 2 values, an operand holds 1"), "{err}");
    }
}

#[test]
fn residual_tail_and_its_backward_match_exactly() {
    use cari::backend::{Activation, ResidualTail};
    for device in devices() {
        for (rows, cols) in SHAPES {
            let n = rows * cols;
            let (x, u, bias, dy) =
                (random(n, fresh_seed()), random(n, fresh_seed()), random(cols, fresh_seed()), random(n, fresh_seed()));
            for act in [Activation::Relu, Activation::Identity] {
                let tail = ResidualTail { shape: Rows { rows, cols }, scale: 0.17, act };
                let on = |d: &cari::Device| {
                    let be = d.backend();
                    let y = be.residual_tail(&up(d, &x), &up(d, &u), &up(d, &bias), tail).unwrap();
                    let r = be.residual_tail_backward(&up(d, &dy), &y, tail).unwrap();
                    let summed = be.sum_rows(&r.dup, tail.shape).unwrap();
                    [down(d, &y), down(d, &r.dx), down(d, &r.dup), down(d, &r.dbias), down(d, &summed)]
                };
                let (got, want) = (on(&device), on(&cpu()));
                for (what, g, w) in [("y", &got[0], &want[0]), ("dx", &got[1], &want[1]), ("dup", &got[2], &want[2])] {
                    check(&format!("residual tail {what} {rows}x{cols} {act:?}"), &device, g, w, EXACT);
                }
                // The bias gradient in the same pass is sum_rows(dup), on the device as on the CPU.
                check(&format!("residual tail dbias {rows}x{cols} {act:?}"), &device, &got[3], &got[4], EXACT);
                check(
                    &format!("residual tail dbias {rows}x{cols} {act:?} vs the CPU"),
                    &device,
                    &got[3],
                    &want[3],
                    COLUMN_SUM,
                );
            }
        }
    }
}
