//! Rule-based state updates after a step: batch-norm moving averages and class centers.

use super::network::CENTERS;
use crate::autograd::ParamStore;
use crate::error::Result;
use crate::nn::BN_DECAY;
use crate::ops::BatchNormStats;
use crate::tensor::Tensor;

/// `moving ← decay·moving + (1 − decay)·batch` for every batch norm a training forward ran;
/// the variance is Bessel-corrected first (n/(n−1)), as TensorFlow's fused batch norm
/// and PyTorch do.
pub fn update_moving_averages(params: &mut ParamStore, stats: &[(String, BatchNormStats)]) -> Result<()> {
    for (scope, s) in stats {
        let correction = if s.count > 1 { s.count as f32 / (s.count - 1) as f32 } else { 1.0 };
        for (leaf, batch, scale) in [("moving_mean", &s.mean, 1.0), ("moving_variance", &s.variance, correction)] {
            let name = format!("{scope}/BatchNorm/{leaf}");
            let old = params.get(&name)?;
            let be = old.device().backend();
            let decayed = be.affine(old.storage(), BN_DECAY, 0.0)?;
            let new = be.add_scaled(&decayed, batch.storage(), (1.0 - BN_DECAY) * scale)?;
            params.set(&name, Tensor::from_storage(new, old.shape().clone(), old.device()))?;
        }
    }
    Ok(())
}

/// Center update of the reference (center loss, Wen et al. 2016): for every class j in
/// the batch with mean embedding ē_j, c_j ← c_j − (1 − α)(c_j − ē_j).
pub fn update_centers(params: &mut ParamStore, embeddings: &Tensor, labels: &[usize], alpha: f32) -> Result<()> {
    let centers = params.get(CENTERS)?;
    let dim = centers.dims()[1];
    let mut c = centers.to_vec()?;
    let e = embeddings.to_vec()?;
    let mut sums = std::collections::BTreeMap::<usize, (Vec<f32>, usize)>::new();
    for (row, &label) in e.chunks(dim).zip(labels) {
        let (sum, n) = sums.entry(label).or_insert_with(|| (vec![0.0; dim], 0));
        sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
        *n += 1;
    }
    for (label, (sum, n)) in sums {
        let cj = &mut c[label * dim..(label + 1) * dim];
        for (cv, s) in cj.iter_mut().zip(&sum) {
            *cv -= (1.0 - alpha) * (*cv - s / n as f32);
        }
    }
    let updated = Tensor::from_vec(c, centers.shape().clone(), centers.device())?;
    params.set(CENTERS, updated)
}
