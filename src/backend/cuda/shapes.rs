//! Launch shapes several op families share, each the Rust side of a pattern in
//! `kernels/common.cuh`: grid-stride loops, column tiles (per-channel reductions over
//! `[rows, channels]`), row groups (row-wise reductions).

use super::runtime::kernels as k;
use super::runtime::launch::{linear_blocks, Launch};
use super::THREADS;
use crate::backend::Rows;

/// Elements each thread of a grid-stride kernel takes: a few, so every thread keeps
/// several loads in flight and the loop's bookkeeping is shared by them.
pub const ELEMENTS_PER_THREAD: usize = 4;

/// A 1-D launch of `THREADS`-thread blocks for a grid-stride loop over `n` items.
pub fn grid_stride(kernel: k::Kernel, n: usize) -> Launch {
    Launch::linear(kernel, n.div_ceil(ELEMENTS_PER_THREAD), THREADS)
}

/// The blocks [`grid_stride`] gives `n` items: what one tensor of a multi-tensor
/// grid-stride launch takes.
pub fn grid_stride_blocks(n: usize) -> usize {
    linear_blocks(n.div_ceil(ELEMENTS_PER_THREAD), THREADS) as usize
}

/// Blocks that keep an H100 full: 8 resident blocks of 256 threads on each of 132 SMs.
pub const TARGET_BLOCKS: usize = 1024;

/// The column-tile launch shape (`kernels/common.cuh`) over `[rows, channels]`: blocks of
/// [`THREADS`] threads covering `tile` channels (the next power of two up to 32) of
/// `THREADS / tile` rows, one block column per tile.
pub struct ColumnTiles {
    pub tile: u32,
    column_blocks: usize,
}

impl ColumnTiles {
    pub fn new(channels: usize) -> ColumnTiles {
        let tile = channels.clamp(1, 32).next_power_of_two();
        ColumnTiles { tile: tile as u32, column_blocks: channels.div_ceil(tile).max(1) }
    }

    /// Blocks across the channels: one per tile.
    pub fn column_blocks(&self) -> usize {
        self.column_blocks
    }

    /// Row splits (blocks along rows) for a pass over `rows`: enough to fill the GPU, but
    /// each thread keeps at least `min_rows_per_thread` rows.
    pub fn splits(&self, rows: usize, min_rows_per_thread: usize) -> usize {
        let rows_per_block_step = (THREADS / self.tile) as usize;
        let by_rows = rows.div_ceil(rows_per_block_step * min_rows_per_thread);
        by_rows.min(TARGET_BLOCKS.div_ceil(self.column_blocks)).clamp(1, 65_535)
    }

    /// A launch with `splits` blocks along rows and `shared` bytes of dynamic shared memory.
    pub fn launch(&self, kernel: k::Kernel, splits: usize) -> Launch {
        let columns = u32::try_from(self.column_blocks).unwrap_or(u32::MAX);
        Launch::new(kernel, [columns, splits as u32, 1], [THREADS, 1, 1])
    }
}

/// Shared memory of `cari_column_tile_sum_f64` in a block of [`THREADS`] threads.
pub const COLUMN_SUM_SHARED: usize = THREADS as usize / 32 * 32 * 8;

/// The row-group launch shape (`kernels/common.cuh`): `group` threads per row (a power of
/// two giving each about 8 columns, at most 1024), `THREADS / group` rows per block when
/// that is more than one.
pub fn row_groups(kernel: k::Kernel, shape: Rows) -> Launch {
    let group = shape.cols.div_ceil(8).next_power_of_two().clamp(1, 1024) as u32;
    let rows_per_block = (THREADS / group).max(1);
    let blocks = shape.rows.div_ceil(rows_per_block as usize).clamp(1, 1 << 20) as u32;
    // The reductions' scratch, 32 doubles per row, serves groups wider than a warp only.
    let shared = if group > 32 { 32 * rows_per_block as usize * 8 } else { 0 };
    Launch::new(kernel, [blocks, 1, 1], [group, rows_per_block, 1]).shared(shared)
}
