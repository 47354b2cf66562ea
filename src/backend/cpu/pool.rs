//! Pooling over NHWC activations.
//!
//! - `max_pool2d`: VALID padding, square window `k`, stride `s`:
//!   `y[n, oh, ow, c] = max_{0≤i,j<k} x[n, oh·s + i, ow·s + j, c]`, `x` is
//!   `[batch, in_h, in_w, C]`, `y` is `[batch, out_h, out_w, C]`.
//! - `max_pool2d_backward`: each `dy[n, oh, ow, c]` goes to the *first* maximum of its
//!   window, scanning `i` then `j` (row-major) and moving only on a strictly greater
//!   value, so ties go to the earliest position; overlapping windows accumulate.
//! - `global_avg_pool`: `x[batch, hw, C]` → `y[n, c] = (1/hw)·Σ_p x[n, p, c]` (summed in
//!   `f64`); its backward spreads `dy[n, c]/hw` to every position.
//!
//! The fast versions work on whole channel vectors and split the output into row blocks
//! for rayon; [`reference`] holds the per-element loops they are tested against.

use super::buffer;
use super::elementwise::for_row_blocks;
use super::{f32s, wrap, CpuBackend};
use crate::backend::{Pool2dGeometry, PoolOps, Storage};
use crate::error::Result;

pub fn max_pool2d(x: &[f32], g: &Pool2dGeometry) -> Vec<f32> {
    let &Pool2dGeometry { batch, in_h, in_w, channels: c, window, stride, out_h, out_w } = g;
    assert_eq!(x.len(), batch * in_h * in_w * c);
    let mut out = buffer::uninit(batch * out_h * out_w * c);
    // One matrix row per output image row (n, oh): out_w·C values.
    let row_len = out_w * c;
    let work = out.len() * window * window;
    for_row_blocks(&mut out, row_len, work, |first, block| {
        for (i, orow) in block.chunks_exact_mut(row_len).enumerate() {
            let (n, oh) = ((first + i) / out_h, (first + i) % out_h);
            for (ow, best) in orow.chunks_exact_mut(c).enumerate() {
                let pixel = |kh: usize, kw: usize| {
                    let at = ((n * in_h + oh * stride + kh) * in_w + ow * stride + kw) * c;
                    &x[at..at + c]
                };
                best.copy_from_slice(pixel(0, 0));
                for kh in 0..window {
                    for kw in 0..window {
                        for (b, &v) in best.iter_mut().zip(pixel(kh, kw)) {
                            if v > *b {
                                *b = v;
                            }
                        }
                    }
                }
            }
        }
    });
    out
}

pub fn max_pool2d_backward(dy: &[f32], x: &[f32], g: &Pool2dGeometry) -> Vec<f32> {
    let &Pool2dGeometry { batch, in_h, in_w, channels: c, window, stride, out_h, out_w } = g;
    assert_eq!(x.len(), batch * in_h * in_w * c);
    assert_eq!(dy.len(), batch * out_h * out_w * c);
    let mut dx = buffer::zeroed(x.len());
    // Windows overlap within an image, never across images: one matrix row per image.
    let image = in_h * in_w * c;
    let work = dy.len() * window * window;
    for_row_blocks(&mut dx, image, work, |first, block| {
        let mut best = vec![0.0f32; c];
        let mut arg = vec![0usize; c];
        for (i, dximg) in block.chunks_exact_mut(image).enumerate() {
            let n = first + i;
            let ximg = &x[n * image..(n + 1) * image];
            for oh in 0..out_h {
                for ow in 0..out_w {
                    let offset = |kh: usize, kw: usize| ((oh * stride + kh) * in_w + ow * stride + kw) * c;
                    let start = offset(0, 0);
                    best.copy_from_slice(&ximg[start..start + c]);
                    arg.fill(start);
                    for kh in 0..window {
                        for kw in 0..window {
                            let at = offset(kh, kw);
                            for ((b, a), &v) in best.iter_mut().zip(arg.iter_mut()).zip(&ximg[at..at + c]) {
                                if v > *b {
                                    *b = v;
                                    *a = at;
                                }
                            }
                        }
                    }
                    let d = &dy[((n * out_h + oh) * out_w + ow) * c..][..c];
                    for (ch, (&a, &d)) in arg.iter().zip(d).enumerate() {
                        dximg[a + ch] += d;
                    }
                }
            }
        }
    });
    dx
}

pub fn global_avg_pool(x: &[f32], batch: usize, hw: usize, channels: usize) -> Vec<f32> {
    assert_eq!(x.len(), batch * hw * channels);
    let mut out = vec![0.0; batch * channels];
    for_row_blocks(&mut out, channels, x.len(), |first, block| {
        let mut acc = vec![0.0f64; channels];
        for (i, orow) in block.chunks_exact_mut(channels).enumerate() {
            let n = first + i;
            acc.fill(0.0);
            for pixel in x[n * hw * channels..(n + 1) * hw * channels].chunks_exact(channels) {
                for (a, &v) in acc.iter_mut().zip(pixel) {
                    *a += v as f64;
                }
            }
            for (o, &a) in orow.iter_mut().zip(&acc) {
                *o = (a / hw as f64) as f32;
            }
        }
    });
    out
}

