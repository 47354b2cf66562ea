//! Dense matrix products on the CPU: `c[m, n] = op(a) · op(b)`, row-major.
//!
//! `op(a)` is `[m, k]` and `op(b)` is `[k, n]`; a transposed operand is stored as its
//! transpose (`a` as `[k, m]`, `b` as `[n, k]`), see [`MatmulGeometry`]. The work is done by
//! the `gemm` crate, which takes a row and a column stride per operand, so a transpose is
//! only a swap of strides: nothing is copied.
//!
//! - [`matmul`] returns a fresh `[m, n]` product (the backend's `matmul`).
//! - [`matmul_into`] writes into an existing buffer, overwriting or accumulating, on one
//!   thread or all of them; `conv2d` uses it so that its GEMMs land directly in the output
//!   or in a per-thread partial sum, with no extra copy.
//! - [`reference::matmul`] is the naive triple loop the tests compare against.

use super::elementwise::{add_bias, relu};
use super::{f32s, wrap, CpuBackend};
use crate::backend::{Activation, MatmulGeometry, MatmulOps, Rows, Storage};
use crate::error::Result;

/// What [`matmul_into`] does with the destination's previous contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dst {
    /// `c = op(a)·op(b)`; the old contents are never read (they may be anything).
    Overwrite,
    /// `c += op(a)·op(b)`.
    Accumulate,
}

/// How many threads [`matmul_into`] may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// The calling thread only: for callers that already run one GEMM per rayon task.
    Single,
    /// Every thread of the current rayon pool, when the product is big enough to be worth it.
    All,
}

/// Below this many multiply-adds a product runs on one thread: splitting it costs more
/// than it saves.
const PARALLEL_MIN_MACS: usize = 1 << 18;

/// `c[m, n] = op(a) · op(b)`, multi-threaded for all but tiny products.
pub fn matmul(a: &[f32], b: &[f32], g: &MatmulGeometry) -> Vec<f32> {
    let mut c = super::buffer::uninit(g.m * g.n);
    matmul_into(&mut c, a, b, g, Dst::Overwrite, Threads::All);
    c
}

