//! A launch description: kernel, grid, block, dynamic shared memory and the ordered
//! arguments. The real driver and the CPU emulation both launch from it, so launch
//! configuration and argument order are exercised by every emulated test.

use super::kernels::{Kernel, Param};
use crate::error::{Error, Result};

/// One kernel argument by value (pointers are device addresses).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arg {
    Ptr(u64),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    F32(f32),
    F64(f64),
}

impl Arg {
    pub fn kind(&self) -> Param {
        match self {
            Arg::Ptr(_) => Param::Ptr,
            Arg::I32(_) => Param::I32,
            Arg::U32(_) => Param::U32,
            Arg::I64(_) => Param::I64,
            Arg::U64(_) => Param::U64,
            Arg::F32(_) => Param::F32,
            Arg::F64(_) => Param::F64,
        }
    }

    /// Where the value lives, as CUDA's `void** kernelParams` wants it.
    pub fn as_param_ptr(&self) -> *mut std::ffi::c_void {
        match self {
            Arg::Ptr(v) | Arg::U64(v) => v as *const u64 as *mut _,
            Arg::I32(v) => v as *const i32 as *mut _,
            Arg::U32(v) => v as *const u32 as *mut _,
            Arg::I64(v) => v as *const i64 as *mut _,
            Arg::F32(v) => v as *const f32 as *mut _,
            Arg::F64(v) => v as *const f64 as *mut _,
        }
    }
}

/// The most threads a block may have, and the largest dynamic shared memory we request
/// (Hopper allows 227 KiB per block after opting in; we stay under the 48 KiB default).
pub const MAX_BLOCK_THREADS: u32 = 1024;
pub const MAX_DYNAMIC_SHARED: u32 = 48 * 1024;

#[derive(Clone, Debug)]
pub struct Launch {
    pub kernel: Kernel,
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub shared_bytes: u32,
    pub args: Vec<Arg>,
    /// The arithmetic the launch does, as its launcher counts it (GEMMs: 2 per
    /// multiply-add; 0 where not counted), for the profile.
    pub flops: u64,
}

impl Launch {
    pub fn new(kernel: Kernel, grid: [u32; 3], block: [u32; 3]) -> Launch {
        Launch { kernel, grid, block, shared_bytes: 0, args: Vec::with_capacity(kernel.params.len()), flops: 0 }
    }

    /// A 1-D grid with `threads` threads per block covering `n` work items, one per thread
    /// (kernels loop with the grid's stride if the grid is capped).
    pub fn linear(kernel: Kernel, n: usize, threads: u32) -> Launch {
        Launch::new(kernel, [linear_blocks(n, threads), 1, 1], [threads, 1, 1])
    }

    /// Records the launch's arithmetic (see `flops`).
    pub fn flops(mut self, flops: usize) -> Launch {
        self.flops = flops as u64;
        self
    }

    pub fn shared(mut self, bytes: usize) -> Launch {
        self.shared_bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        self
    }

    pub fn ptr(mut self, device_address: u64) -> Launch {
        self.args.push(Arg::Ptr(device_address));
        self
    }
    pub fn i32(mut self, v: i32) -> Launch {
        self.args.push(Arg::I32(v));
        self
    }
    pub fn u32(mut self, v: u32) -> Launch {
        self.args.push(Arg::U32(v));
        self
    }
    /// Sizes and indices: every kernel takes them as 64-bit (`i64` in common.cuh).
    pub fn size(mut self, v: usize) -> Launch {
        self.args.push(Arg::I64(v as i64));
        self
    }
    pub fn u64(mut self, v: u64) -> Launch {
        self.args.push(Arg::U64(v));
        self
    }
    pub fn f32(mut self, v: f32) -> Launch {
        self.args.push(Arg::F32(v));
        self
    }
    pub fn f64(mut self, v: f64) -> Launch {
        self.args.push(Arg::F64(v));
        self
    }

    pub fn threads_per_block(&self) -> u64 {
        self.block.iter().map(|&b| b as u64).product()
    }

    /// Checks the arguments against the kernel's declared parameters and the launch
    /// configuration against the hardware's limits, before either launch path sees it.
    pub fn validate(&self, op: &'static str, device: &str) -> Result<()> {
        let fail = |msg: String| Err(Error::Backend { op, device: device.into(), msg });
        let k = &self.kernel;
        if self.args.len() != k.params.len() {
            return fail(format!(
                "kernel `{}` takes {} arguments, launch gave {}",
                k.name,
                k.params.len(),
                self.args.len()
            ));
        }
        if let Some((i, (a, p))) = self.args.iter().zip(k.params).enumerate().find(|(_, (a, p))| a.kind() != **p) {
            return fail(format!("kernel `{}` argument {i}: expected {p:?}, launch gave {:?}", k.name, a.kind()));
        }
        let threads = self.threads_per_block();
        if threads == 0 || threads > MAX_BLOCK_THREADS as u64 || self.block[2] > 64 {
            return fail(format!("kernel `{}`: invalid block {:?}", k.name, self.block));
        }
        if self.grid[0] == 0
            || self.grid[0] > i32::MAX as u32
            || !(1..=65535).contains(&self.grid[1])
            || !(1..=65535).contains(&self.grid[2])
        {
            return fail(format!("kernel `{}`: invalid grid {:?}", k.name, self.grid));
        }
        if self.shared_bytes > MAX_DYNAMIC_SHARED {
            return fail(format!(
                "kernel `{}`: {} bytes of dynamic shared memory exceed the {MAX_DYNAMIC_SHARED}-byte limit",
                k.name, self.shared_bytes
            ));
        }
        Ok(())
    }
}

/// Grid-stride kernels need no more blocks than keep every SM busy several times over.
const MAX_LINEAR_BLOCKS: usize = 65_535;

/// The blocks of `threads` threads a [`Launch::linear`] over `n` items takes.
pub fn linear_blocks(n: usize, threads: u32) -> u32 {
    n.div_ceil(threads as usize).clamp(1, MAX_LINEAR_BLOCKS) as u32
}
