//! Evaluating a model on a protocol's test part: branch-1 embeddings of every test
//! image for verification, branch 2 on the test photos and branch 3 on the test
//! caricatures for identification.

use super::metrics::{fold_ranges, identification_accuracy, shuffled_order, squared_distance, verification_accuracy};
use super::rank::{identify, Cmc};
use super::verification::{roc_curve, val_at_far, RocCurve, ValAtFar, ValProtocol, VAL_FAR_TARGETS};
use crate::autograd::ParamStore;
use crate::backend::Device;
use crate::data::{Dataset, EvalBatches, LoaderOptions, Preprocess, Protocol};
use crate::error::Result;
use crate::model::{arg_max, Modality, MultiTaskNet, Task};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Verification folds, as the published protocols use.
const FOLDS: usize = 10;

/// Seed of the fixed shuffle before folding the verification pairs.
pub const PAIR_SHUFFLE_SEED: u64 = 0;

/// The paper's three figures on one protocol.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub protocol: String,
    /// Test pairs the protocol lists, and those scored (the others have an image that
    /// was unreadable and skipped).
    pub pairs_listed: usize,
    pub pairs_scored: usize,
    pub verification_accuracy: f64,
    pub verification_std: f64,
    /// Branch 2's arg-max on the test photos.
    pub photo_id_accuracy: Option<f64>,
    /// Branch 3's arg-max on the test caricatures.
    pub caricature_id_accuracy: Option<f64>,
    pub test_images: usize,
    /// The ROC of all scored pairs (AUC, EER and the curve).
    pub roc: Option<RocCurve>,
    /// VAL at FAR 0.1 % and 1 %, each fold's threshold chosen on that fold (DATASETS §3).
    pub val_at_far: Vec<ValAtFar>,
    /// Rank-1..10 by embedding distance: test caricatures against the test photos (C2P) and
    /// the reverse (P2C).
    pub cmc_c2p: Option<Cmc>,
    pub cmc_p2c: Option<Cmc>,
    /// Figures that could not be computed, and why (e.g. a fold with no different pair).
    pub notes: Vec<String>,
}

/// The highest rank of the CMC curves.
pub const MAX_RANK: usize = 10;

/// How test images are read: evaluation preprocessing (centre crop, no flip) of each
/// batch, loaded ahead by `options.workers` threads.
#[derive(Clone, Copy, Debug)]
pub struct EvalLoading {
    pub preprocess: Preprocess,
    pub batch_size: usize,
    pub options: LoaderOptions,
}

/// What the model made of the test images.
pub struct TestOutputs {
    /// Branch-1 embedding of each test image read (by dataset index).
    pub embeddings: HashMap<usize, Vec<f32>>,
    /// `(predicted, actual)` identity of branch 2 on the test photos.
    pub photo_predictions: Vec<(usize, usize)>,
    /// `(predicted, actual)` identity of branch 3 on the test caricatures.
    pub caricature_predictions: Vec<(usize, usize)>,
    /// Each test image read, in order: dataset index, identity, modality.
    pub samples: Vec<(usize, usize, Modality)>,
}

/// Runs the model over the protocol's test images and scores the three tasks.
pub fn evaluate(
    net: &MultiTaskNet,
    params: &ParamStore,
    dataset: Arc<dyn Dataset>,
    protocol: &Protocol,
    loading: EvalLoading,
    device: &Device,
) -> Result<EvalReport> {
    score(protocol, &run_test_images(net, params, dataset, protocol, loading, device)?, ValProtocol::TestFold)
}

/// Runs the model over the protocol's test images, in batches loaded ahead.
pub fn run_test_images(
    net: &MultiTaskNet,
    params: &ParamStore,
    dataset: Arc<dyn Dataset>,
    protocol: &Protocol,
    loading: EvalLoading,
    device: &Device,
) -> Result<TestOutputs> {
    let mut embeddings: HashMap<usize, Vec<f32>> = HashMap::new();
    let mut photo_predictions = Vec::new();
    let mut caricature_predictions = Vec::new();
    let mut samples = Vec::new();
    let dim = net.embedding_dim();
    let EvalLoading { preprocess, batch_size, options } = loading;
    for host in EvalBatches::new(dataset, protocol.test.clone(), batch_size, preprocess, options)? {
        let host = host?;
        if host.is_empty() {
            continue;
        }
        let batch = host.to_batch(device)?;
        let [verification, photo, caricature] = net.infer(params, &batch.images)?;
        let e = verification.embeddings.value().to_vec()?;
        let photo_logits = photo.logits.value().to_vec()?;
        let caricature_logits = caricature.logits.value().to_vec()?;
        let classes = photo_logits.len() / host.len();
        for (row, &index) in host.indices.iter().enumerate() {
            embeddings.insert(index, e[row * dim..(row + 1) * dim].to_vec());
            let label = host.labels[row];
            samples.push((index, label, host.modalities[row]));
            let logits = |all: &[f32]| arg_max(&all[row * classes..(row + 1) * classes]);
            match host.modalities[row] {
                Modality::Photo => photo_predictions.push((logits(&photo_logits), label)),
                Modality::Caricature => caricature_predictions.push((logits(&caricature_logits), label)),
            }
        }
    }
    Ok(TestOutputs { embeddings, photo_predictions, caricature_predictions, samples })
}