/// `c[m, n] = op(a)·op(b)` or `c[m, n] += op(a)·op(b)`, in place.
///
/// # Panics
/// If a slice's length does not match the geometry.
pub fn matmul_into(c: &mut [f32], a: &[f32], b: &[f32], g: &MatmulGeometry, dst: Dst, threads: Threads) {
    let MatmulGeometry { m, k, n, transpose_a, transpose_b } = *g;
    assert_eq!(a.len(), m * k, "matmul: lhs length");
    assert_eq!(b.len(), k * n, "matmul: rhs length");
    assert_eq!(c.len(), m * n, "matmul: destination length");
    // (row stride, column stride) of op(a) and op(b) in their stored layouts.
    let (a_rs, a_cs) = if transpose_a { (1, m) } else { (k, 1) };
    let (b_rs, b_cs) = if transpose_b { (1, k) } else { (n, 1) };
    let parallelism = match threads {
        Threads::All if m * n * k >= PARALLEL_MIN_MACS => gemm::Parallelism::Rayon(rayon::current_num_threads()),
        _ => gemm::Parallelism::None,
    };
    let accumulate = dst == Dst::Accumulate;
    // SAFETY: the asserts above make every index gemm touches in bounds: with the strides
    // chosen, element (i, p) of op(a) is at i·a_rs + p·a_cs ≤ (m−1)·a_rs + (k−1)·a_cs < m·k
    // (likewise for b and c), and gemm reads nothing when m, n or k is zero, apart from
    // writing zeros into the (then empty or fully overwritten) destination. `c` is a unique
    // borrow, so nothing else reads or writes it while gemm runs; `a` and `b` are only read.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

impl MatmulOps for CpuBackend {
    fn matmul(&self, a: &Storage, b: &Storage, g: &MatmulGeometry) -> Result<Storage> {
        Ok(wrap(matmul(f32s(a, "matmul")?, f32s(b, "matmul")?, g)))
    }

    fn linear(&self, x: &Storage, w: &Storage, bias: &Storage, g: &MatmulGeometry, act: Activation) -> Result<Storage> {
        let op = "linear";
        let y = add_bias(&matmul(f32s(x, op)?, f32s(w, op)?, g), f32s(bias, op)?, Rows { rows: g.m, cols: g.n });
        Ok(wrap(match act {
            Activation::Relu => relu(&y),
            Activation::Identity => y,
        }))
    }
}

/// The obviously-correct definition, for tests.
pub mod reference {
    use crate::backend::MatmulGeometry;

    /// `c[i, j] = Σ_p op(a)[i, p]·op(b)[p, j]`, accumulated in f64.
    pub fn matmul(a: &[f32], b: &[f32], g: &MatmulGeometry) -> Vec<f32> {
        let MatmulGeometry { m, k, n, transpose_a, transpose_b } = *g;
        assert_eq!(a.len(), m * k);
        assert_eq!(b.len(), k * n);
        let at = |i: usize, p: usize| if transpose_a { a[p * m + i] } else { a[i * k + p] };
        let bt = |p: usize, j: usize| if transpose_b { b[j * k + p] } else { b[p * n + j] };
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    s += at(i, p) as f64 * bt(p, j) as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn data(len: usize, seed: u64) -> Vec<f32> {
        crate::rng::Rng::new(seed).vec(len, -1.0, 1.0)
    }

    /// The fast path sums in f32 in a blocked order, the reference in f64: with inputs in
    /// [-1, 1) the difference grows like √k·ε per term, far below this bound.
    fn assert_close(got: &[f32], want: &[f32], k: usize) {
        assert_eq!(got.len(), want.len());
        let atol = 1e-5 * (k.max(1) as f32).sqrt();
        for (i, (&x, &y)) in got.iter().zip(want).enumerate() {
            assert!((x - y).abs() <= atol + 1e-4 * y.abs(), "element {i}: {x} vs {y}");
        }
    }

    const SIZES: [(usize, usize, usize); 9] = [
        (1, 1, 1),
        (1, 7, 1),
        (7, 1, 5),
        (13, 17, 11),
        (2, 3, 1),
        (1, 31, 29),
        (64, 64, 64),
        (97, 131, 67),
        (300, 257, 129),
    ];

    fn combos() -> impl Iterator<Item = MatmulGeometry> {
        SIZES.into_iter().flat_map(|(m, k, n)| {
            [(false, false), (false, true), (true, false), (true, true)]
                .into_iter()
                .map(move |(transpose_a, transpose_b)| MatmulGeometry { m, k, n, transpose_a, transpose_b })
        })
    }

    #[test]
    fn matches_reference_all_transposes() {
        for (i, g) in combos().enumerate() {
            let a = data(g.m * g.k, 2 * i as u64);
            let b = data(g.k * g.n, 2 * i as u64 + 1);
            assert_close(&matmul(&a, &b, &g), &reference::matmul(&a, &b, &g), g.k);
        }
    }

    #[test]
    fn accumulate_adds_to_destination() {
        for (i, g) in combos().enumerate() {
            let a = data(g.m * g.k, 3 * i as u64);
            let b = data(g.k * g.n, 3 * i as u64 + 1);
            let c0 = data(g.m * g.n, 3 * i as u64 + 2);
            for threads in [Threads::Single, Threads::All] {
                let mut c = c0.clone();
                matmul_into(&mut c, &a, &b, &g, Dst::Accumulate, threads);
                let want: Vec<f32> = reference::matmul(&a, &b, &g).iter().zip(&c0).map(|(p, c)| p + c).collect();
                assert_close(&c, &want, g.k + 1);
            }
        }
    }

    #[test]
    fn overwrite_ignores_old_destination() {
        let g = MatmulGeometry { m: 37, k: 23, n: 19, transpose_a: true, transpose_b: false };
        let (a, b) = (data(g.m * g.k, 5), data(g.k * g.n, 6));
        let mut c = vec![f32::NAN; g.m * g.n];
        matmul_into(&mut c, &a, &b, &g, Dst::Overwrite, Threads::Single);
        assert_close(&c, &reference::matmul(&a, &b, &g), g.k);
    }

    #[test]
    fn empty_inner_dimension_gives_zeros() {
        for (transpose_a, transpose_b) in [(false, false), (true, true)] {
            let g = MatmulGeometry { m: 3, k: 0, n: 4, transpose_a, transpose_b };
            assert_eq!(matmul(&[], &[], &g), vec![0.0; 12]);
            let mut c = vec![f32::NAN; 12];
            matmul_into(&mut c, &[], &[], &g, Dst::Overwrite, Threads::All);
            assert_eq!(c, vec![0.0; 12]);
        }
        let g = MatmulGeometry { m: 0, k: 5, n: 4, transpose_a: false, transpose_b: false };
        assert!(matmul(&[], &data(20, 1), &g).is_empty());
    }

    #[test]
    fn reference_small_example() {
        // [[1, 2], [3, 4]] · [[5, 6], [7, 8]] = [[19, 22], [43, 50]]
        let g = MatmulGeometry { m: 2, k: 2, n: 2, transpose_a: false, transpose_b: false };
        assert_eq!(reference::matmul(&[1., 2., 3., 4.], &[5., 6., 7., 8.], &g), [19., 22., 43., 50.]);
        let gt = MatmulGeometry { transpose_a: true, transpose_b: true, ..g };
        assert_eq!(reference::matmul(&[1., 3., 2., 4.], &[5., 7., 6., 8.], &gt), [19., 22., 43., 50.]);
    }
}
