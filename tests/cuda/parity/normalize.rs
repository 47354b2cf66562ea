//! Row-wise L2 normalisation and softmax, forward and backward, on rows from 1 to 10⁴
//! columns (one thread per row up to 1024 threads per row).

use super::harness::{check, cpu, devices, down, fresh_seed, random, up, Tolerance, EXACT};
use cari::backend::Rows;
use cari::rng::Rng;

/// `[rows, cols]`: one column, few columns many rows, a 32-wide group straddled, groups of
/// 64 and 1024 threads (the shared-memory reduction) and the longest rows.
const SHAPES: [(usize, usize); 8] = [(1, 1), (300, 1), (7, 3), (37, 33), (300, 130), (1, 130), (3, 1000), (2, 10_000)];

/// y = x·inv with inv the f32 of an f64 sum taken in another order: inv's last bit, then
/// the product's rounding.
const L2_Y: Tolerance = Tolerance { atol: 0.0, rtol: 4e-7, reason: "inv's last bit, then the product's rounding" };

/// dx = (dy − x·⟨x, dy⟩/‖x‖²)/‖x‖ cancels terms of size |dy|/‖x‖ ≤ 1/0.3: a last-bit
/// difference in the projection (an f64 sum taken in another order) moves it by a rounding
/// of those.
const L2_DX: Tolerance =
    Tolerance { atol: 1e-6, rtol: 1e-5, reason: "a rounding of terms of size |dy|/‖x‖ ≤ 3.4" };

/// expf is within 2 ulp on the GPU (as the CPU's within the emulation), and 1/Σ may differ
/// in the last bit (f64 sums in another order).
const SOFTMAX: Tolerance = Tolerance { atol: 1e-8, rtol: 1e-6, reason: "expf within 2 ulp; 1/Σ's last bit" };

/// y ⊙ (dy − ⟨dy, y⟩): the f32 dot product's last bit, times y ≤ 1.
const SOFTMAX_DX: Tolerance = Tolerance { atol: 2e-7, rtol: 1e-6, reason: "⟨dy, y⟩'s last bit, times y ≤ 1" };

/// Magnitudes in [0.3, 1) with random signs: no row norm is small, so the L2 gradient's
/// 1/‖x‖ stays moderate.
fn away_from_zero(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| if rng.below(2) == 0 { 1.0 } else { -1.0 } * rng.uniform_in(0.3, 1.0)).collect()
}

#[test]
fn l2_normalize_matches_the_cpu() {
    for (rows, cols) in SHAPES {
        let shape = Rows { rows, cols };
        let seed = fresh_seed();
        let x = away_from_zero(rows * cols, seed);
        let dy = random(rows * cols, seed ^ 1);
        // A tiny eps, and one near the typical Σx² ≈ 0.43·cols that puts about half the
        // rows on the constant-denominator branch.
        for eps in [1e-12, 0.43 * cols as f32] {
            let c = cpu();
            let y = down(&c, &c.backend().l2_normalize(&up(&c, &x), shape, eps).unwrap());
            let dx = down(&c, &c.backend().l2_normalize_backward(&up(&c, &dy), &up(&c, &x), shape, eps).unwrap());
            for dev in devices() {
                let what = format!("{rows}x{cols} eps {eps}");
                let got = dev.backend().l2_normalize(&up(&dev, &x), shape, eps).unwrap();
                check(&format!("l2_normalize {what}"), &dev, &down(&dev, &got), &y, L2_Y);
                let got = dev.backend().l2_normalize_backward(&up(&dev, &dy), &up(&dev, &x), shape, eps).unwrap();
                check(&format!("l2_normalize_backward {what}"), &dev, &down(&dev, &got), &dx, L2_DX);
            }
        }
    }
}

