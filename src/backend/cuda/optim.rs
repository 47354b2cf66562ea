//! Fused optimizer updates in place (`kernels/optim.cu`), bit-identical to the CPU's.

use super::runtime::kernels as k;
use super::shapes::grid_stride;
use super::CudaBackend;
use crate::backend::cpu::optim::adam_step_size;

use crate::backend::{AdamStep, OptimOps, RmsPropStep, SgdStep, Storage};
use crate::error::Result;

/// The addresses of a parameter, its two state tensors (the second `None` for SGD) and
/// its gradient, checking that all are f32 storage of this device of one length.
fn operands(
    b: &CudaBackend,
    op: &'static str,
    param: &Storage,
    state: [Option<&Storage>; 2],
    grad: &Storage,
) -> Result<(usize, Vec<u64>)> {
    let (p, n) = b.f32_storage(op, param)?;
    let mut ptrs = vec![p];
    for s in state.into_iter().flatten() {
        ptrs.push(b.input(op, s, n)?);
    }
    ptrs.push(b.input(op, grad, n)?);
    Ok((n, ptrs))
}

impl OptimOps for CudaBackend {
    fn sgd_momentum(&self, param: &mut Storage, velocity: &mut Storage, grad: &Storage, hyper: SgdStep) -> Result<()> {
        let op = "sgd_momentum";
        let (n, ptrs) = operands(self, op, param, [Some(&*velocity), None], grad)?;
        let launch = ptrs.iter().fold(grid_stride(k::OPTIM_SGD_MOMENTUM, n), |l, &p| l.ptr(p));
        self.launch(op, launch.f32(hyper.lr).f32(hyper.momentum).f32(hyper.grad_scale).size(n))
    }

    fn rmsprop(
        &self,
        param: &mut Storage,
        ms: &mut Storage,
        mom: &mut Storage,
        grad: &Storage,
        hyper: RmsPropStep,
    ) -> Result<()> {
        let op = "rmsprop";
        let (n, ptrs) = operands(self, op, param, [Some(&*ms), Some(&*mom)], grad)?;
        let launch = ptrs.iter().fold(grid_stride(k::OPTIM_RMSPROP, n), |l, &p| l.ptr(p));
        let launch = launch.f32(hyper.lr).f32(hyper.decay).f32(hyper.momentum).f32(hyper.epsilon);
        self.launch(op, launch.f32(hyper.grad_scale).size(n))
    }

    fn adam(
        &self,
        param: &mut Storage,
        m: &mut Storage,
        v: &mut Storage,
        grad: &Storage,
        hyper: AdamStep,
    ) -> Result<()> {
        let op = "adam";
        let (n, ptrs) = operands(self, op, param, [Some(&*m), Some(&*v)], grad)?;
        let lr_t = adam_step_size(&hyper)?;
        let launch = ptrs.iter().fold(grid_stride(k::OPTIM_ADAM, n), |l, &p| l.ptr(p));
        let launch = launch.f32(lr_t).f32(hyper.beta1).f32(hyper.beta2).f32(hyper.epsilon);
        self.launch(op, launch.f32(hyper.grad_scale).size(n))
    }
}
