//! The in-place updates of a training step: group controls, fused optimizer updates (one
//! pass over parameter, state and gradient), blends.
//!
//! Each update is written as the exact sequence of f32 roundings the CUDA kernels
//! (`kernels/optim.cu`) repeat, so both backends produce the same bits: every product and
//! quotient rounded on its own, no fused multiply-add.

use super::elementwise::{sum_squares, weighted_sum_into, CHUNK, PAR_MIN};
use super::{f32s, f32s_mut, wrap, CpuBackend};
use crate::backend::{
    control_values, AdamStep, Blend, OptimOps, ParamUpdate, RmsPropStep, SgdStep, Storage, UpdateControl,
};
use crate::error::{Error, Result};
use rayon::prelude::*;

/// SGD with momentum: `v ← μ·v + s·g`, `θ ← θ − lr·v`.
pub fn sgd_momentum(param: &mut [f32], velocity: &mut [f32], grad: &[f32], h: SgdStep, grad_scale: f32) {
    assert!(param.len() == velocity.len() && param.len() == grad.len(), "sgd: lengths differ");
    let update = |((p, v), g): ((&mut [f32], &mut [f32]), &[f32])| {
        for ((p, v), &g) in p.iter_mut().zip(v.iter_mut()).zip(g) {
            *v = h.momentum * *v + grad_scale * g;
            *p -= h.lr * *v;
        }
    };
    if param.len() < PAR_MIN {
        update(((param, velocity), grad));
    } else {
        param.par_chunks_mut(CHUNK).zip(velocity.par_chunks_mut(CHUNK)).zip(grad.par_chunks(CHUNK)).for_each(update);
    }
}

/// A run of a parameter, its two state tensors and its gradient, nested as rayon's zips
/// nest them.
type StateChunks<'a> = (((&'a mut [f32], &'a mut [f32]), &'a mut [f32]), &'a [f32]);

/// Runs `update` over the whole of `state` at once when it is small, else over runs of
/// [`CHUNK`] elements in parallel.
fn in_chunks(state: StateChunks, update: impl Fn(StateChunks) + Sync + Send) {
    let (((param, a), b), grad) = state;
    if param.len() < PAR_MIN {
        update((((param, a), b), grad));
    } else {
        param
            .par_chunks_mut(CHUNK)
            .zip(a.par_chunks_mut(CHUNK))
            .zip(b.par_chunks_mut(CHUNK))
            .zip(grad.par_chunks(CHUNK))
            .for_each(update);
    }
}

/// RMSProp as TF implements it, with `g = s·grad`:
/// `ms ← ρ·ms + (1 − ρ)·g²; mom ← μ·mom + lr·g/√(ms + ε); θ ← θ − mom`.
pub fn rmsprop(param: &mut [f32], ms: &mut [f32], mom: &mut [f32], grad: &[f32], h: RmsPropStep, grad_scale: f32) {
    let n = param.len();
    assert!(ms.len() == n && mom.len() == n && grad.len() == n, "rmsprop: lengths differ");
    let rest = 1.0 - h.decay;
    let update = |(((p, ms), mom), g): StateChunks| {
        for (((p, ms), mom), &g) in p.iter_mut().zip(ms.iter_mut()).zip(mom.iter_mut()).zip(g) {
            let g = grad_scale * g;
            *ms = h.decay * *ms + rest * (g * g);
            *mom = h.momentum * *mom + h.lr * g / (*ms + h.epsilon).sqrt();
            *p -= *mom;
        }
    };
    in_chunks((((param, ms), mom), grad), update);
}

/// Adam's bias-corrected step size `lr_t = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)`, computed in f64 and
/// rounded once (every backend takes it from here). Step 0 has no bias correction.
pub fn adam_step_size(h: &AdamStep) -> Result<f32> {
    if h.step == 0 {
        return Err(Error::invalid("Adam step", "0 (steps count from 1)"));
    }
    let t = h.step as f64;
    let correction = (1.0 - f64::from(h.beta2).powf(t)).sqrt() / (1.0 - f64::from(h.beta1).powf(t));
    Ok((f64::from(h.lr) * correction) as f32)
}

