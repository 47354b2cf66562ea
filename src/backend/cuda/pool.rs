//! Max and global average pooling over NHWC activations (`kernels/pool.cu`). The max-pool
//! gradient is a gather over the windows covering each input (first maxima recorded by one
//! pass over the windows), so it needs no atomics and sums in the CPU's order.

use super::runtime::kernels as k;
use super::runtime::launch::Launch;
use super::shapes::{ColumnTiles, COLUMN_SUM_SHARED};
use super::{CudaBackend, DeviceBuffer, THREADS};
use crate::backend::{Pool2dGeometry, PoolOps, Storage};
use crate::error::Result;

fn input_len(g: &Pool2dGeometry) -> usize {
    g.batch * g.in_h * g.in_w * g.channels
}

fn output_len(g: &Pool2dGeometry) -> usize {
    g.batch * g.out_h * g.out_w * g.channels
}

/// The geometry arguments every max-pool kernel takes after its pointers, then `n`.
fn with_geometry(launch: Launch, g: &Pool2dGeometry, n: usize) -> Launch {
    launch.size(g.in_h).size(g.in_w).size(g.channels).size(g.window).size(g.stride).size(g.out_h).size(g.out_w).size(n)
}

/// Column tiles over each image's `[hw, channels]`, images along the grid's y.
fn image_tiles(kernel: k::Kernel, batch: usize, channels: usize) -> (Launch, i32) {
    let tiles = ColumnTiles::new(channels);
    (tiles.launch(kernel, batch.clamp(1, 65_535)), tiles.tile as i32)
}

impl PoolOps for CudaBackend {
    fn max_pool2d(&self, x: &Storage, g: &Pool2dGeometry) -> Result<Storage> {
        const OP: &str = "max_pool2d";
        let x = self.input(OP, x, input_len(g))?;
        let n = output_len(g);
        let y = self.alloc_f32(OP, n)?;
        let launch = Launch::linear(k::MAX_POOL2D_FORWARD, n, THREADS).ptr(y.buffer.ptr()).ptr(x);
        self.launch(OP, with_geometry(launch, g, n))?;
        Ok(Storage::Cuda(y))
    }

    fn max_pool2d_backward(&self, dy: &Storage, x: &Storage, g: &Pool2dGeometry) -> Result<Storage> {
        const OP: &str = "max_pool2d_backward";
        let (n_in, n_out) = (input_len(g), output_len(g));
        let dy = self.input(OP, dy, n_out)?;
        let x = self.input(OP, x, n_in)?;
        let arg = DeviceBuffer::alloc(&self.gpu, OP, n_out * 4)?;
        let launch = Launch::linear(k::MAX_POOL2D_ARGMAX, n_out, THREADS).ptr(arg.ptr()).ptr(x);
        self.launch(OP, with_geometry(launch, g, n_out))?;
        let dx = self.alloc_f32(OP, n_in)?;
        let launch = Launch::linear(k::MAX_POOL2D_BACKWARD, n_in, THREADS).ptr(dx.buffer.ptr()).ptr(dy).ptr(arg.ptr());
        self.launch(OP, with_geometry(launch, g, n_in))?;
        Ok(Storage::Cuda(dx))
    }

    fn global_avg_pool(&self, x: &Storage, batch: usize, hw: usize, channels: usize) -> Result<Storage> {
        const OP: &str = "global_avg_pool";
        let x = self.input(OP, x, batch * hw * channels)?;
        let y = self.alloc_f32(OP, batch * channels)?;
        let (launch, tile) = image_tiles(k::GLOBAL_AVG_POOL_FORWARD, batch, channels);
        self.launch(
            OP,
            launch.shared(COLUMN_SUM_SHARED).ptr(y.buffer.ptr()).ptr(x).size(batch).size(hw).size(channels).i32(tile),
        )?;
        Ok(Storage::Cuda(y))
    }

    fn global_avg_pool_backward(&self, dy: &Storage, batch: usize, hw: usize, channels: usize) -> Result<Storage> {
        const OP: &str = "global_avg_pool_backward";
        let dy = self.input(OP, dy, batch * channels)?;
        let dx = self.alloc_f32(OP, batch * hw * channels)?;
        let (launch, tile) = image_tiles(k::GLOBAL_AVG_POOL_BACKWARD, batch, channels);
        // The CPU multiplies by 1/hw rounded to f32.
        let scale = 1.0 / hw as f32;
        self.launch(OP, launch.ptr(dx.buffer.ptr()).ptr(dy).size(batch).size(hw).size(channels).i32(tile).f32(scale))?;
        Ok(Storage::Cuda(dx))
    }
}
