//! Softmax cross-entropy (fused losses and probabilities) and center loss, forward and
//! backward, on rows of 1 to 10⁴ classes.

use super::harness::{check, cpu, devices, down, fresh_seed, random, up, Tolerance, EXACT};
use cari::backend::{LabelledRows, Rows};
use cari::rng::Rng;
use cari::tensor::Storage;

/// `[rows, cols]`, as in normalize.rs: from one class up to groups of 1024 threads.
const SHAPES: [(usize, usize); 8] = [(1, 1), (300, 1), (7, 3), (37, 33), (300, 130), (1, 130), (3, 1000), (2, 10_000)];

/// ln Σ exp(z − m) − (z[label] − m) adds two non-negative f64 terms, so the f64 sums' order
/// (and the GPU's exp and log, within an ulp in f64) only reach the f32 result's last bit.
const LAST_BIT: Tolerance =
    Tolerance { atol: 0.0, rtol: 2.5e-7, reason: "f32 of an f64 result computed in another order: last bit" };

/// expf is within 2 ulp on the GPU, and 1/Σ may differ in the last bit.
const PROBS: Tolerance = Tolerance { atol: 1e-8, rtol: 1e-6, reason: "expf within 2 ulp; 1/Σ's last bit" };

fn labels(rows: usize, classes: usize, rng: &mut Rng) -> Vec<usize> {
    (0..rows).map(|_| rng.below(classes)).collect()
}

#[test]
fn softmax_cross_entropy_matches_the_cpu() {
    for (rows, cols) in SHAPES {
        let shape = Rows { rows, cols };
        let mut rng = Rng::new(fresh_seed());
        let logits = rng.vec(rows * cols, -8.0, 8.0);
        let labels = labels(rows, cols, &mut rng);
        let on = LabelledRows { labels: &labels, shape };
        let dloss = random(rows, rng.next_u64());
        let c = cpu();
        let (loss, probs) = c.backend().softmax_cross_entropy(&up(&c, &logits), on).unwrap();
        let (loss, probs) = (down(&c, &loss), down(&c, &probs));
        let dlogits = c.backend().softmax_cross_entropy_backward(&up(&c, &dloss), &up(&c, &probs), on).unwrap();
        let dlogits = down(&c, &dlogits);
        for dev in devices() {
            let what = format!("{rows}x{cols}");
            let (l, p) = dev.backend().softmax_cross_entropy(&up(&dev, &logits), on).unwrap();
            check(&format!("softmax_cross_entropy loss {what}"), &dev, &down(&dev, &l), &loss, LAST_BIT);
            check(&format!("softmax_cross_entropy probs {what}"), &dev, &down(&dev, &p), &probs, PROBS);
            // From the CPU's probabilities: one product per element, as on the CPU.
            let got = dev.backend().softmax_cross_entropy_backward(&up(&dev, &dloss), &up(&dev, &probs), on);
            check(&format!("softmax_cross_entropy_backward {what}"), &dev, &down(&dev, &got.unwrap()), &dlogits, EXACT);
        }
    }
}

#[test]
fn cross_entropy_of_far_apart_logits_stays_finite() {
    // The label's probability underflows to 0: the loss must come from the log-sum-exp.
    let shape = Rows { rows: 2, cols: 3 };
    let logits = [-1000.0, 1000.0, 1000.0, 0.0, 2.0f32.ln(), 5.0f32.ln()];
    let labels = [0, 2];
    let on = LabelledRows { labels: &labels, shape };
    let c = cpu();
    let (loss, _) = c.backend().softmax_cross_entropy(&up(&c, &logits), on).unwrap();
    let loss = down(&c, &loss);
    for dev in devices() {
        let (got, _) = dev.backend().softmax_cross_entropy(&up(&dev, &logits), on).unwrap();
        let got = down(&dev, &got);
        assert!((got[0] - (2000.0 + 2f32.ln())).abs() < 1e-3, "far label's loss on {dev}: {}", got[0]);
        check("softmax_cross_entropy extremes", &dev, &got, &loss, LAST_BIT);
    }
}