pub fn global_avg_pool_backward(dy: &[f32], batch: usize, hw: usize, channels: usize) -> Vec<f32> {
    assert_eq!(dy.len(), batch * channels);
    let scale = 1.0 / hw as f32;
    let mut dx = buffer::uninit(batch * hw * channels);
    let work = dx.len();
    for_row_blocks(&mut dx, channels, work, |first, block| {
        for (i, row) in block.chunks_exact_mut(channels).enumerate() {
            let n = (first + i) / hw;
            for (d, &g) in row.iter_mut().zip(&dy[n * channels..(n + 1) * channels]) {
                *d = g * scale;
            }
        }
    });
    dx
}

impl PoolOps for CpuBackend {
    fn max_pool2d(&self, x: &Storage, g: &Pool2dGeometry) -> Result<Storage> {
        Ok(wrap(max_pool2d(f32s(x, "max_pool2d")?, g)))
    }

    fn max_pool2d_backward(&self, dy: &Storage, x: &Storage, g: &Pool2dGeometry) -> Result<Storage> {
        let op = "max_pool2d_backward";
        Ok(wrap(max_pool2d_backward(f32s(dy, op)?, f32s(x, op)?, g)))
    }

    fn global_avg_pool(&self, x: &Storage, batch: usize, hw: usize, channels: usize) -> Result<Storage> {
        Ok(wrap(global_avg_pool(f32s(x, "global_avg_pool")?, batch, hw, channels)))
    }

    fn global_avg_pool_backward(&self, dy: &Storage, batch: usize, hw: usize, channels: usize) -> Result<Storage> {
        Ok(wrap(global_avg_pool_backward(f32s(dy, "global_avg_pool_backward")?, batch, hw, channels)))
    }
}

/// Per-element loops straight from the definitions, the check for the fast versions.
pub mod reference {
    use crate::backend::Pool2dGeometry;

    /// Index into `x` of the first maximum of output `(n, oh, ow, c)`'s window.
    fn argmax(x: &[f32], g: &Pool2dGeometry, n: usize, oh: usize, ow: usize, c: usize) -> usize {
        let at =
            |kh: usize, kw: usize| ((n * g.in_h + oh * g.stride + kh) * g.in_w + ow * g.stride + kw) * g.channels + c;
        let mut best = at(0, 0);
        for kh in 0..g.window {
            for kw in 0..g.window {
                if x[at(kh, kw)] > x[best] {
                    best = at(kh, kw);
                }
            }
        }
        best
    }

    fn outputs(g: &Pool2dGeometry) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        (0..g.batch).flat_map(move |n| {
            (0..g.out_h)
                .flat_map(move |oh| (0..g.out_w).flat_map(move |ow| (0..g.channels).map(move |c| (n, oh, ow, c))))
        })
    }

    pub fn max_pool2d(x: &[f32], g: &Pool2dGeometry) -> Vec<f32> {
        outputs(g).map(|(n, oh, ow, c)| x[argmax(x, g, n, oh, ow, c)]).collect()
    }

    pub fn max_pool2d_backward(dy: &[f32], x: &[f32], g: &Pool2dGeometry) -> Vec<f32> {
        let mut dx = vec![0.0; x.len()];
        for (i, (n, oh, ow, c)) in outputs(g).enumerate() {
            dx[argmax(x, g, n, oh, ow, c)] += dy[i];
        }
        dx
    }
}

#[cfg(test)]
mod tests {
    use super::super::elementwise::test_support::{assert_gradient, project, Rng};
    use super::super::elementwise::PAR_MIN;
    use super::*;

    fn geometry(
        batch: usize,
        in_h: usize,
        in_w: usize,
        channels: usize,
        window: usize,
        stride: usize,
    ) -> Pool2dGeometry {
        Pool2dGeometry {
            batch,
            in_h,
            in_w,
            channels,
            window,
            stride,
            out_h: (in_h - window) / stride + 1,
            out_w: (in_w - window) / stride + 1,
        }
    }