/// Adam as TF implements it, with `g = s·grad` and `lr_t` from [`adam_step_size`]:
/// `m ← β₁·m + (1 − β₁)·g; v ← β₂·v + (1 − β₂)·g²; θ ← θ − lr_t·m/(√v + ε)`.
pub fn adam(param: &mut [f32], m: &mut [f32], v: &mut [f32], grad: &[f32], h: AdamStep, grad_scale: f32) -> Result<()> {
    let n = param.len();
    assert!(m.len() == n && v.len() == n && grad.len() == n, "adam: lengths differ");
    let lr_t = adam_step_size(&h)?;
    let (rest1, rest2) = (1.0 - h.beta1, 1.0 - h.beta2);
    let update = |(((p, m), v), g): StateChunks| {
        for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            let g = grad_scale * g;
            *m = h.beta1 * *m + rest1 * g;
            *v = h.beta2 * *v + rest2 * (g * g);
            *p -= lr_t * *m / (v.sqrt() + h.epsilon);
        }
    };
    in_chunks((((param, m), v), grad), update);
    Ok(())
}

/// The gradient scale of `control`, or `None` when its gate is closed.
fn open_scale(op: &'static str, control: UpdateControl) -> Result<Option<f32>> {
    Ok(gate_open(op, control.gate)?.then(|| f32s(control.scale, op)).transpose()?.map(|c| c[2]))
}

fn gate_open(op: &'static str, gate: &Storage) -> Result<bool> {
    Ok(f32s(gate, op)?.first().is_some_and(|g| g.is_finite()))
}

impl OptimOps for CpuBackend {
    fn group_control(&self, grads: &[&Storage], max_norm: Option<f32>, guard: Option<&Storage>) -> Result<Storage> {
        let op = "group_control";
        let total =
            grads.iter().try_fold(0f64, |sq, g| Ok::<_, crate::error::Error>(sq + sum_squares(f32s(g, op)?)))?;
        let guard_finite = guard.map_or(Ok(true), |g| gate_open(op, g))?;
        Ok(wrap(control_values(total.sqrt() as f32, max_norm, guard_finite).to_vec()))
    }

    fn sgd_momentum(&self, group: Vec<ParamUpdate<1>>, hyper: SgdStep, control: UpdateControl) -> Result<()> {
        let op = "sgd_momentum";
        let Some(s) = open_scale(op, control)? else { return Ok(()) };
        for ParamUpdate { param, slots: [v], grad } in group {
            sgd_momentum(f32s_mut(param, op)?, f32s_mut(v, op)?, f32s(grad, op)?, hyper, s);
        }
        Ok(())
    }

    fn rmsprop(&self, group: Vec<ParamUpdate<2>>, hyper: RmsPropStep, control: UpdateControl) -> Result<()> {
        let op = "rmsprop";
        let Some(s) = open_scale(op, control)? else { return Ok(()) };
        for ParamUpdate { param, slots: [ms, mom], grad } in group {
            rmsprop(f32s_mut(param, op)?, f32s_mut(ms, op)?, f32s_mut(mom, op)?, f32s(grad, op)?, hyper, s);
        }
        Ok(())
    }

    fn adam(&self, group: Vec<ParamUpdate<2>>, hyper: AdamStep, control: UpdateControl) -> Result<()> {
        let op = "adam";
        adam_step_size(&hyper)?;
        let Some(s) = open_scale(op, control)? else { return Ok(()) };
        for ParamUpdate { param, slots: [m, v], grad } in group {
            adam(f32s_mut(param, op)?, f32s_mut(m, op)?, f32s_mut(v, op)?, f32s(grad, op)?, hyper, s)?;
        }
        Ok(())
    }

