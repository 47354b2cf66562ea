//! Max pooling (3×3 windows at strides 2 and 1 on odd sizes, so windows overlap and some
//! inputs lie in no window) and global average pooling, forward and backward.

use super::harness::{check, cpu, devices, down, fresh_seed, random, up, Tolerance, EXACT};
use cari::backend::Pool2dGeometry;
use cari::rng::Rng;

fn geometry(batch: usize, in_h: usize, in_w: usize, channels: usize, window: usize, stride: usize) -> Pool2dGeometry {
    let (out_h, out_w) = ((in_h - window) / stride + 1, (in_w - window) / stride + 1);
    Pool2dGeometry { batch, in_h, in_w, channels, window, stride, out_h, out_w }
}

/// `(batch, in_h, in_w, channels, window, stride)`.
const MAX_POOLS: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 1, 1, 1, 1, 1),
    (2, 7, 9, 3, 3, 2),
    (1, 9, 7, 33, 3, 1),
    (3, 5, 5, 1, 3, 2),
    (1, 8, 10, 7, 3, 2),
    (1, 11, 13, 130, 3, 2),
    (2, 6, 5, 2, 2, 3),
];

/// `(batch, hw, channels)`.
const AVG_POOLS: [(usize, usize, usize); 6] = [(1, 1, 1), (3, 7, 5), (2, 9, 33), (2, 300, 3), (1, 9, 130), (7, 37, 1)];

/// The mean is an f64 sum rounded to f32 on both sides, summed in another order here.
const LAST_BIT: Tolerance =
    Tolerance { atol: 0.0, rtol: 2.5e-7, reason: "f32 of an f64 sum taken in another order: the last bit may differ" };

#[test]
fn max_pool_matches_the_cpu_ties_included() {
    for (batch, h, w, c, k, s) in MAX_POOLS {
        let g = geometry(batch, h, w, c, k, s);
        let mut rng = Rng::new(fresh_seed());
        let len = batch * h * w * c;
        // Small integers make ties common (the first maximum takes the gradient); signed
        // zeros check that the first maximum is kept, not the last.
        let ties: Vec<f32> = (0..len).map(|_| [0.0, -0.0, 1.0, 2.0, 3.0][rng.below(5)]).collect();
        let smooth = random(len, rng.next_u64());
        let dy = random(batch * g.out_h * g.out_w * c, rng.next_u64());
        for x in [ties, smooth] {
            let cpu = cpu();
            let (xc, dyc) = (up(&cpu, &x), up(&cpu, &dy));
            let y = down(&cpu, &cpu.backend().max_pool2d(&xc, &g).unwrap());
            let dx = down(&cpu, &cpu.backend().max_pool2d_backward(&dyc, &xc, &g).unwrap());
            for dev in devices() {
                let (xd, dyd) = (up(&dev, &x), up(&dev, &dy));
                let got = down(&dev, &dev.backend().max_pool2d(&xd, &g).unwrap());
                check(&format!("max_pool2d {g:?}"), &dev, &got, &y, EXACT);
                assert!(got.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()), "max_pool2d {g:?}: signed zeros");
                // Sums over the same windows in the same (oh, ow) order as the CPU's scatter.
                let got = dev.backend().max_pool2d_backward(&dyd, &xd, &g).unwrap();
                check(&format!("max_pool2d_backward {g:?}"), &dev, &down(&dev, &got), &dx, EXACT);
            }
        }
    }
}

#[test]
fn global_avg_pool_matches_the_cpu() {
    for (batch, hw, c) in AVG_POOLS {
        let seed = fresh_seed();
        let x = random(batch * hw * c, seed);
        let dy = random(batch * c, seed ^ 1);
        let cpu = cpu();
        let y = down(&cpu, &cpu.backend().global_avg_pool(&up(&cpu, &x), batch, hw, c).unwrap());
        let dx = down(&cpu, &cpu.backend().global_avg_pool_backward(&up(&cpu, &dy), batch, hw, c).unwrap());
        for dev in devices() {
            let got = dev.backend().global_avg_pool(&up(&dev, &x), batch, hw, c).unwrap();
            check(&format!("global_avg_pool {batch}x{hw}x{c}"), &dev, &down(&dev, &got), &y, LAST_BIT);
            let got = dev.backend().global_avg_pool_backward(&up(&dev, &dy), batch, hw, c).unwrap();
            check(&format!("global_avg_pool_backward {batch}x{hw}x{c}"), &dev, &down(&dev, &got), &dx, EXACT);
        }
    }
}

#[test]
fn foreign_or_short_storage_is_an_error_naming_the_op() {
    let g = geometry(1, 3, 3, 2, 3, 1);
    let host = up(&cpu(), &[1.0; 18]);
    for dev in devices() {
        let msg = dev.backend().max_pool2d(&host, &g).expect_err("CPU storage on a CUDA device").to_string();
        assert!(msg.contains("max_pool2d") && msg.contains(&dev.to_string()) && msg.contains("CPU"), "{msg}");
        let short = up(&dev, &[1.0; 17]);
        let msg =
            dev.backend().max_pool2d_backward(&up(&dev, &[1.0; 2]), &short, &g).expect_err("17 of 18").to_string();
        assert!(msg.contains("max_pool2d_backward") && msg.contains("expected 18 values"), "{msg}");
        let msg = dev.backend().global_avg_pool_backward(&host, 1, 9, 2).expect_err("CPU storage").to_string();
        assert!(msg.contains("global_avg_pool_backward") && msg.contains("CPU"), "{msg}");
    }
}
