//! The backend boundary: every op's forward and backward is a method of one op family's
//! trait (`MemoryOps`, `ElementwiseOps`, `MatmulOps`, `Conv2dOps`, `BatchNormOps`,
//! `PoolOps`, `LayoutOps`, `LossOps`, `NormalizeOps`, `DropoutOps`, `OptimOps`), each in
//! the file of that family here beside its argument types, and implemented in the file of
//! the same name in `cpu/` and `cuda/`. [`Backend`] is their sum, which [`Device`] holds.
//!
//! Backends see raw storage plus a geometry that `crate::ops` has already validated, so
//! they never check shapes against each other; they only check that storage is theirs and
//! of the dtype they compute in. Conventions (shapes in brackets, row-major):
//! - activations are NHWC, viewed as `[rows, channels]` by per-channel ops;
//! - conv weights are HWIO `[kh, kw, in_c, out_c]`, linear weights `[in, out]`;
//! - every method returns fresh storage, except the optimizer updates, which change the
//!   parameter and its state in place (nothing else reads them).
//!
//! `CpuBackend` (in `cpu/`) is the reference; the CUDA backend implements the same traits.

mod batch_norm;
mod conv2d;
pub mod cpu;
pub mod cuda;
mod device;
mod dropout;
mod elementwise;
mod layout;
mod loss;
mod matmul;
mod memory;
mod normalize;
mod optim;
mod pool;
mod profile;
mod storage;

pub use batch_norm::{Activation, BatchNorm, BatchNormGeometry, BatchNormOps, BnSums, Values};
pub use conv2d::{
    Conv2dBackward, Conv2dGeometry, Conv2dGradients, Conv2dGrads, Conv2dOps, ConvBnBackward, ConvBnGradients,
    ConvResidual, Padding,
};
pub use device::Device;
pub use dropout::DropoutOps;
pub use elementwise::{BinaryOp, ElementwiseOps, ResidualTail, ResidualTailGradients};
pub use layout::LayoutOps;
pub use loss::{LabelledRows, LossGradients, LossOps, LossTerm, TaskLoss, TaskRows, WeightedLosses};
pub use matmul::{MatmulGeometry, MatmulOps};
pub use memory::MemoryOps;
pub use normalize::{NormalizeOps, WeightHead};
pub use optim::{
    control_values, AdamStep, Blend, OptimOps, ParamUpdate, RmsPropStep, SgdStep, UpdateControl, CONTROL_LEN,
};
pub use pool::{Pool2dGeometry, PoolOps};
pub use profile::{KernelCounts, Profile};
pub use storage::{CpuStorage, CudaStorage, MappedF32, Storage};

use crate::error::Result;

/// `[rows, cols]` view of a tensor for row-wise and per-column ops (every family but
/// convolution and pooling takes one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rows {
    pub rows: usize,
    pub cols: usize,
}

/// What a backend is besides its ops: a device with a name and a queue of work.
pub trait DeviceOps: Send + Sync {
    /// The device's name as users write it: `cpu`, `cuda:0`.
    fn name(&self) -> String;

    /// Waits until every operation issued so far has finished (kernels launch
    /// asynchronously on a GPU); reports a fault of an earlier launch. Timing needs it.
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

    /// What the device has done since it was opened (launches, allocations, copies, waits),
    /// where the backend counts it: the CUDA backends do, the CPU does not.
    fn profile(&self) -> Option<Profile> {
        None
    }

    /// A point of this device's queue of work: what is queued so far (a copy ahead waits for
    /// it, see `MemoryOps::upload_ahead`). Devices that run work as it is queued have
    /// passed every point already.
    fn queue_point(&self) -> Result<QueuePoint> {
        Ok(QueuePoint(None))
    }

    /// Whether [`begin_capture`](DeviceOps::begin_capture) works here.
    fn records_graphs(&self) -> bool {
        false
    }

    /// From here on, records this device's work instead of running it, until
    /// [`end_capture`](DeviceOps::end_capture): the work of a [`DeviceGraph`]. Nothing may
    /// be read or waited for in between (nothing has run yet), and the capture takes all the
    /// device's work, whichever thread queues it (one stream): no other thread may use the
    /// device meanwhile. CUDA devices only.
    fn begin_capture(&self, _capture: Capture) -> Result<()> {
        Err(no_graphs(&self.name()))
    }

    /// The work recorded since `begin_capture`, to replay.
    fn end_capture(&self) -> Result<DeviceGraph> {
        Err(no_graphs(&self.name()))
    }
}

/// A point of a device's queue of work (`DeviceOps::queue_point`).
#[derive(Clone)]
pub struct QueuePoint(pub(crate) Option<cuda::runtime::QueueMark>);

/// What a captured graph is for, which decides whose its buffers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capture {
    /// Replayed later, as captured, its inputs rewritten in place: the buffers handed out
    /// while it was captured stay its own until it goes, and every one must come from the
    /// device's pool (run the same work once before capturing it).
    Kept,
    /// Replayed once right after its capture (and replaced by the next capture, see
    /// [`DeviceGraph::update`]): its buffers go back to the pool as work run as usual
    /// would give them back, since its replay runs before any later work in stream order,
    /// and a buffer the pool lacks is allocated.
    Once,
}

fn no_graphs(device: &str) -> crate::error::Error {
    let msg = "this device records no graphs (CUDA devices only)".into();
    crate::error::Error::Backend { op: "graph capture", device: device.into(), msg }
}

/// Device work recorded once and replayed whole: a CUDA graph. A replay runs the same
/// kernels on the same buffers, so whoever captured it keeps those buffers alive (the
/// device's pool keeps the ones the capture allocated until the graph goes) and writes new
/// inputs into the buffers it read (`MemoryOps::copy_into`).
pub struct DeviceGraph(Box<dyn cuda::runtime::Graph>);

impl DeviceGraph {
    /// Queues the recorded work again.
    pub fn replay(&self) -> Result<()> {
        self.0.replay("graph replay")
    }

    /// The kernel launches one replay runs.
    pub fn launches(&self) -> usize {
        self.0.launches()
    }

    /// Becomes `newer`, a later capture on the same device: on a GPU the executable graph
    /// is updated in place where the two have the same shape of work.
    pub fn update(&mut self, newer: DeviceGraph) -> Result<()> {
        self.0.update(newer.0)
    }
}

/// Declares `Backend` as the sum of the family traits, with the blanket implementation
/// that makes every type implementing all of them a backend (the list is written once).
macro_rules! backend_of_families {
    ($($family:ident),+) => {
        /// A complete backend: every op family on one device.
        pub trait Backend: $($family +)+ {}

        impl<B: $($family +)+> Backend for B {}
    };
}

backend_of_families!(
    DeviceOps,
    MemoryOps,
    ElementwiseOps,
    MatmulOps,
    Conv2dOps,
    BatchNormOps,
    PoolOps,
    LayoutOps,
    LossOps,
    NormalizeOps,
    DropoutOps,
    OptimOps
);
