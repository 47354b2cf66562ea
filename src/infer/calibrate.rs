//! Decision thresholds for serving, fitted on labelled pairs at target false-accept rates,
//! per domain (photo↔caricature, photo↔photo), and stored in the model's checkpoint so
//! `cari verify` uses them by default.

use crate::data::{Dataset, Pair, Protocol};
use crate::error::{Error, Result};
use crate::eval::{operating_point, squared_distance};
use crate::io::Checkpoint;
use crate::model::Modality;
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Checkpoint metadata key of the calibrated thresholds.
pub const CALIBRATION_KEY: &str = "serve.calibration";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Domain {
    PhotoCaricature,
    PhotoPhoto,
}

impl Domain {
    pub fn name(self) -> &'static str {
        match self {
            Domain::PhotoCaricature => "photo-caricature",
            Domain::PhotoPhoto => "photo-photo",
        }
    }
}

/// One fitted threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub domain: Domain,
    pub target_far: f64,
    /// Pairs at a squared distance below it are the same person.
    pub threshold: f32,
    /// True-accept and false-accept rates on the fitting pairs at the threshold.
    pub val: f64,
    pub far: f64,
    /// How many pairs it was fitted on, and which.
    pub pairs: usize,
    pub source: String,
}

/// Photo↔photo pairs among the protocol's test photos: every same-identity pair and as
/// many different-identity pairs drawn with a fixed seed.
pub fn photo_pairs(dataset: &dyn Dataset, protocol: &Protocol) -> Vec<Pair> {
    let photos: Vec<usize> =
        protocol.test.iter().copied().filter(|&i| dataset.info(i).modality == Modality::Photo).collect();
    let mut same = Vec::new();
    for (k, &a) in photos.iter().enumerate() {
        for &b in &photos[k + 1..] {
            if dataset.info(a).identity == dataset.info(b).identity {
                same.push(Pair { caricature: a, photo: b, same: true });
            }
        }
    }
    let mut rng = Rng::derive(0, 0xCA11_B8A7);
    let mut different = Vec::new();
    let mut tries = 0;
    while different.len() < same.len() && tries < 100 * (same.len() + 1) && photos.len() > 1 {
        tries += 1;
        let (a, b) = (photos[rng.below(photos.len())], photos[rng.below(photos.len())]);
        if dataset.info(a).identity != dataset.info(b).identity {
            different.push(Pair { caricature: a, photo: b, same: false });
        }
    }
    same.extend(different);
    same
}

/// Fits a threshold at each target FAR on `pairs` (both members must have embeddings).
pub fn fit(
    domain: Domain,
    pairs: &[Pair],
    embeddings: &HashMap<usize, Vec<f32>>,
    targets: &[f64],
    source: &str,
) -> Result<Vec<Calibration>> {
    let scored: Vec<(f32, bool)> = pairs
        .iter()
        .filter_map(|p| Some((squared_distance(embeddings.get(&p.caricature)?, embeddings.get(&p.photo)?), p.same)))
        .collect();
    if scored.is_empty() {
        return Err(Error::invalid("calibration", format!("no {} pair with both images read", domain.name())));
    }
    targets
        .iter()
        .map(|&target_far| {
            let point = operating_point(&scored, target_far)?;
            Ok(Calibration {
                domain,
                target_far,
                threshold: point.threshold as f32,
                val: point.val,
                far: point.far,
                pairs: scored.len(),
                source: source.to_string(),
            })
        })
        .collect()
}

/// The calibrations stored in a checkpoint's metadata (none when it was never calibrated).
pub fn stored(ckpt: &Checkpoint) -> Result<Vec<Calibration>> {
    match ckpt.metadata().get(CALIBRATION_KEY) {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| Error::format(ckpt.path(), format!("metadata `{CALIBRATION_KEY}`: {e}"))),
    }
}

/// Writes `calibrations` into the checkpoint at `path` (the tensors and other metadata
/// unchanged; atomically, as every checkpoint write).
pub fn store(path: &Path, calibrations: &[Calibration]) -> Result<()> {
    let ckpt = Checkpoint::open(path)?;
    let cpu = crate::backend::Device::cpu();
    let tensors =
        ckpt.names().into_iter().map(|n| Ok((n.to_string(), ckpt.tensor(n, &cpu)?))).collect::<Result<Vec<_>>>()?;
    let mut meta: BTreeMap<String, String> = ckpt.metadata().clone();
    meta.insert(CALIBRATION_KEY.to_string(), serde_json::to_string(calibrations).expect("calibrations encode as JSON"));
    crate::io::save_checkpoint(path, &tensors, &meta)
}