#[test]
fn center_loss_matches_the_cpu() {
    for (rows, cols) in SHAPES {
        let shape = Rows { rows, cols };
        let mut rng = Rng::new(fresh_seed());
        let classes = 1 + rng.below(7);
        let e = rng.vec(rows * cols, -1.0, 1.0);
        let centers = rng.vec(classes * cols, -1.0, 1.0);
        let labels = labels(rows, classes, &mut rng);
        let on = LabelledRows { labels: &labels, shape };
        let dloss = random(rows, rng.next_u64());
        let c = cpu();
        let (ec, cc) = (up(&c, &e), up(&c, &centers));
        let loss = down(&c, &c.backend().center_loss(&ec, &cc, on).unwrap());
        let de = down(&c, &c.backend().center_loss_backward(&up(&c, &dloss), &ec, &cc, on).unwrap());
        for dev in devices() {
            let what = format!("{rows}x{cols}, {classes} classes");
            let (ed, cd) = (up(&dev, &e), up(&dev, &centers));
            let got = dev.backend().center_loss(&ed, &cd, on).unwrap();
            check(&format!("center_loss {what}"), &dev, &down(&dev, &got), &loss, LAST_BIT);
            let got = dev.backend().center_loss_backward(&up(&dev, &dloss), &ed, &cd, on).unwrap();
            check(&format!("center_loss_backward {what}"), &dev, &down(&dev, &got), &de, EXACT);
        }
    }
}

#[test]
fn center_update_matches_the_cpu_exactly() {
    for (rows, cols) in SHAPES {
        let shape = Rows { rows, cols };
        let mut rng = Rng::new(fresh_seed());
        // More classes than the batch holds: some centers stay as they were.
        let classes = 1 + rng.below(2 * rows.min(40) + 1);
        let e = rng.vec(rows * cols, -1.0, 1.0);
        let centers = rng.vec(classes * cols, -1.0, 1.0);
        let labels = labels(rows, classes, &mut rng);
        let on = LabelledRows { labels: &labels, shape };
        let rest = 1.0 - 0.95f32;
        // In place, under an open gate; a closed one (NaN) leaves the centers as they were.
        let updated = |d: &cari::Device, gate: f32| {
            let mut c = up(d, &centers);
            d.backend().center_update(&mut c, &up(d, &e), on, rest, &up(d, &[gate, 0.0, 1.0])).unwrap();
            down(d, &c)
        };
        let want = updated(&cpu(), 1.0);
        assert_eq!(want.len(), centers.len());
        assert_eq!(updated(&cpu(), f32::NAN), centers, "a closed gate changed the centers on the CPU");
        for dev in devices() {
            check(&format!("center_update {rows}x{cols}, {classes} classes"), &dev, &updated(&dev, 1.0), &want, EXACT);
            assert_eq!(updated(&dev, f32::NAN), centers, "a closed gate changed the centers on {dev}");
        }
    }
}

#[test]
fn bad_labels_and_foreign_storage_are_errors_naming_the_op() {
    let shape = Rows { rows: 2, cols: 3 };
    let host = up(&cpu(), &[0.0; 6]);
    for dev in devices() {
        let logits = up(&dev, &[0.0; 6]);
        let msg = dev
            .backend()
            .softmax_cross_entropy(&logits, LabelledRows { labels: &[0, 3], shape })
            .expect_err("label 3 of 3")
            .to_string();
        assert!(msg.contains("softmax_cross_entropy") && msg.contains("label 3 of row 1"), "{msg}");
        let msg = dev
            .backend()
            .softmax_cross_entropy(&logits, LabelledRows { labels: &[0], shape })
            .expect_err("one label")
            .to_string();
        assert!(msg.contains("1 labels for 2 rows"), "{msg}");
        let msg = dev
            .backend()
            .softmax_cross_entropy(&host, LabelledRows { labels: &[0, 1], shape })
            .expect_err("CPU logits")
            .to_string();
        assert!(msg.contains(&dev.to_string()) && msg.contains("CPU"), "{msg}");
        // Two classes of 3 columns: label 2 has no center.
        let centers = up(&dev, &[0.0; 6]);
        let msg = dev
            .backend()
            .center_loss(&logits, &centers, LabelledRows { labels: &[1, 2], shape })
            .expect_err("label 2 of 2")
            .to_string();
        assert!(msg.contains("center_loss") && msg.contains("not below the 2 classes"), "{msg}");
        let ragged = up(&dev, &[0.0; 7]);
        let msg = dev.backend().center_loss_backward(
            &up(&dev, &[1.0; 2]),
            &logits,
            &ragged,
            LabelledRows { labels: &[0, 1], shape },
        );
        assert!(msg.expect_err("7 center values").to_string().contains("not whole rows of 3"));
    }
}