/// The paper's three figures from the test outputs.
/// `val`: how VAL@FAR picks its thresholds (DATASETS §3 by default; the reference's way
/// only to compare with published figures).
pub fn score(protocol: &Protocol, outputs: &TestOutputs, val: ValProtocol) -> Result<EvalReport> {
    let scored = scored_pairs(protocol, &outputs.embeddings);
    let verification = verification_accuracy(&scored, FOLDS)?;
    let mut notes = Vec::new();
    let roc = roc_curve(&scored).map_err(|e| notes.push(format!("ROC: {e}"))).ok();
    let folds = fold_ranges(scored.len(), FOLDS);
    let mut vals = Vec::new();
    for target in VAL_FAR_TARGETS {
        match val_at_far(&scored, &folds, target, val) {
            Ok(v) => vals.push(v),
            Err(e) => notes.push(format!("VAL at FAR {target}: {e}")),
        }
    }
    let photos = embeddings_of(outputs, Modality::Photo);
    let caricatures = embeddings_of(outputs, Modality::Caricature);
    let dim = outputs.embeddings.values().next().map_or(1, Vec::len);
    let mut rank =
        |what: &str, (probes, probe_ids): &(Vec<f32>, Vec<usize>), (gallery, gallery_ids): &(Vec<f32>, Vec<usize>)| {
            identify(probes, probe_ids, gallery, gallery_ids, dim, MAX_RANK)
                .map_err(|e| notes.push(format!("{what}: {e}")))
                .ok()
        };
    let cmc_c2p = rank("C2P identification", &caricatures, &photos);
    let cmc_p2c = rank("P2C identification", &photos, &caricatures);
    Ok(EvalReport {
        protocol: protocol.name.clone(),
        pairs_listed: protocol.test_pairs.len(),
        pairs_scored: scored.len(),
        verification_accuracy: verification.accuracy.mean,
        verification_std: verification.accuracy.std,
        photo_id_accuracy: identification_accuracy(&outputs.photo_predictions),
        caricature_id_accuracy: identification_accuracy(&outputs.caricature_predictions),
        test_images: outputs.embeddings.len(),
        roc,
        val_at_far: vals,
        cmc_c2p,
        cmc_p2c,
        notes,
    })
}

/// The protocol's test pairs as `(distance, same)`, shuffled with a fixed seed (files list
/// the positives first): a pair with an image skipped as unreadable is left out.
fn scored_pairs(protocol: &Protocol, embeddings: &HashMap<usize, Vec<f32>>) -> Vec<(f32, bool)> {
    let mut scored = Vec::with_capacity(protocol.test_pairs.len());
    for i in shuffled_order(protocol.test_pairs.len(), PAIR_SHUFFLE_SEED) {
        let p = protocol.test_pairs[i];
        if let (Some(c), Some(ph)) = (embeddings.get(&p.caricature), embeddings.get(&p.photo)) {
            scored.push((squared_distance(c, ph), p.same));
        }
    }
    scored
}

/// The embeddings of the test images of one modality, with their identities.
fn embeddings_of(outputs: &TestOutputs, modality: Modality) -> (Vec<f32>, Vec<usize>) {
    let (mut values, mut ids) = (Vec::new(), Vec::new());
    for &(index, label, _) in outputs.samples.iter().filter(|s| s.2 == modality) {
        values.extend_from_slice(&outputs.embeddings[&index]);
        ids.push(label);
    }
    (values, ids)
}

impl EvalReport {
    /// The figure of one task.
    pub fn figure(&self, task: Task) -> Option<f64> {
        match task {
            Task::Verification => Some(self.verification_accuracy),
            Task::PhotoId => self.photo_id_accuracy,
            Task::CaricatureId => self.caricature_id_accuracy,
        }
    }
}
