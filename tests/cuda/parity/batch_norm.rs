//! Batch norm: statistics, the forward pass with each activation and the training-mode
//! backward, on one row, one channel, primes, channel counts around the 32-wide tiles and
//! more rows than a block covers.

use super::harness::{check, cpu, devices, down, fresh_seed, up, Tolerance, EXACT};
use cari::backend::{Activation, BatchNorm, BatchNormGeometry, Rows};
use cari::rng::Rng;
use cari::tensor::Storage;

/// `[rows, channels]`; the last has several row splits of narrow (8-channel) tiles.
const SHAPES: [(usize, usize); 8] = [(1, 1), (7, 3), (37, 33), (300, 130), (1, 130), (300, 1), (13, 64), (2100, 5)];
const EPS: f32 = 1e-3;
const ACTIVATIONS: [Activation; 2] = [Activation::Identity, Activation::Relu];

/// Results that both sides round to f32 from f64 sums taken in different orders.
const LAST_BIT: Tolerance =
    Tolerance { atol: 0.0, rtol: 2.5e-7, reason: "f32 of f64 sums taken in another order: the last bit may differ" };

/// dx = inv·(g − mean(g) − x̂·mean(g·x̂)) cancels terms of size inv·|dy| ≈ 2: a last-bit
/// difference in either mean (f64 sums taken in another order) moves it by a rounding of
/// those terms.
const DX: Tolerance = Tolerance { atol: 2e-6, rtol: 1e-5, reason: "a rounding of terms of size inv·|dy| ≈ 2" };

/// Activations-like input: offset from zero, so the variance is a small difference of
/// large sums.
fn activations(len: usize, seed: u64) -> Vec<f32> {
    Rng::new(seed).vec(len, 1.0, 5.0)
}

#[test]
fn stats_match_the_cpu() {
    for (rows, cols) in SHAPES {
        let shape = Rows { rows, cols };
        let x = activations(rows * cols, fresh_seed());
        let (mean, var) = cpu().backend().batch_norm_stats(&up(&cpu(), &x), shape).unwrap();
        let (mean, var) = (down(&cpu(), &mean), down(&cpu(), &var));
        for dev in devices() {
            let (m, v) = dev.backend().batch_norm_stats(&up(&dev, &x), shape).unwrap();
            check(&format!("batch_norm_stats mean {rows}x{cols}"), &dev, &down(&dev, &m), &mean, LAST_BIT);
            check(&format!("batch_norm_stats var {rows}x{cols}"), &dev, &down(&dev, &v), &var, LAST_BIT);
        }
    }
}

fn bn([x, mean, var, beta]: [&Storage; 4], geometry: BatchNormGeometry) -> BatchNorm<&Storage> {
    BatchNorm { x, mean, var, beta, geometry }
}

#[test]
fn forward_matches_the_cpu() {
    for (rows, cols) in SHAPES {
        let shape = Rows { rows, cols };
        let mut rng = Rng::new(fresh_seed());
        let x = rng.vec(rows * cols, -3.0, 3.0);
        let mean = rng.vec(cols, -1.0, 1.0);
        let var = rng.vec(cols, 0.0, 2.0);
        let beta = rng.vec(cols, -1.0, 1.0);
        for act in ACTIVATIONS {
            let g = BatchNormGeometry { shape, eps: EPS, act };
            let c = cpu();
            let [xc, mc, vc, bc] = [&x, &mean, &var, &beta].map(|v| up(&c, v));
            let want = down(&c, &c.backend().batch_norm(bn([&xc, &mc, &vc, &bc], g)).unwrap());
            for dev in devices() {
                let [xd, md, vd, bd] = [&x, &mean, &var, &beta].map(|v| up(&dev, v));
                let got = dev.backend().batch_norm(bn([&xd, &md, &vd, &bd], g)).unwrap();
                check(&format!("batch_norm {act:?} {rows}x{cols}"), &dev, &down(&dev, &got), &want, EXACT);
            }
        }
    }
}

