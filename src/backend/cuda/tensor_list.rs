//! Multi-tensor launches (`kernels/tensor_list.cuh`): the list of a group's tensors, each
//! with its run of blocks, written to the device in one copy so one launch serves the
//! whole group.

use super::runtime::kernels::Kernel;
use super::runtime::launch::Launch;
use super::{CudaBackend, DeviceBuffer, THREADS};
use crate::error::Result;
use bytemuck::{Pod, Zeroable};

/// `CariTensorEntry` of `kernels/tensor_list.cuh`, field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct Entry {
    ptr: [u64; 5],
    n: i64,
    first_block: i64,
    blocks: i64,
    size: [i64; 3],
    scalar: [f32; 2],
}

/// The entry just pushed, to give its per-tensor sizes and numbers.
pub struct Pushed<'a>(&'a mut Entry);

impl Pushed<'_> {
    pub fn sizes(self, sizes: [usize; 3]) -> Self {
        self.0.size = sizes.map(|s| s as i64);
        self
    }

    pub fn scalars(self, scalars: [f32; 2]) -> Self {
        self.0.scalar = scalars;
        self
    }
}

/// The tensors of one multi-tensor launch, in the order the kernel walks them.
#[derive(Default)]
pub struct TensorList {
    entries: Vec<Entry>,
    blocks: usize,
}

impl TensorList {
    /// Adds a tensor of `n` elements with its operands (in the kernel's order), served by
    /// `blocks` blocks (at least one).
    pub fn push(&mut self, operands: &[u64], n: usize, blocks: usize) -> Pushed<'_> {
        let mut ptr = [0; 5];
        ptr[..operands.len()].copy_from_slice(operands);
        let blocks = blocks.max(1);
        let (n, first_block) = (n as i64, self.blocks as i64);
        self.entries.push(Entry { ptr, n, first_block, blocks: blocks as i64, ..Entry::default() });
        self.blocks += blocks;
        Pushed(self.entries.last_mut().expect("just pushed"))
    }

    /// The blocks all entries take: the launch's grid.
    pub fn blocks(&self) -> usize {
        self.blocks
    }

    /// The list on the device and a launch of `kernel` over it with `THREADS`-thread blocks,
    /// its first two arguments the list and its length. An empty list becomes one entry of
    /// no elements, so the kernel still runs (and a reduction still writes its result).
    /// The buffer must outlive the launch.
    pub fn upload(mut self, b: &CudaBackend, op: &'static str, kernel: Kernel) -> Result<(DeviceBuffer, Launch)> {
        if self.entries.is_empty() {
            self.push(&[], 0, 1);
        }
        let bytes: &[u8] = bytemuck::cast_slice(&self.entries);
        let buffer = DeviceBuffer::alloc(&b.gpu, op, bytes.len())?;
        b.gpu.write(op, buffer.ptr(), bytes)?;
        let grid =
            u32::try_from(self.blocks).map_err(|_| b.fail(op, format!("{} blocks in one launch", self.blocks)))?;
        let launch =
            Launch::new(kernel, [grid, 1, 1], [THREADS, 1, 1]).ptr(buffer.ptr()).i32(self.entries.len() as i32);
        Ok((buffer, launch))
    }
}
