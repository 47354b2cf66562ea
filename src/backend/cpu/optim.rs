//! Fused optimizer updates: one pass over parameter, state and gradient, in place.

use super::elementwise::{CHUNK, PAR_MIN};
use crate::backend::SgdStep;
use rayon::prelude::*;

/// SGD with momentum: `v ← μ·v + s·g`, `θ ← θ − lr·v`.
pub fn sgd_momentum(param: &mut [f32], velocity: &mut [f32], grad: &[f32], h: SgdStep) {
    assert!(param.len() == velocity.len() && param.len() == grad.len(), "sgd: lengths differ");
    let update = |((p, v), g): ((&mut [f32], &mut [f32]), &[f32])| {
        for ((p, v), &g) in p.iter_mut().zip(v.iter_mut()).zip(g) {
            *v = h.momentum * *v + h.grad_scale * g;
            *p -= h.lr * *v;
        }
    };
    if param.len() < PAR_MIN {
        update(((param, velocity), grad));
    } else {
        param.par_chunks_mut(CHUNK).zip(velocity.par_chunks_mut(CHUNK)).zip(grad.par_chunks(CHUNK)).for_each(update);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        let h = SgdStep { lr: 0.5, momentum: 0.9, grad_scale: 2.0 };
        let (mut p, mut v) = (vec![1.0, -1.0], vec![0.1, 0.0]);
        sgd_momentum(&mut p, &mut v, &[1.0, -0.5], h);
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
        let h = SgdStep { lr: 0.01, momentum: 0.9, grad_scale: 0.5 };
        let (mut p, mut v) = (p0.clone(), v0.clone());
        sgd_momentum(&mut p, &mut v, &g, h);
        for i in 0..n {
            let vi = 0.9 * v0[i] + 0.5 * g[i];
            assert_eq!(v[i], vi);
            assert_eq!(p[i], p0[i] - 0.01 * vi);
        }
    }
}
