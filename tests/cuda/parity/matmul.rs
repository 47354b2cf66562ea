//! `matmul`: every transpose combination on sizes around the 64-wide tile and the 16-deep
//! step (1, 7, 33, 65, 130).

use super::harness::{check, cpu, devices, down, fresh_seed, random, up, Tolerance, EXACT};
use cari::backend::MatmulGeometry;
use cari::Error;

const SIZES: [usize; 5] = [1, 7, 33, 65, 130];

/// Sums of `k` products of values in [-1, 1), in another order than the CPU's: the typical
/// rounding difference grows like ε·k (results of size about √k/3, √k roundings), well
/// inside 1e-5·√k; any wrong or missing term is off by about 0.25.
pub fn sum_tolerance(k: usize) -> Tolerance {
    Tolerance {
        atol: 1e-5 * (k.max(1) as f32).sqrt(),
        rtol: 1e-4,
        reason: "f32 sums of k products of |x| ≤ 1 in a different order (atol 1e-5·√k)",
    }
}

fn case(m: usize, k: usize, n: usize, transpose_a: bool, transpose_b: bool) {
    let g = MatmulGeometry { m, k, n, transpose_a, transpose_b };
    let a = random(m * k, fresh_seed());
    let b = random(k * n, fresh_seed());
    let c = cpu();
    let want = down(&c, &c.backend().matmul(&up(&c, &a), &up(&c, &b), &g).unwrap());
    for d in devices() {
        let got = d.backend().matmul(&up(&d, &a), &up(&d, &b), &g).unwrap_or_else(|e| panic!("{g:?}: {e}"));
        check(&format!("matmul {g:?}"), &d, &down(&d, &got), &want, sum_tolerance(k));
    }
}

fn all_sizes(transpose_a: bool, transpose_b: bool) {
    for m in SIZES {
        for k in SIZES {
            for n in SIZES {
                case(m, k, n, transpose_a, transpose_b);
            }
        }
    }
}

#[test]
fn plain() {
    all_sizes(false, false);
}

#[test]
fn transposed_rhs() {
    all_sizes(false, true);
}

#[test]
fn transposed_lhs() {
    all_sizes(true, false);
}

#[test]
fn both_transposed() {
    all_sizes(true, true);
}

#[test]
fn several_tiles_in_every_dimension() {
    case(200, 300, 150, false, false);
    case(150, 97, 200, true, true);
}

#[test]
fn empty_depth_gives_zeros() {
    case(7, 0, 33, false, false);
    case(33, 0, 7, true, true);
}

#[test]
fn storage_of_another_device_is_refused() {
    let g = MatmulGeometry { m: 2, k: 3, n: 4, transpose_a: false, transpose_b: false };
    let on_cpu = up(&cpu(), &random(6, fresh_seed()));
    for d in devices() {
        let b = up(&d, &random(12, fresh_seed()));
        let err = d.backend().matmul(&on_cpu, &b, &g).expect_err("CPU storage on a CUDA device must fail");
        assert!(matches!(err, Error::Backend { op: "matmul", .. }), "{err:?}");
        assert!(err.to_string().contains(&d.name()) && err.to_string().contains("CPU"), "{err}");
    }
}

#[test]
fn operand_of_the_wrong_length_is_refused() {
    let g = MatmulGeometry { m: 2, k: 3, n: 4, transpose_a: false, transpose_b: false };
    for d in devices() {
        let err = d.backend().matmul(&up(&d, &[0.0; 5]), &up(&d, &[0.0; 12]), &g).expect_err("5 ≠ 2·3 must fail");
        assert!(err.to_string().contains("expected 6 values, an operand holds 5"), "{err}");
    }
}

/// A fully connected layer in one launch: bit for bit matmul, add_bias and relu on the
/// same device, and the CPU's to the product's tolerance.
#[test]
fn linear_with_its_bias_and_activation_in_the_epilogue() {
    use cari::backend::{Activation, MatmulGeometry, Rows};
    for (m, k, n) in [(1, 1, 1), (30, 512, 20), (90, 70, 130)] {
        let g = MatmulGeometry { m, k, n, transpose_a: false, transpose_b: false };
        let (x, w, bias) = (random(m * k, fresh_seed()), random(k * n, fresh_seed()), random(n, fresh_seed()));
        for act in [Activation::Relu, Activation::Identity] {
            let run = |d: &cari::Device, fused: bool| {
                let b = d.backend();
                let (x, w, bias) = (up(d, &x), up(d, &w), up(d, &bias));
                let y = if fused {
                    b.linear(&x, &w, &bias, &g, act).unwrap_or_else(|e| panic!("{d}: {e}"))
                } else {
                    let y = b.add_bias(&b.matmul(&x, &w, &g).unwrap(), &bias, Rows { rows: m, cols: n }).unwrap();
                    if act == Activation::Relu {
                        b.relu(&y).unwrap()
                    } else {
                        y
                    }
                };
                down(d, &y)
            };
            let want = run(&cpu(), true);
            for d in devices() {
                let fused = run(&d, true);
                check(&format!("linear {m}x{k}x{n} {act:?} fused vs apart"), &d, &fused, &run(&d, false), EXACT);
                check(&format!("linear {m}x{k}x{n} {act:?}"), &d, &fused, &want, sum_tolerance(k));
            }
        }
    }
}
