//! Dense matrix products (`kernels/matmul.cu`) on the block-tiled GEMM of `kernels/gemm.cuh`,
//! which the convolution passes (`conv2d.rs`) share.

use super::runtime::kernels::{self as k, Kernel};
use super::runtime::launch::Launch;
use super::CudaBackend;
use crate::backend::{Activation, MatmulGeometry, MatmulOps, Storage};
use crate::error::Result;

/// The C tile one block computes is `GEMM_TILE × GEMM_TILE`, with `GEMM_THREADS` threads
/// (`GEMM_TILE` and `GEMM_THREADS` in gemm.cuh).
pub(super) const GEMM_TILE: usize = 64;
pub(super) const GEMM_THREADS: u32 = 256;

/// The number of tiles of a `[m, n]` C.
pub(super) fn tiles(m: usize, n: usize) -> usize {
    m.div_ceil(GEMM_TILE) * n.div_ceil(GEMM_TILE)
}

/// The launch of a tiled GEMM kernel whose C is `[m, n]`: one block per tile, numbered along
/// x with m fastest (`gemm_tile_origin` in gemm.cuh), `depth` blocks along z.
pub(super) fn tiled(kernel: Kernel, m: usize, n: usize, depth: usize) -> Launch {
    let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    Launch::new(kernel, [clamp(tiles(m, n)), 1, clamp(depth)], [GEMM_THREADS, 1, 1])
}

impl MatmulOps for CudaBackend {
    /// `c[m, n] = op(a)·op(b)`.
    fn matmul(&self, lhs: &Storage, rhs: &Storage, g: &MatmulGeometry) -> Result<Storage> {
        const OP: &str = "matmul";
        let lhs = self.input(OP, lhs, g.m * g.k)?;
        let rhs = self.input(OP, rhs, g.k * g.n)?;
        let c = self.alloc_f32(OP, g.m * g.n)?;
        if g.m * g.n > 0 {
            let kernel = match (g.transpose_a, g.transpose_b) {
                (false, false) => k::MATMUL_NN,
                (false, true) => k::MATMUL_NT,
                (true, false) => k::MATMUL_TN,
                (true, true) => k::MATMUL_TT,
            };
            let launch = tiled(kernel, g.m, g.n, 1).flops(2 * g.m * g.n * g.k);
            let launch = launch.ptr(c.buffer.ptr()).ptr(lhs).ptr(rhs).size(g.m).size(g.k).size(g.n);
            self.launch(OP, launch)?;
        }
        Ok(Storage::Cuda(c))
    }

    fn linear(&self, x: &Storage, w: &Storage, bias: &Storage, g: &MatmulGeometry, act: Activation) -> Result<Storage> {
        const OP: &str = "linear";
        if g.transpose_a || g.transpose_b {
            return Err(self.fail(OP, "a fully connected layer's operands are not transposed"));
        }
        let (x, w, bias) = (self.input(OP, x, g.m * g.k)?, self.input(OP, w, g.k * g.n)?, self.input(OP, bias, g.n)?);
        let y = self.alloc_f32(OP, g.m * g.n)?;
        if g.m * g.n > 0 {
            let launch = tiled(k::LINEAR_FORWARD, g.m, g.n, 1).flops(2 * g.m * g.n * g.k);
            let launch = launch.ptr(y.buffer.ptr()).ptr(x).ptr(w).ptr(bias).i32((act == Activation::Relu) as i32);
            self.launch(OP, launch.size(g.m).size(g.k).size(g.n))?;
        }
        Ok(Storage::Cuda(y))
    }
}