#[test]
fn backward_matches_the_cpu() {
    for (rows, cols) in SHAPES {
        let shape = Rows { rows, cols };
        let mut rng = Rng::new(fresh_seed());
        let x = activations(rows * cols, rng.next_u64());
        let dy = rng.vec(rows * cols, -1.0, 1.0);
        let beta = rng.vec(cols, -1.0, 1.0);
        let c = cpu();
        // Training mode: the statistics are x's own batch statistics.
        let (mean, var) = c.backend().batch_norm_stats(&up(&c, &x), shape).unwrap();
        let (mean, var) = (down(&c, &mean), down(&c, &var));
        for act in ACTIVATIONS {
            let g = BatchNormGeometry { shape, eps: EPS, act };
            let [dyc, xc, mc, vc, bc] = [&dy, &x, &mean, &var, &beta].map(|v| up(&c, v));
            let (dx, dbeta) = c.backend().batch_norm_backward(&dyc, bn([&xc, &mc, &vc, &bc], g)).unwrap();
            let (dx, dbeta) = (down(&c, &dx), down(&c, &dbeta));
            for dev in devices() {
                let [dyd, xd, md, vd, bd] = [&dy, &x, &mean, &var, &beta].map(|v| up(&dev, v));
                let (gdx, gdbeta) = dev.backend().batch_norm_backward(&dyd, bn([&xd, &md, &vd, &bd], g)).unwrap();
                check(&format!("batch_norm_backward dx {act:?} {rows}x{cols}"), &dev, &down(&dev, &gdx), &dx, DX);
                check(
                    &format!("batch_norm_backward dbeta {act:?} {rows}x{cols}"),
                    &dev,
                    &down(&dev, &gdbeta),
                    &dbeta,
                    LAST_BIT,
                );
            }
        }
    }
}

/// The backward sums of every shape at once, both activations (one launch on CUDA): each
/// the CPU's to the last bit, and each what the batch norm's own backward gives as dβ.
#[test]
fn backward_sums_of_a_list_match_the_cpu() {
    let mut rng = Rng::new(fresh_seed());
    let cases: Vec<_> = SHAPES
        .iter()
        .flat_map(|&(rows, cols)| ACTIVATIONS.map(|act| (rows, cols, act)))
        .map(|(rows, cols, act)| {
            let x = activations(rows * cols, rng.next_u64());
            let (dy, beta, mean) = (rng.vec(rows * cols, -1.0, 1.0), rng.vec(cols, -1.0, 1.0), rng.vec(cols, 1.0, 5.0));
            let var = rng.vec(cols, 0.1, 2.0);
            (BatchNormGeometry { shape: Rows { rows, cols }, eps: EPS, act }, [dy, x, mean, var, beta])
        })
        .collect();
    let run = |d: &cari::Device| {
        let stored: Vec<[Storage; 5]> = cases.iter().map(|(_, v)| v.each_ref().map(|v| up(d, v))).collect();
        let parts: Vec<_> =
            cases.iter().zip(&stored).map(|((g, _), [dy, x, m, v, b])| (dy, bn([x, m, v, b], *g))).collect();
        let sums = d.backend().batch_norm_backward_sums(&parts).unwrap();
        let own: Vec<Vec<f32>> =
            parts.iter().map(|&(dy, bn)| down(d, &d.backend().batch_norm_backward(dy, bn).unwrap().1)).collect();
        let sums: Vec<[Vec<f32>; 2]> = sums.iter().map(|s| [down(d, &s.dbeta), down(d, &s.means)]).collect();
        (sums, own)
    };
    let (want, _) = run(&cpu());
    for dev in devices() {
        let (got, own) = run(&dev);
        for (i, ((g, w), o)) in got.iter().zip(&want).zip(&own).enumerate() {
            let (geometry, _) = &cases[i];
            check(&format!("backward sums dβ {geometry:?}"), &dev, &g[0], &w[0], LAST_BIT);
            check(&format!("backward sums means {geometry:?}"), &dev, &g[1], &w[1], LAST_BIT);
            check(&format!("backward sums dβ {geometry:?} vs the backward's"), &dev, &g[0], o, EXACT);
        }
    }
}

#[test]
fn foreign_or_short_storage_is_an_error_naming_the_op() {
    let shape = Rows { rows: 4, cols: 3 };
    let host = up(&cpu(), &[0.5; 12]);
    for dev in devices() {
        let err = dev.backend().batch_norm_stats(&host, shape).expect_err("CPU storage on a CUDA device");
        let msg = err.to_string();
        assert!(msg.contains("batch_norm_stats") && msg.contains(&dev.to_string()) && msg.contains("CPU"), "{msg}");
        let (x, short) = (up(&dev, &[0.5; 12]), up(&dev, &[0.5; 2]));
        let g = BatchNormGeometry { shape, eps: EPS, act: Activation::Relu };
        let err = dev.backend().batch_norm(bn([&x, &short, &short, &short], g));
        let msg = err.expect_err("2 channel values for 3 channels").to_string();
        assert!(msg.contains("batch_norm") && msg.contains("expected 3 values"), "{msg}");
    }
}
