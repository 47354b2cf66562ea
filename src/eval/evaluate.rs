//! Evaluating a model on an [`EvalPlan`]: branch-1 embeddings of every image the plan
//! names for verification and identification by distance, branch 2 on its classified
//! photos and branch 3 on its classified caricatures.

use super::metrics::{identification_accuracy, verification_accuracy, FoldStats};
use super::plan::{EvalPlan, FOLDS};
use super::rank::{cmc_over_folds, identify, CmcOverFolds};
use super::verification::{roc_curve, val_at_far, RocCurve, ValAtFar, ValProtocol, VAL_FAR_TARGETS};
use crate::autograd::ParamStore;
use crate::backend::Device;
use crate::batch::{Modality, Task};
use crate::data::{Dataset, Direction};
use crate::data::{LoaderOptions, Pair};
use crate::error::Result;
use crate::infer::calibrate::{fit_domains, Calibration, CalibrationPairs};
use crate::infer::{for_each_batch, scored_pairs, EvalLoading, InferenceModel};
use crate::model::{arg_max, MultiTaskNet};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Verification figures over the plan's folds.
#[derive(Clone, Debug, Serialize)]
pub struct VerificationReport {
    pub folds: usize,
    /// Pairs the protocol lists, and those scored (the others have an image that was
    /// unreadable and skipped).
    pub pairs_listed: usize,
    pub pairs_scored: usize,
    /// Pairs scored in each fold.
    pub pairs_per_fold: Vec<usize>,
    /// Accuracy of each fold at the threshold chosen on the other folds (DATASETS §3).
    pub accuracy: FoldStats,
    /// The threshold each fold's accuracy was measured at: pairs at a squared distance
    /// below it are called the same person.
    pub thresholds: Vec<f32>,
    /// The ROC of all scored pairs, folds together (AUC, EER and the curve).
    pub roc: Option<RocCurve>,
    /// VAL at FAR 0.1 % and 1 %, each fold's threshold chosen as `ValProtocol` says.
    pub val_at_far: Vec<ValAtFar>,
}

/// The figures of one evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub protocol: String,
    /// Images read and embedded.
    pub images: usize,
    /// `None` when the plan has no verification pairs.
    pub verification: Option<VerificationReport>,
    /// Branch 2's arg-max on the classified photos.
    pub photo_id_accuracy: Option<f64>,
    /// Branch 3's arg-max on the classified caricatures.
    pub caricature_id_accuracy: Option<f64>,
    /// Rank-1..10 by embedding distance, per fold and mean ± std: caricature probes
    /// against a photo gallery (C2P) and the reverse (P2C).
    pub cmc_c2p: Option<CmcOverFolds>,
    pub cmc_p2c: Option<CmcOverFolds>,
    /// Protocol entries left out (`--on-bad-line skip`), with file and line.
    pub skipped_lines: Vec<String>,
    /// Figures that could not be computed, and why (e.g. a fold with no different pair).
    pub notes: Vec<String>,
}

/// The highest rank of the CMC curves.
pub const MAX_RANK: usize = 10;

/// What the model made of the plan's images.
pub struct TestOutputs {
    /// Branch-1 embedding of each image read (by dataset index).
    pub embeddings: HashMap<usize, Vec<f32>>,
    /// `(predicted, actual)` identity of branch 2 on the classified photos.
    pub photo_predictions: Vec<(usize, usize)>,
    /// `(predicted, actual)` identity of branch 3 on the classified caricatures.
    pub caricature_predictions: Vec<(usize, usize)>,
}