    #[test]
    fn max_pool_by_hand() {
        // One 4×4 single-channel image, 2×2 windows, stride 2.
        #[rustfmt::skip]
        let x = [
            1.0, 2.0, 5.0, 0.0,
            3.0, 4.0, 1.0, 1.0,
            0.0, 9.0, 7.0, 7.0,
            9.0, 0.0, 7.0, 7.0,
        ];
        let g = geometry(1, 4, 4, 1, 2, 2);
        assert_eq!(max_pool2d(&x, &g), vec![4.0, 5.0, 9.0, 7.0]);
        // Ties: 9 appears at (2, 1) and (3, 0): (2, 1) is first in row-major order; all
        // four 7s tie and (2, 2) is first.
        #[rustfmt::skip]
        let expected = [
            0.0, 0.0, 20.0, 0.0,
            0.0, 10.0, 0.0, 0.0,
            0.0, 30.0, 40.0, 0.0,
            0.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(max_pool2d_backward(&[10.0, 20.0, 30.0, 40.0], &x, &g), expected.to_vec());
    }

    #[test]
    fn overlapping_windows_accumulate() {
        // A 3×3 constant image, 2×2 windows, stride 1: every window ties everywhere and
        // hands its gradient to its own top-left corner.
        let x = [1.0f32; 9];
        let g = geometry(1, 3, 3, 1, 2, 1);
        assert_eq!(max_pool2d(&x, &g), vec![1.0; 4]);
        let dx = max_pool2d_backward(&[1.0, 2.0, 3.0, 4.0], &x, &g);
        assert_eq!(dx, vec![1.0, 2.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]);
        // A single central maximum collects all four windows' gradients.
        let mut x = [0.0f32; 9];
        x[4] = 1.0;
        let dx = max_pool2d_backward(&[1.0, 2.0, 3.0, 4.0], &x, &g);
        assert_eq!(dx, vec![0.0, 0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn max_pool_matches_reference() {
        let mut rng = Rng::new(20);
        let cases = [
            (1, 1, 1, 1, 1, 1),
            (1, 5, 7, 3, 3, 2),
            (2, 8, 8, 1, 2, 2),
            (3, 9, 6, 5, 3, 1),
            (2, 7, 7, 2, 2, 3),
            (1, 4, 4, 2, 4, 1),
            (4, 23, 17, 13, 3, 2),
            (2, 37, 41, 31, 3, 2),
        ];
        for (b, h, w, c, k, s) in cases {
            let g = geometry(b, h, w, c, k, s);
            // Coarse values so ties are common and the tie rule is exercised.
            let x: Vec<f32> = (0..b * h * w * c).map(|_| rng.below(5) as f32).collect();
            let dy = rng.vec(g.batch * g.out_h * g.out_w * c, -1.0, 1.0);
            assert_eq!(max_pool2d(&x, &g), reference::max_pool2d(&x, &g), "{g:?}");
            let fast = max_pool2d_backward(&dy, &x, &g);
            let slow = reference::max_pool2d_backward(&dy, &x, &g);
            // Same additions in the same order per input element.
            assert_eq!(fast, slow, "{g:?}");
        }
        const { assert!(2 * 37 * 41 * 31 > PAR_MIN, "the largest case runs in parallel") };
    }

    #[test]
    fn max_pool_backward_matches_finite_differences() {
        let mut rng = Rng::new(21);
        let g = geometry(2, 5, 6, 3, 3, 2);
        let len = g.batch * g.in_h * g.in_w * g.channels;
        // Distinct values 0.1 apart: a step of 1e-2 never changes any window's argmax.
        let x: Vec<f32> = rng.permutation(len).into_iter().map(|p| p as f32 * 0.1).collect();
        let w = rng.vec(g.batch * g.out_h * g.out_w * g.channels, -1.0, 1.0);
        let dx = max_pool2d_backward(&w, &x, &g);
        // Max pooling is linear away from ties, so only f32 rounding of x ± h (divided
        // out by the check) and of the f64 sum remain.
        assert_gradient(|x| project(&max_pool2d(x, &g), &w), &x, &dx, 1e-2, 1e-4);
    }

    #[test]
    fn global_avg_pool_by_hand_and_gradient() {
        // batch 2, hw 3, channels 2.
        let x = [1.0, 10.0, 2.0, 20.0, 3.0, 30.0, -1.0, 0.0, -2.0, 0.0, -6.0, 3.0];
        assert_eq!(global_avg_pool(&x, 2, 3, 2), vec![2.0, 20.0, -3.0, 1.0]);
        assert_eq!(
            global_avg_pool_backward(&[3.0, 6.0, -3.0, 0.0], 2, 3, 2),
            vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0, -1.0, 0.0, -1.0, 0.0, -1.0, 0.0]
        );
        let mut rng = Rng::new(22);
        for (batch, hw, c) in [(1, 1, 1), (3, 7, 5), (2, 49, 3), (3, 79 * 79, 7)] {
            let x = rng.vec(batch * hw * c, -1.0, 1.0);
            let w = rng.vec(batch * c, -1.0, 1.0);
            let dx = global_avg_pool_backward(&w, batch, hw, c);
            assert_eq!(dx.len(), x.len());
            if x.len() < 1000 {
                // Linear: exact up to f32 rounding.
                assert_gradient(|x| project(&global_avg_pool(x, batch, hw, c), &w), &x, &dx, 1e-2, 1e-4);
            } else {
                // Adjointness on the large (parallel) case: ⟨pool(x), w⟩ = ⟨x, pool*(w)⟩.
                let lhs = project(&global_avg_pool(&x, batch, hw, c), &w);
                let rhs = project(&x, &dx);
                assert!((lhs - rhs).abs() < 1e-5, "{lhs} vs {rhs}");
            }
        }
    }
}
