//! The in-place updates of a training step (`kernels/optim.cu`), each one launch over a
//! whole group ([`TensorList`]), bit-identical to the CPU's.

use super::runtime::kernels::{self as k, Kernel};
use super::runtime::launch::Launch;
use super::shapes::{grid_stride_blocks, ELEMENTS_PER_THREAD};
use super::tensor_list::TensorList;
use super::{CudaBackend, DeviceBuffer, THREADS};
use crate::backend::cpu::optim::adam_step_size;
use crate::backend::{
    AdamStep, Blend, OptimOps, ParamUpdate, RmsPropStep, SgdStep, Storage, UpdateControl, CONTROL_LEN,
};
use crate::error::Result;

/// Most blocks of one gradient's sum of squares: a full H100 (132 SMs × 2048 threads),
/// beyond which threads take more elements. Fixed by the length, so the sum is reproducible.
const SQUARES_MAX_BLOCKS: usize = 1024;

/// One launch of an update `kernel` over `group`: each entry the parameter, its slots and
/// the gradient (all of one length), then the control's two pointers and `args`.
fn update_group<const SLOTS: usize>(
    b: &CudaBackend,
    op: &'static str,
    kernel: Kernel,
    group: Vec<ParamUpdate<SLOTS>>,
    control: UpdateControl,
    args: impl FnOnce(Launch) -> Launch,
) -> Result<()> {
    let (scale, gate) = (b.input(op, control.scale, CONTROL_LEN)?, b.input(op, control.gate, CONTROL_LEN)?);
    let mut list = TensorList::default();
    for u in &group {
        let (p, n) = b.f32_storage(op, u.param)?;
        let mut ptrs = vec![p];
        for s in &u.slots {
            ptrs.push(b.input(op, s, n)?);
        }
        ptrs.push(b.input(op, u.grad, n)?);
        list.push(&ptrs, n, grid_stride_blocks(n));
    }
    let (_list, launch) = list.upload(b, op, kernel)?;
    b.launch(op, args(launch.ptr(scale).ptr(gate)))
}

impl OptimOps for CudaBackend {
    fn group_control(&self, grads: &[&Storage], max_norm: Option<f32>, guard: Option<&Storage>) -> Result<Storage> {
        let op = "group_control";
        let mut list = TensorList::default();
        for g in grads {
            let (ptr, n) = self.f32_storage(op, g)?;
            list.push(&[ptr], n, n.div_ceil(THREADS as usize * ELEMENTS_PER_THREAD).clamp(1, SQUARES_MAX_BLOCKS));
        }
        let guard = guard.map(|g| self.f32_storage(op, g)).transpose()?.map_or(0, |(ptr, _)| ptr);
        let partial = DeviceBuffer::alloc(&self.gpu, op, list.blocks().max(1) * 8)?;
        let control = self.alloc_f32(op, CONTROL_LEN)?;
        let done = self.completion_counters(op, 1)?;
        let (_list, launch) = list.upload(self, op, k::OPTIM_GROUP_CONTROL)?;
        let launch = launch.shared(32 * 8).ptr(control.buffer.ptr()).ptr(partial.ptr()).ptr(done).ptr(guard);
        self.launch(op, launch.f32(max_norm.unwrap_or(f32::INFINITY)))?;
        Ok(Storage::Cuda(control))
    }

    fn sgd_momentum(&self, group: Vec<ParamUpdate<1>>, hyper: SgdStep, control: UpdateControl) -> Result<()> {
        update_group(self, "sgd_momentum", k::OPTIM_SGD_MOMENTUM, group, control, |l| {
            l.f32(hyper.lr).f32(hyper.momentum)
        })
    }

    fn rmsprop(&self, group: Vec<ParamUpdate<2>>, hyper: RmsPropStep, control: UpdateControl) -> Result<()> {
        update_group(self, "rmsprop", k::OPTIM_RMSPROP, group, control, |l| {
            l.f32(hyper.lr).f32(hyper.decay).f32(hyper.momentum).f32(hyper.epsilon)
        })
    }

    fn adam(&self, group: Vec<ParamUpdate<2>>, hyper: AdamStep, control: UpdateControl) -> Result<()> {
        let lr_t = adam_step_size(&hyper)?;
        update_group(self, "adam", k::OPTIM_ADAM, group, control, |l| {
            l.f32(lr_t).f32(hyper.beta1).f32(hyper.beta2).f32(hyper.epsilon)
        })
    }

    fn blend(&self, group: Vec<Blend>, gate: &Storage) -> Result<()> {
        let op = "blend";
        let gate = self.input(op, gate, CONTROL_LEN)?;
        let mut list = TensorList::default();
        for b in &group {
            let (target, n) = self.f32_storage(op, b.target)?;
            list.push(&[target, self.input(op, b.source, n)?], n, grid_stride_blocks(n)).scalars([b.keep, b.take]);
        }
        let (_list, launch) = list.upload(self, op, k::OPTIM_BLEND)?;
        self.launch(op, launch.ptr(gate))
    }
}