/// Runs the model over every image of the plan, in batches loaded ahead.
pub fn run_images(
    net: &MultiTaskNet,
    params: &ParamStore,
    dataset: Arc<dyn Dataset>,
    plan: &EvalPlan,
    loading: EvalLoading,
    device: &Device,
) -> Result<TestOutputs> {
    let classified: HashSet<usize> = plan.classified.iter().copied().collect();
    let mut outputs =
        TestOutputs { embeddings: HashMap::new(), photo_predictions: Vec::new(), caricature_predictions: Vec::new() };
    let dim = net.embedding_dim();
    for_each_batch(dataset, plan.images(), loading, device, |host, images| {
        let [verification, photo, caricature] = net.infer(params, images)?;
        let e = verification.embeddings.value().to_vec()?;
        let photo_logits = photo.logits.value().to_vec()?;
        let caricature_logits = caricature.logits.value().to_vec()?;
        let classes = photo_logits.len() / host.len();
        for (row, &index) in host.indices.iter().enumerate() {
            outputs.embeddings.insert(index, e[row * dim..(row + 1) * dim].to_vec());
            if !classified.contains(&index) {
                continue;
            }
            let label = host.labels[row];
            let predicted = |all: &[f32]| arg_max(&all[row * classes..(row + 1) * classes]);
            match host.modalities[row] {
                Modality::Photo => outputs.photo_predictions.push((predicted(&photo_logits), label)),
                Modality::Caricature => outputs.caricature_predictions.push((predicted(&caricature_logits), label)),
            }
        }
        Ok(())
    })?;
    Ok(outputs)
}

/// `models` run over the plan's images and scored: one model on every fold, or one model
/// per given fold (model k on fold k alone, as WebCaricature trains one model per fold).
/// `on_fold(k)` hears of fold k's model before it runs. The outputs are returned beside the
/// report for what else reads embeddings (calibration).
pub fn evaluate_models(
    models: &[InferenceModel],
    dataset: Arc<dyn Dataset>,
    plan: &EvalPlan,
    loading: (usize, LoaderOptions),
    val: ValProtocol,
    mut on_fold: impl FnMut(usize),
) -> Result<(Vec<TestOutputs>, EvalReport)> {
    let (batch_size, options) = loading;
    let run = |model: &InferenceModel, plan: &EvalPlan| {
        let loading = EvalLoading { preprocess: model.preprocess, batch_size, options };
        run_images(&model.net, &model.params, dataset.clone(), plan, loading, &model.device)
    };
    let outputs = match models {
        [model] => vec![run(model, plan)?],
        per_fold => per_fold
            .iter()
            .enumerate()
            .map(|(k, model)| {
                on_fold(k);
                run(model, &plan.fold(k))
            })
            .collect::<Result<Vec<_>>>()?,
    };
    let report = score(plan, dataset.as_ref(), &outputs, val)?;
    Ok((outputs, report))
}

/// Decision thresholds fitted on the plan's pairs (the listed caricature–photo pairs, or
/// pairs drawn from its images) at each target FAR, from a model's outputs on the plan.
pub fn calibrate(
    plan: &EvalPlan,
    dataset: &dyn Dataset,
    outputs: &TestOutputs,
    targets: &[f64],
) -> Result<Vec<Calibration>> {
    let listed: Vec<Pair> = plan.verification.iter().flatten().copied().collect();
    let images = plan.images();
    let pairs = CalibrationPairs { dataset, images: &images, listed: &listed, protocol: &plan.name };
    fit_domains(&pairs, &outputs.embeddings, targets)
}

/// The plan's figures from the model's outputs: one [`TestOutputs`] for every fold, or one
/// per fold (fold k scored on `outputs[k]`, from the model trained for it). `val`: how
/// VAL@FAR picks its thresholds (DATASETS §3 by default; the reference's way only to compare
/// with published figures). A figure that cannot be computed is left out with a note
/// saying why.
pub fn score(plan: &EvalPlan, dataset: &dyn Dataset, outputs: &[TestOutputs], val: ValProtocol) -> Result<EvalReport> {
    plan.check_models(outputs.len())?;
    let of_fold = |k: usize| if outputs.len() == 1 { &outputs[0] } else { &outputs[k] };
    let mut notes = Vec::new();
    let verification =
        if plan.verification.is_empty() { None } else { score_verification(plan, &of_fold, val, &mut notes) };
    let dim = outputs.iter().flat_map(|o| o.embeddings.values()).next().map_or(1, Vec::len);
    let mut cmc = |direction: Direction| {
        let folds = &plan.identification.iter().find(|i| i.direction == direction)?.folds;
        let what = format!("{} identification", direction.label());
        let ranked = folds
            .iter()
            .enumerate()
            .map(|(k, split)| {
                let embeddings = &of_fold(k).embeddings;
                let gallery = embedded(dataset, &split.gallery, embeddings);
                let probes = embedded(dataset, &split.probes, embeddings);
                identify(&probes.0, &probes.1, &gallery.0, &gallery.1, dim, MAX_RANK)
            })
            .collect::<Result<Vec<_>>>()
            .and_then(cmc_over_folds);
        ranked.map_err(|e| notes.push(format!("{what}: {e}"))).ok()
    };
    let cmc_c2p = cmc(Direction::CaricatureToPhoto);
    let cmc_p2c = cmc(Direction::PhotoToCaricature);
    let predictions = |of: fn(&TestOutputs) -> &Vec<(usize, usize)>| -> Vec<(usize, usize)> {
        outputs.iter().flat_map(|o| of(o).iter().copied()).collect()
    };
    Ok(EvalReport {
        protocol: plan.name.clone(),
        images: outputs.iter().map(|o| o.embeddings.len()).sum(),
        verification,
        photo_id_accuracy: identification_accuracy(&predictions(|o| &o.photo_predictions)),
        caricature_id_accuracy: identification_accuracy(&predictions(|o| &o.caricature_predictions)),
        cmc_c2p,
        cmc_p2c,
        skipped_lines: plan.skipped_lines.iter().map(ToString::to_string).collect(),
        notes,
    })
}

