//! Decision thresholds for serving, fitted on labelled pairs at target false-accept rates,
//! per domain (photo↔caricature, photo↔photo), and stored in the model's checkpoint so
//! `cari verify` uses them by default.

use super::scored_pairs;
use crate::batch::Modality;
use crate::choice::parse_choice;
use crate::data::{balanced_pairs, Dataset, Pair};
use crate::distance::operating_point;
use crate::error::{Error, Result};
use crate::io::Checkpoint;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// Checkpoint metadata key of the calibrated thresholds.
pub const CALIBRATION_KEY: &str = "serve.calibration";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
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

impl FromStr for Domain {
    type Err = Error;

    fn from_str(s: &str) -> Result<Domain> {
        parse_choice("domain", s)
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

/// Fits a threshold at each target FAR on `pairs` (both members must have embeddings).
pub fn fit(
    domain: Domain,
    pairs: &[Pair],
    embeddings: &HashMap<usize, Vec<f32>>,
    targets: &[f64],
    source: &str,
) -> Result<Vec<Calibration>> {
    let scored = scored_pairs(pairs, embeddings);
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

/// Where a calibration's pairs come from: a protocol's images, its listed caricature–photo
/// pairs, and the names of the protocol and the dataset (for the calibrations' `source`).
pub struct CalibrationPairs<'a> {
    pub dataset: &'a dyn Dataset,
    pub images: &'a [usize],
    /// Caricature–photo pairs the protocol lists (none: drawn from `images`).
    pub listed: &'a [Pair],
    pub protocol: &'a str,
}

/// Fits thresholds at each target FAR in both domains: photo↔caricature on the listed
/// pairs (balanced caricature–photo pairs drawn from the images when none are listed), and
/// photo↔photo on balanced photo pairs among the images.
pub fn fit_domains(
    pairs: &CalibrationPairs,
    embeddings: &HashMap<usize, Vec<f32>>,
    targets: &[f64],
) -> Result<Vec<Calibration>> {
    let CalibrationPairs { dataset, images, listed, protocol } = *pairs;
    let (cross, which) = if listed.is_empty() {
        (
            balanced_pairs(dataset, images, (Modality::Caricature, Modality::Photo), 0),
            "caricature–photo pairs drawn from",
        )
    } else {
        (listed.to_vec(), "pairs of")
    };
    let source = format!("{which} {protocol} on {}", dataset.describe());
    let mut fitted = fit(Domain::PhotoCaricature, &cross, embeddings, targets, &source)?;
    let photo_pairs = balanced_pairs(dataset, images, (Modality::Photo, Modality::Photo), 0);
    let photo_source = format!("photo pairs among the {protocol} photos of {}", dataset.describe());
    fitted.extend(fit(Domain::PhotoPhoto, &photo_pairs, embeddings, targets, &photo_source)?);
    Ok(fitted)
}

/// `photo-caricature at FAR 0.001: threshold 1.2345 (VAL 0.5000, FAR 0.0010 on 40 pairs)`.
impl fmt::Display for Calibration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at FAR {}: threshold {:.4} (VAL {:.4}, FAR {:.4} on {} pairs)",
            self.domain.name(),
            self.target_far,
            self.threshold,
            self.val,
            self.far,
            self.pairs
        )
    }
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