#[test]
fn task_loss_and_its_backward_match_the_cpu() {
    use cari::backend::{TaskLoss, TaskRows};
    // (rows, classes, dim): one row, the network's shapes, more rows than a block's.
    for (rows, classes, dim) in [(1, 3, 5), (30, 20, 128), (300, 7, 33)] {
        let mut rng = Rng::new(fresh_seed());
        let labels: Vec<usize> = (0..rows).map(|_| rng.below(classes)).collect();
        let (logits, e) = (random(rows * classes, fresh_seed()), random(rows * dim, fresh_seed()));
        let (centers, dloss) = (random(classes * dim, fresh_seed()), random(1, fresh_seed()));
        let rows_of_task = TaskRows { labels: &labels, classes, dim, lambda: 0.1 };
        let run = |d: &cari::Device| {
            let b = d.backend();
            let (e, centers) = (up(d, &e), up(d, &centers));
            let (loss, probs) = b
                .task_loss(&up(d, &logits), TaskLoss { e: &e, centers: &centers, rows: rows_of_task })
                .unwrap_or_else(|err| panic!("{d}: {err}"));
            let on = TaskLoss { e: &e, centers: &centers, rows: rows_of_task };
            let (dlogits, de) = b.task_loss_backward(&up(d, &dloss), &probs, on).unwrap();
            [down(d, &loss), down(d, &probs), down(d, &dlogits), down(d, &de)]
        };
        let want = run(&cpu());
        for device in devices() {
            let got = run(&device);
            // exp is within 2 ulp on the device; everything downstream a few roundings.
            let tol = Tolerance { atol: 1e-6, rtol: 1e-5, reason: "expf within 2 ulp, then a few roundings" };
            for ((what, g), w) in ["loss", "probs", "dlogits", "de"].iter().zip(&got).zip(&want) {
                check(&format!("task loss {what} {rows}x{classes}/{dim}"), &device, g, w, tol);
            }
        }
    }
}

#[test]
fn weighted_losses_match_exactly() {
    use cari::backend::{LossTerm, WeightedLosses};
    let w = random(3, fresh_seed()).iter().map(|v| v.abs() + 0.1).collect::<Vec<_>>();
    let losses: Vec<f32> = random(3, fresh_seed()).iter().map(|v| v.abs() * 3.0).collect();
    for term in [LossTerm::Product, LossTerm::Inverse { sigma: 0.01 }] {
        for indices in [&[0usize, 1, 2][..], &[2, 0], &[1]] {
            let run = |d: &cari::Device| {
                let b = d.backend();
                let ls: Vec<Storage> = indices.iter().map(|&i| up(d, &[losses[i]])).collect();
                let refs: Vec<&Storage> = ls.iter().collect();
                let on = WeightedLosses { weights: &up(d, &w), losses: &refs, indices, term };
                let y = b.weighted_losses(on).unwrap_or_else(|e| panic!("{d}: {e}"));
                let (dw, dls) = b.weighted_losses_backward(&up(d, &[0.7]), on, true).unwrap();
                let mut out = vec![down(d, &y), down(d, &dw)];
                out.extend(dls.iter().map(|x| down(d, x)));
                out
            };
            let want = run(&cpu());
            for device in devices() {
                let got = run(&device);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    check(&format!("weighted losses {term:?} {indices:?} output {i}"), &device, g, w, EXACT);
                }
            }
        }
    }
}