#[test]
fn softmax_matches_the_cpu() {
    for (rows, cols) in SHAPES {
        let shape = Rows { rows, cols };
        let seed = fresh_seed();
        // Logit-like spread: probabilities from ~1e-7 to 1.
        let x: Vec<f32> = random(rows * cols, seed).iter().map(|v| 8.0 * v).collect();
        let dy = random(rows * cols, seed ^ 1);
        let c = cpu();
        let y = down(&c, &c.backend().softmax(&up(&c, &x), shape).unwrap());
        let dx = down(&c, &c.backend().softmax_backward(&up(&c, &dy), &up(&c, &y), shape).unwrap());
        for dev in devices() {
            let got = dev.backend().softmax(&up(&dev, &x), shape).unwrap();
            check(&format!("softmax {rows}x{cols}"), &dev, &down(&dev, &got), &y, SOFTMAX);
            let got = dev.backend().softmax_backward(&up(&dev, &dy), &up(&dev, &y), shape).unwrap();
            check(&format!("softmax_backward {rows}x{cols}"), &dev, &down(&dev, &got), &dx, SOFTMAX_DX);
        }
    }
}

#[test]
fn softmax_keeps_extreme_rows_finite() {
    // exp overflows without the max shift; −∞ logits get probability 0.
    let shape = Rows { rows: 2, cols: 3 };
    let x = [1000.0, 1000.0, 1000.0, f32::NEG_INFINITY, 0.0, -5.0];
    let c = cpu();
    let want = down(&c, &c.backend().softmax(&up(&c, &x), shape).unwrap());
    for dev in devices() {
        let got = down(&dev, &dev.backend().softmax(&up(&dev, &x), shape).unwrap());
        assert_eq!(got[3], 0.0, "softmax of −∞ on {dev}");
        check("softmax extremes", &dev, &got, &want, SOFTMAX);
    }
}

#[test]
fn foreign_or_short_storage_is_an_error_naming_the_op() {
    let shape = Rows { rows: 2, cols: 3 };
    let host = up(&cpu(), &[1.0; 6]);
    for dev in devices() {
        let msg = dev.backend().softmax(&host, shape).expect_err("CPU storage on a CUDA device").to_string();
        assert!(msg.contains("softmax") && msg.contains(&dev.to_string()) && msg.contains("CPU"), "{msg}");
        let short = up(&dev, &[1.0; 5]);
        let msg = dev.backend().l2_normalize_backward(&short, &up(&dev, &[1.0; 6]), shape, 1e-12).expect_err("5 of 6");
        assert!(
            msg.to_string().contains("l2_normalize_backward") && msg.to_string().contains("expected 6 values"),
            "{msg}"
        );
    }
}

#[test]
fn weight_head_matches_its_composition_exactly_and_the_cpu_closely() {
    use cari::backend::WeightHead;
    for (rows, cols) in [(1, 3), (90, 3), (300, 7), (5, 70)] {
        let shape = Rows { rows, cols };
        let (a, bias, dpi) =
            (random(rows * cols, fresh_seed()), random(cols, fresh_seed()), random(rows * cols, fresh_seed()));
        let run = |d: &cari::Device, fused: bool| {
            let b = d.backend();
            let (a, bias, dpi) = (up(d, &a), up(d, &bias), up(d, &dpi));
            let on = WeightHead { a: &a, bias: &bias, shape, scale: 2.0, eps: 1e-10 };
            let (pi, da) = if fused {
                let pi = b.weight_head(on).unwrap_or_else(|e| panic!("{d}: {e}"));
                let da = b.weight_head_backward(&dpi, &pi, on).unwrap();
                (pi, da)
            } else {
                let u = b.add_bias(&a, &bias, shape).unwrap();
                let z = b.affine(&b.l2_normalize(&u, shape, 1e-10).unwrap(), 2.0, 0.0).unwrap();
                let pi = b.softmax(&z, shape).unwrap();
                let dn = b.affine(&b.softmax_backward(&dpi, &pi, shape).unwrap(), 2.0, 0.0).unwrap();
                let da = b.l2_normalize_backward(&dn, &u, shape, 1e-10).unwrap();
                (pi, da)
            };
            [down(d, &pi), down(d, &da)]
        };
        let want = run(&cpu(), true);
        let tol = Tolerance { atol: 1e-6, rtol: 1e-5, reason: "expf within 2 ulp, then a few roundings" };
        for device in devices() {
            let (fused, apart) = (run(&device, true), run(&device, false));
            for (i, what) in ["π", "da"].iter().enumerate() {
                check(
                    &format!("weight head {what} {rows}x{cols} fused vs apart"),
                    &device,
                    &fused[i],
                    &apart[i],
                    EXACT,
                );
                check(&format!("weight head {what} {rows}x{cols}"), &device, &fused[i], &want[i], tol);
            }
        }
    }
}