/// Accuracy, ROC and VAL@FAR of the plan's pairs whose two images were read.
fn score_verification<'a>(
    plan: &EvalPlan,
    of_fold: &dyn Fn(usize) -> &'a TestOutputs,
    val: ValProtocol,
    notes: &mut Vec<String>,
) -> Option<VerificationReport> {
    let folds: Vec<Vec<(f32, bool)>> =
        plan.verification.iter().enumerate().map(|(k, f)| scored_pairs(f, &of_fold(k).embeddings)).collect();
    let sizes: Vec<usize> = folds.iter().map(Vec::len).collect();
    let ranges = ranges_of(&sizes);
    let scored: Vec<(f32, bool)> = folds.into_iter().flatten().collect();
    let accuracy = match verification_accuracy(&scored, &ranges) {
        Ok(a) => a,
        Err(e) => {
            notes.push(format!(
                "verification: {} pair(s) scored in {} fold(s) of sizes {sizes:?} (needs {FOLDS} folds cut from                  at least {FOLDS} pairs, or the protocol's folds): {e}",
                scored.len(),
                ranges.len()
            ));
            return None;
        }
    };
    let roc = roc_curve(&scored).map_err(|e| notes.push(format!("ROC: {e}"))).ok();
    let val_at_far = VAL_FAR_TARGETS
        .iter()
        .filter_map(|&target| {
            val_at_far(&scored, &ranges, target, val).map_err(|e| notes.push(format!("VAL at FAR {target}: {e}"))).ok()
        })
        .collect();
    Some(VerificationReport {
        folds: ranges.len(),
        pairs_listed: plan.pairs_listed(),
        pairs_scored: scored.len(),
        pairs_per_fold: sizes,
        accuracy: accuracy.accuracy,
        thresholds: accuracy.thresholds,
        roc,
        val_at_far,
    })
}

/// Consecutive ranges of the given sizes from 0.
fn ranges_of(sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut start = 0;
    sizes
        .iter()
        .map(|&n| {
            start += n;
            start - n..start
        })
        .collect()
}

/// The embeddings of `images` that were read, row after row, with their identities.
fn embedded(dataset: &dyn Dataset, images: &[usize], embeddings: &HashMap<usize, Vec<f32>>) -> (Vec<f32>, Vec<usize>) {
    let (mut values, mut ids) = (Vec::new(), Vec::new());
    for &index in images {
        if let Some(e) = embeddings.get(&index) {
            values.extend_from_slice(e);
            ids.push(dataset.info(index).identity);
        }
    }
    (values, ids)
}

impl EvalReport {
    /// The figure of one task.
    pub fn figure(&self, task: Task) -> Option<f64> {
        match task {
            Task::Verification => self.verification.as_ref().map(|v| v.accuracy.mean),
            Task::PhotoId => self.photo_id_accuracy,
            Task::CaricatureId => self.caricature_id_accuracy,
        }
    }
}
