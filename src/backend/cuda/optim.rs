//! Fused optimizer updates in place (`kernels/optim.cu`), bit-identical to the CPU's.

use super::runtime::kernels as k;
use super::shapes::grid_stride;
use super::CudaBackend;
use crate::backend::cpu::optim::adam_step_size;

use crate::backend::{AdamStep, OptimOps, ParamUpdate, RmsPropStep, SgdStep};
use crate::error::Result;

/// The addresses of an update's parameter, state slots and gradient, in that order (the
/// kernels' argument order), checking that all are f32 storage of this device of one
/// length.
fn operands<const SLOTS: usize>(
    b: &CudaBackend,
    op: &'static str,
    u: &ParamUpdate<SLOTS>,
) -> Result<(usize, Vec<u64>)> {
    let (p, n) = b.f32_storage(op, u.param)?;
    let mut ptrs = vec![p];
    for s in &u.slots {
        ptrs.push(b.input(op, s, n)?);
    }
    ptrs.push(b.input(op, u.grad, n)?);
    Ok((n, ptrs))
}

impl OptimOps for CudaBackend {
    fn sgd_momentum(&self, update: ParamUpdate<1>, hyper: SgdStep) -> Result<()> {
        let op = "sgd_momentum";
        let (n, ptrs) = operands(self, op, &update)?;
        let launch = ptrs.iter().fold(grid_stride(k::OPTIM_SGD_MOMENTUM, n), |l, &p| l.ptr(p));
        self.launch(op, launch.f32(hyper.lr).f32(hyper.momentum).f32(hyper.grad_scale).size(n))
    }

    fn rmsprop(&self, update: ParamUpdate<2>, hyper: RmsPropStep) -> Result<()> {
        let op = "rmsprop";
        let (n, ptrs) = operands(self, op, &update)?;
        let launch = ptrs.iter().fold(grid_stride(k::OPTIM_RMSPROP, n), |l, &p| l.ptr(p));
        let launch = launch.f32(hyper.lr).f32(hyper.decay).f32(hyper.momentum).f32(hyper.epsilon);
        self.launch(op, launch.f32(hyper.grad_scale).size(n))
    }

    fn adam(&self, update: ParamUpdate<2>, hyper: AdamStep) -> Result<()> {
        let op = "adam";
        let (n, ptrs) = operands(self, op, &update)?;
        let lr_t = adam_step_size(&hyper)?;
        let launch = ptrs.iter().fold(grid_stride(k::OPTIM_ADAM, n), |l, &p| l.ptr(p));
        let launch = launch.f32(lr_t).f32(hyper.beta1).f32(hyper.beta2).f32(hyper.epsilon);
        self.launch(op, launch.f32(hyper.grad_scale).size(n))
    }
}
