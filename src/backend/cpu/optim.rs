//! Fused optimizer updates: one pass over parameter, state and gradient.

use super::buffer;
use super::elementwise::{CHUNK, PAR_MIN};
use crate::backend::SgdStep;
use rayon::prelude::*;

/// SGD with momentum: `v' = μ·v + s·g`, `θ' = θ − lr·v'`; returns `(θ', v')`.
pub fn sgd_momentum(param: &[f32], velocity: &[f32], grad: &[f32], h: SgdStep) -> (Vec<f32>, Vec<f32>) {
    assert!(param.len() == velocity.len() && param.len() == grad.len(), "sgd: lengths differ");
    let (mut p_out, mut v_out) = (buffer::uninit(param.len()), buffer::uninit(param.len()));
    // Element range `start..start + len` of every operand.
    let update = |start: usize, po: &mut [f32], vo: &mut [f32]| {
        let range = start..start + po.len();
        let inputs = param[range.clone()].iter().zip(&velocity[range.clone()]).zip(&grad[range]);
        for ((po, vo), ((&p, &v), &g)) in po.iter_mut().zip(vo.iter_mut()).zip(inputs) {
            *vo = h.momentum * v + h.grad_scale * g;
            *po = p - h.lr * *vo;
        }
    };
    if param.len() < PAR_MIN {
        update(0, &mut p_out, &mut v_out);
    } else {
        p_out
            .par_chunks_mut(CHUNK)
            .zip(v_out.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(i, (po, vo))| update(i * CHUNK, po, vo));
    }
    (p_out, v_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        let h = SgdStep { lr: 0.5, momentum: 0.9, grad_scale: 2.0 };
        let (p, v) = sgd_momentum(&[1.0, -1.0], &[0.1, 0.0], &[1.0, -0.5], h);
        // v' = 0.9·0.1 + 2·1 = 2.09, θ' = 1 − 0.5·2.09; v' = −1, θ' = −1 + 0.5.
        assert_eq!(v, vec![0.9f32 * 0.1 + 2.0, -1.0]);
        assert_eq!(p, vec![1.0 - 0.5 * (0.9f32 * 0.1 + 2.0), -0.5]);
    }

    #[test]
    fn parallel_matches_sequential() {
        let n = 3 * PAR_MIN + 7;
        let p: Vec<f32> = (0..n).map(|i| (i % 13) as f32 * 0.1).collect();
        let v: Vec<f32> = (0..n).map(|i| (i % 7) as f32 * -0.2).collect();
        let g: Vec<f32> = (0..n).map(|i| (i % 5) as f32 * 0.3 - 0.6).collect();
        let h = SgdStep { lr: 0.01, momentum: 0.9, grad_scale: 0.5 };
        let (po, vo) = sgd_momentum(&p, &v, &g, h);
        for i in 0..n {
            let vi = 0.9 * v[i] + 0.5 * g[i];
            assert_eq!(vo[i], vi);
            assert_eq!(po[i], p[i] - 0.01 * vi);
        }
    }
}
