//! Rule-based state updates after a step: batch-norm moving averages and class centers.

use super::network::CENTERS;
use crate::autograd::ParamStore;
use crate::backend::{LabelledRows, Rows};
use crate::error::{Error, Result};
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
            let new = be.weighted_sum(old.storage(), BN_DECAY, batch.storage(), (1.0 - BN_DECAY) * scale)?;
            params.set(&name, Tensor::from_storage(new, old.shape().clone(), old.device()))?;
        }
    }
    Ok(())
}

/// Center update of the reference (center loss, Wen et al. 2016): for every class j in
/// the batch with mean embedding ē_j, c_j ← c_j − (1 − α)(c_j − ē_j).
pub fn update_centers(params: &mut ParamStore, embeddings: &Tensor, labels: &[usize], alpha: f32) -> Result<()> {
    let centers = params.get(CENTERS)?;
    let (classes, dim) = (centers.dims()[0], centers.dims()[1]);
    let rows = labels.len();
    if embeddings.dims() != [rows, dim] {
        return Err(Error::ShapeMismatch {
            op: "center_update",
            lhs: embeddings.shape().clone(),
            rhs: centers.shape().clone(),
        });
    }
    if let Some(&l) = labels.iter().find(|&&l| l >= classes) {
        return Err(Error::invalid("labels", format!("label {l} is not below the {classes} classes of the centers")));
    }
    let on = LabelledRows { labels, shape: Rows { rows, cols: dim } };
    let updated = centers.device().backend().center_update(centers.storage(), embeddings.storage(), on, 1.0 - alpha)?;
    params.set(CENTERS, Tensor::from_storage(updated, centers.shape().clone(), centers.device()))
}
