//! Rule-based state updates after a step: batch-norm moving averages and class centers.

use super::network::CENTERS;
use crate::autograd::ParamStore;
use crate::backend::{Blend, LabelledRows, Rows};
use crate::error::{Error, Result};
use crate::nn::BN_DECAY;
use crate::ops::BatchNormStats;
use crate::tensor::Tensor;

/// `moving ← decay·moving + (1 − decay)·batch` for every batch norm a training forward ran,
/// in one blend over them all, run only if `gate`'s gate is open (a group control); the
/// variance is Bessel-corrected first (n/(n−1)), as TensorFlow's fused batch norm and
/// PyTorch do.
pub fn update_moving_averages(
    params: &mut ParamStore,
    stats: &[(String, BatchNormStats)],
    gate: &Tensor,
) -> Result<()> {
    let mut sources: Vec<(String, &Tensor, f32)> = Vec::new();
    for (scope, s) in stats {
        let correction = if s.count > 1 { s.count as f32 / (s.count - 1) as f32 } else { 1.0 };
        for (leaf, batch, scale) in [("moving_mean", &s.mean, 1.0), ("moving_variance", &s.variance, correction)] {
            sources.push((format!("{scope}/BatchNorm/{leaf}"), batch, (1.0 - BN_DECAY) * scale));
        }
    }
    blend_into(params, sources, BN_DECAY, gate)
}

/// `target ← keep·target + take·source` for every `(target name, source, take)`, in one
/// blend, when `gate`'s gate is open.
fn blend_into(
    params: &mut ParamStore,
    mut sources: Vec<(String, &Tensor, f32)>,
    keep: f32,
    gate: &Tensor,
) -> Result<()> {
    if sources.is_empty() {
        return Ok(());
    }
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&str> = sources.iter().map(|s| s.0.as_str()).collect();
    let be = gate.device().backend();
    let targets = params.get_many_mut(&names)?;
    let group = targets.into_iter().zip(&sources).map(|(t, (name, source, take))| {
        if t.shape() != source.shape() {
            return Err(Error::Parameter {
                name: name.clone(),
                reason: format!("shape {} cannot take a batch value of shape {}", t.shape(), source.shape()),
            });
        }
        Ok(Blend { target: t.storage_mut()?, source: source.storage(), keep, take: *take })
    });
    be.blend(group.collect::<Result<_>>()?, gate.storage())
}

/// Center update of the reference (center loss, Wen et al. 2016): for every class j in
/// the batch with mean embedding ē_j, c_j ← c_j − (1 − α)(c_j − ē_j); kept only if
/// `gate`'s gate is open (a group control).
pub fn update_centers(
    params: &mut ParamStore,
    embeddings: &Tensor,
    labels: &[usize],
    alpha: f32,
    gate: &Tensor,
) -> Result<()> {
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
    let device = centers.device().clone();
    device.backend().center_update(
        params.get_mut(CENTERS)?.storage_mut()?,
        embeddings.storage(),
        on,
        1.0 - alpha,
        gate.storage(),
    )
}