    fn blend(&self, group: Vec<Blend>, gate: &Storage) -> Result<()> {
        let op = "blend";
        if !gate_open(op, gate)? {
            return Ok(());
        }
        for Blend { target, source, keep, take } in group {
            weighted_sum_into(f32s_mut(target, op)?, keep, f32s(source, op)?, take);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        let h = SgdStep { lr: 0.5, momentum: 0.9 };
        let (mut p, mut v) = (vec![1.0, -1.0], vec![0.1, 0.0]);
        sgd_momentum(&mut p, &mut v, &[1.0, -0.5], h, 2.0);
        // v' = 0.9·0.1 + 2·1 = 2.09, θ' = 1 − 0.5·2.09; v' = −1, θ' = −1 + 0.5.
        assert_eq!(v, vec![0.9f32 * 0.1 + 2.0, -1.0]);
        assert_eq!(p, vec![1.0 - 0.5 * (0.9f32 * 0.1 + 2.0), -0.5]);
    }

    #[test]
    fn parallel_matches_sequential() {
        let n = 3 * PAR_MIN + 7;
        let p0: Vec<f32> = (0..n).map(|i| (i % 13) as f32 * 0.1).collect();
        let v0: Vec<f32> = (0..n).map(|i| (i % 7) as f32 * -0.2).collect();
        let g: Vec<f32> = (0..n).map(|i| (i % 5) as f32 * 0.3 - 0.6).collect();
        let h = SgdStep { lr: 0.01, momentum: 0.9 };
        let (mut p, mut v) = (p0.clone(), v0.clone());
        sgd_momentum(&mut p, &mut v, &g, h, 0.5);
        for i in 0..n {
            let vi = 0.9 * v0[i] + 0.5 * g[i];
            assert_eq!(v[i], vi);
            assert_eq!(p[i], p0[i] - 0.01 * vi);
        }
    }
}

#[cfg(test)]
mod adaptive_tests {
    use super::super::elementwise::test_support::Rng;
    use super::*;

    /// One RMSProp step of one element, in f64: the formula the f32 update approximates.
    fn rmsprop_scalar(p: f64, ms: f64, mom: f64, g: f64, h: RmsPropStep, s: f32) -> (f64, f64, f64) {
        let (rho, mu, lr, eps) = (h.decay as f64, h.momentum as f64, h.lr as f64, h.epsilon as f64);
        let g = s as f64 * g;
        let ms = rho * ms + (1.0 - rho) * g * g;
        let mom = mu * mom + lr * g / (ms + eps).sqrt();
        (p - mom, ms, mom)
    }

    fn adam_scalar(p: f64, m: f64, v: f64, g: f64, h: AdamStep, s: f32) -> (f64, f64, f64) {
        let (b1, b2, eps, t) = (h.beta1 as f64, h.beta2 as f64, h.epsilon as f64, h.step as f64);
        let g = s as f64 * g;
        let m = b1 * m + (1.0 - b1) * g;
        let v = b2 * v + (1.0 - b2) * g * g;
        let lr_t = h.lr as f64 * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t));
        (p - lr_t * m / (v.sqrt() + eps), m, v)
    }

    /// A few f32 roundings per update, each at most 2⁻²⁴ relative: 1e-6 of the value
    /// (plus `scale`, the size of the terms that may cancel in it) is ample and still
    /// catches a wrong term or coefficient.
    fn close(what: &str, i: usize, got: f32, want: f64, scale: f64) {
        assert!((got as f64 - want).abs() <= 1e-6 * (scale + want.abs()), "{what}[{i}]: {got} vs {want}");
    }

    #[test]
    fn rmsprop_by_hand() {
        // TF's start: ms = 1, mom = 0. g = 2·0.5 = 1; ms = 0.9 + 0.1 = 1;
        // mom = 0.1·1/√(1 + 1) = 0.0707…; θ = 1 − mom.
        let h = RmsPropStep { lr: 0.1, decay: 0.9, momentum: 0.9, epsilon: 1.0 };
        let (mut p, mut ms, mut mom) = (vec![1.0f32], vec![1.0f32], vec![0.0f32]);
        rmsprop(&mut p, &mut ms, &mut mom, &[0.5], h, 2.0);
        assert_eq!(ms, vec![1.0]);
        assert!((mom[0] - 0.1 / 2f32.sqrt()).abs() < 1e-7, "{mom:?}");
        assert_eq!(p[0], 1.0 - mom[0]);
    }

    #[test]
    fn adam_by_hand() {
        // Step 1 from m = v = 0: m = 0.1·g, v = 0.001·g², lr_t = lr·√0.001/0.1, so the step
        // is lr·sign(g) up to ε: θ = 1 − 0.5·g/(|g| + ε/√0.001).
        let h = AdamStep { lr: 0.5, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, step: 1 };
        let (mut p, mut m, mut v) = (vec![1.0f32, 1.0], vec![0.0f32; 2], vec![0.0f32; 2]);
        adam(&mut p, &mut m, &mut v, &[4.0, -0.25], h, 1.0).unwrap();
        assert!((p[0] - 0.5).abs() < 1e-6 && (p[1] - 1.5).abs() < 1e-6, "{p:?}");
        // From zero state: m = (1 − β₁)·g, v = (1 − β₂)·g², with the coefficients in f32.
        assert_eq!(m, vec![(1.0f32 - 0.9) * 4.0, (1.0f32 - 0.9) * -0.25]);
        assert_eq!(v, vec![(1.0f32 - 0.999) * 16.0, (1.0f32 - 0.999) * 0.0625]);
    }

    #[test]
    fn adam_step_zero_is_rejected() {
        let h = AdamStep { lr: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, step: 0 };
        let err = adam(&mut [0.0], &mut [0.0], &mut [0.0], &[1.0], h, 1.0).unwrap_err();
        assert!(err.to_string().contains("Adam step"), "{err}");
        let later = AdamStep { step: 1000, ..h };
        let lr_t = adam_step_size(&later).unwrap() as f64;
        let (b1, b2) = (f64::from(0.9f32), f64::from(0.999f32));
        let want = f64::from(0.1f32) * (1.0 - b2.powi(1000)).sqrt() / (1.0 - b1.powi(1000));
        assert!((lr_t - want).abs() <= 1e-7 * want, "{lr_t} vs {want}");
    }

    /// Several steps on inputs large enough to run in parallel, each element against the
    /// scalar formula in f64 carried through the same steps.
    #[test]
    fn several_steps_match_the_scalar_formulas() {
        let mut rng = Rng::new(40);
        for n in [1, 7, 3 * PAR_MIN + 5] {
            let p0 = rng.vec(n, -1.0, 1.0);
            let grads: Vec<Vec<f32>> = (0..3).map(|_| rng.vec(n, -2.0, 2.0)).collect();

            let h = RmsPropStep { lr: 0.05, decay: 0.9, momentum: 0.9, epsilon: 1.0 };
            let (mut p, mut ms, mut mom) = (p0.clone(), vec![1.0f32; n], vec![0.0f32; n]);
            let mut want: Vec<(f64, f64, f64)> = p0.iter().map(|&p| (p as f64, 1.0, 0.0)).collect();
            for g in &grads {
                rmsprop(&mut p, &mut ms, &mut mom, g, h, 0.7);
                for (w, &g) in want.iter_mut().zip(g) {
                    *w = rmsprop_scalar(w.0, w.1, w.2, g as f64, h, 0.7);
                }
            }
            for (i, w) in want.iter().enumerate() {
                close("rmsprop θ", i, p[i], w.0, 1.0);
                close("rmsprop ms", i, ms[i], w.1, 0.0);
                close("rmsprop mom", i, mom[i], w.2, 0.1);
            }

            let (mut p, mut m, mut v) = (p0.clone(), vec![0.0f32; n], vec![0.0f32; n]);
            let mut want: Vec<(f64, f64, f64)> = p0.iter().map(|&p| (p as f64, 0.0, 0.0)).collect();
            for (t, g) in grads.iter().enumerate() {
                let h = AdamStep { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-3, step: t as u64 + 1 };
                adam(&mut p, &mut m, &mut v, g, h, 0.7).unwrap();
                for (w, &g) in want.iter_mut().zip(g) {
                    *w = adam_scalar(w.0, w.1, w.2, g as f64, h, 0.7);
                }
            }
            for (i, w) in want.iter().enumerate() {
                close("adam θ", i, p[i], w.0, 1.0);
                close("adam m", i, m[i], w.1, 1.0);
                close("adam v", i, v[i], w.2, 0.0);
            }
        }
    }
}
