//! What an evaluation measures on a dataset (DATASETS.md §3): the verification pairs by
//! fold, the probe/gallery splits to rank, and the images the classifier branches are scored
//! on. A single-split protocol (CaVI, the synthetic faces, a folder) gives one split whose
//! pairs are cut into ten folds; WebCaricature's protocols give their ten folds as published.

use super::metrics::shuffled_order;
use crate::batch::Modality;
use crate::data::{
    DataSource, Dataset, Direction, IdentificationProtocol, Pair, Protocol, SkippedLine, VerificationProtocol,
    WebCaricature, WebCaricatureFolds,
};
use crate::error::{Error, Result};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Verification folds cut from one list of pairs, as the published protocols use.
pub const FOLDS: usize = 10;

/// Seed of the fixed shuffle before a single list of pairs is cut into folds (files list
/// the positives first).
pub const PAIR_SHUFFLE_SEED: u64 = 0;

/// One closed-set identification split: probes searched in a gallery.
#[derive(Clone, Debug, PartialEq)]
pub struct GallerySplit {
    pub gallery: Vec<usize>,
    pub probes: Vec<usize>,
}

/// The splits of one search direction, one per fold.
#[derive(Clone, Debug, PartialEq)]
pub struct IdentificationFolds {
    pub direction: Direction,
    pub folds: Vec<GallerySplit>,
}

/// Everything one evaluation measures, as sample indices of one dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalPlan {
    /// A label for reports, e.g. `cavi-clean` or `webcaricature-restricted-view2`.
    pub name: String,
    /// Verification pairs, fold by fold: each fold's accuracy threshold is chosen on the
    /// others and VAL@FAR is measured per fold. Empty: no verification.
    pub verification: Vec<Vec<Pair>>,
    pub identification: Vec<IdentificationFolds>,
    /// Images the classifier branches are scored on (branch 2 on the photos, branch 3 on the
    /// caricatures); empty when the model's classes are not the dataset's identities.
    pub classified: Vec<usize>,
    /// Protocol entries left out, with file and line.
    pub skipped_lines: Vec<SkippedLine>,
    /// Whether the folds are the protocol's own (WebCaricature's View 2), so a model trained
    /// on each fold's training part can be scored on that fold alone; not when they were cut
    /// from one list.
    pub folds_given: bool,
}

impl EvalPlan {
    /// A single-split protocol's test part: its pairs shuffled with a fixed seed and cut into
    /// [`FOLDS`] folds; C2P and P2C each with one split (every test image of the other
    /// modality as the gallery); the classifier branches on every test image.
    pub fn from_protocol(protocol: &Protocol, dataset: &dyn Dataset) -> EvalPlan {
        let of = |modality| -> Vec<usize> {
            protocol.test.iter().copied().filter(|&i| dataset.info(i).modality == modality).collect()
        };
        let (photos, caricatures) = (of(Modality::Photo), of(Modality::Caricature));
        let identification = [Direction::CaricatureToPhoto, Direction::PhotoToCaricature]
            .into_iter()
            .map(|direction| {
                let (gallery, probes) = match direction {
                    Direction::CaricatureToPhoto => (photos.clone(), caricatures.clone()),
                    Direction::PhotoToCaricature => (caricatures.clone(), photos.clone()),
                };
                IdentificationFolds { direction, folds: vec![GallerySplit { gallery, probes }] }
            })
            .collect();
        EvalPlan {
            name: protocol.name.clone(),
            verification: cut_into_folds(&protocol.test_pairs),
            identification,
            classified: protocol.test.clone(),
            skipped_lines: Vec::new(),
            folds_given: false,
        }
    }

    /// A WebCaricature verification protocol: View 2's ten folds as given, View 1's one test
    /// list cut into [`FOLDS`] folds like a single split. The people are not the training
    /// classes, so no classifier branch is scored.
    pub fn from_verification(protocol: &VerificationProtocol) -> EvalPlan {
        let verification = match &protocol.folds[..] {
            [only] => cut_into_folds(&only.pairs),
            folds => folds.iter().map(|f| f.pairs.clone()).collect(),
        };
        EvalPlan {
            name: protocol.name.clone(),
            verification,
            identification: Vec::new(),
            classified: Vec::new(),
            skipped_lines: protocol.skipped.clone(),
            folds_given: protocol.folds.len() > 1,
        }
    }

    /// A WebCaricature identification protocol (C2P or P2C): each fold's gallery and probes.
    pub fn from_identification(protocol: &IdentificationProtocol) -> EvalPlan {
        let folds = protocol
            .folds
            .iter()
            .map(|f| GallerySplit { gallery: f.gallery.clone(), probes: f.probes.clone() })
            .collect();
        EvalPlan {
            name: protocol.name.clone(),
            verification: Vec::new(),
            identification: vec![IdentificationFolds { direction: protocol.direction, folds }],
            classified: Vec::new(),
            skipped_lines: protocol.skipped.clone(),
            folds_given: true,
        }
    }

    /// Opens a data source with what it evaluates: a WebCaricature protocol's folds as
    /// given (every fold, whichever a training run used), any other source's test split.
    pub fn open(source: &DataSource) -> Result<(Arc<dyn Dataset>, EvalPlan)> {
        if let DataSource::WebCaricature { root, protocol } = source {
            let web = WebCaricature::open(root)?;
            let plan = match web.folds(protocol)? {
                WebCaricatureFolds::Verification(p) => EvalPlan::from_verification(&p),
                WebCaricatureFolds::Identification(p) => EvalPlan::from_identification(&p),
            };
            return Ok((Arc::new(web), plan));
        }
        let (dataset, protocol) = source.open()?;
        let plan = EvalPlan::from_protocol(&protocol, dataset.as_ref());
        Ok((dataset, plan))
    }

    /// Leaves the classifier branches unscored when the model's classes are not the
    /// dataset's identities (a model evaluated on other people), saying why.
    pub fn classify_with(&mut self, model_classes: usize, dataset: &dyn Dataset) -> Option<String> {
        let identities = dataset.identities().len();
        if self.classified.is_empty() || model_classes == identities {
            return None;
        }
        self.classified.clear();
        Some(format!(
            "branch identification not scored: the model has {model_classes} classes, {} has {identities} identities",
            dataset.describe()
        ))
    }

    /// Every image the plan needs embedded or classified, sorted, each once.
    pub fn images(&self) -> Vec<usize> {
        let mut images: BTreeSet<usize> = self.classified.iter().copied().collect();
        images.extend(self.verification.iter().flatten().flat_map(|p| [p.caricature, p.photo]));
        for split in self.identification.iter().flat_map(|i| &i.folds) {
            images.extend(split.gallery.iter().chain(&split.probes));
        }
        images.into_iter().collect()
    }

    /// The number of folds: of the verification pairs, or of the identification splits.
    pub fn folds(&self) -> usize {
        let identification = self.identification.iter().map(|i| i.folds.len()).max().unwrap_or(0);
        self.verification.len().max(identification)
    }

    /// Whether `models` models can be scored on this plan: one for every fold, or one per
    /// fold when the folds are the protocol's own.
    pub fn check_models(&self, models: usize) -> Result<()> {
        let folds = self.folds();
        if models == 1 || (self.folds_given && models == folds) {
            return Ok(());
        }
        let given = if self.folds_given {
            format!("its {folds} folds")
        } else {
            "folds cut from one list, which no model was trained for".into()
        };
        Err(Error::invalid(
            "models",
            format!("{models} models for {} ({given}): give one model, or one per given fold", self.name),
        ))
    }

    /// Fold `k` alone (0-based; the plan's folds must be given): its pairs and its splits,
    /// to run the model trained for that fold over its images.
    pub fn fold(&self, k: usize) -> EvalPlan {
        EvalPlan {
            name: format!("{}-fold{}", self.name, k + 1),
            verification: self.verification.get(k).cloned().into_iter().collect(),
            identification: self
                .identification
                .iter()
                .map(|i| IdentificationFolds {
                    direction: i.direction,
                    folds: i.folds.get(k).cloned().into_iter().collect(),
                })
                .collect(),
            classified: Vec::new(),
            skipped_lines: Vec::new(),
            folds_given: true,
        }
    }

    /// The pairs listed, all folds together.
    pub fn pairs_listed(&self) -> usize {
        self.verification.iter().map(Vec::len).sum()
    }
}

/// `pairs` in a fixed shuffled order, cut into [`FOLDS`] contiguous folds (the first
/// `len mod 10` one pair longer). Fewer pairs than folds stay one fold, which scoring
/// reports as too few; no pair gives no fold.
fn cut_into_folds(pairs: &[Pair]) -> Vec<Vec<Pair>> {
    if pairs.len() < FOLDS {
        return if pairs.is_empty() { Vec::new() } else { vec![pairs.to_vec()] };
    }
    let shuffled: Vec<Pair> = shuffled_order(pairs.len(), PAIR_SHUFFLE_SEED).into_iter().map(|i| pairs[i]).collect();
    super::metrics::fold_ranges(shuffled.len(), FOLDS).into_iter().map(|r| shuffled[r].to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{SynthConfig, SynthFaces, VerificationFold};

    fn faces() -> SynthFaces {
        let config =
            SynthConfig { seed: 3, identities: 12, photos_per_identity: 3, caricatures_per_identity: 3, size: 32 };
        SynthFaces::new(config).unwrap()
    }

    fn pairs(n: usize) -> Vec<Pair> {
        (0..n).map(|i| Pair { caricature: i, photo: 100 + i, same: i % 2 == 0 }).collect()
    }

    #[test]
    fn a_single_split_is_shuffled_into_ten_folds_with_one_search_each_way() {
        let faces = faces();
        let protocol = faces.protocol();
        let plan = EvalPlan::from_protocol(&protocol, &faces);
        assert_eq!(plan.verification.len(), FOLDS);
        let mut all: Vec<Pair> = plan.verification.concat();
        assert_eq!(all.len(), protocol.test_pairs.len());
        assert_ne!(all, protocol.test_pairs, "the pairs are shuffled before folding");
        let key = |p: &Pair| (p.caricature, p.photo, p.same);
        all.sort_by_key(key);
        let mut listed = protocol.test_pairs.clone();
        listed.sort_by_key(key);
        assert_eq!(all, listed);
        let c2p = &plan.identification[0];
        assert_eq!((c2p.direction, c2p.folds.len()), (Direction::CaricatureToPhoto, 1));
        assert!(c2p.folds[0].gallery.iter().all(|&i| faces.info(i).modality == Modality::Photo));
        assert!(c2p.folds[0].probes.iter().all(|&i| faces.info(i).modality == Modality::Caricature));
        assert_eq!(plan.identification[1].folds[0].gallery, c2p.folds[0].probes);
        assert_eq!(plan.images(), protocol.test);
    }

    #[test]
    fn given_folds_are_kept_and_a_single_one_is_cut() {
        let fold = |range: std::ops::Range<usize>| VerificationFold {
            train: Vec::new(),
            test: Vec::new(),
            pairs: pairs(30)[range].to_vec(),
            shared_identities: Vec::new(),
        };
        let ten = VerificationProtocol {
            name: "ten".into(),
            folds: (0..10).map(|k| fold(3 * k..3 * k + 3)).collect(),
            skipped: Vec::new(),
        };
        let plan = EvalPlan::from_verification(&ten);
        assert_eq!(plan.verification, ten.folds.iter().map(|f| f.pairs.clone()).collect::<Vec<_>>());
        assert!(plan.identification.is_empty() && plan.classified.is_empty());
        assert_eq!(plan.pairs_listed(), 30);
        assert_eq!(plan.images().len(), 60);

        assert!(plan.folds_given && plan.check_models(10).is_ok() && plan.check_models(1).is_ok());
        let e = plan.check_models(9).unwrap_err().to_string();
        assert!(e.contains("invalid value for models:") && e.contains("9 models") && e.contains("10 folds"), "{e}");
        let third = plan.fold(2);
        assert_eq!(
            (third.name.as_str(), third.verification.as_slice()),
            ("ten-fold3", &ten.folds[2..3].iter().map(|f| f.pairs.clone()).collect::<Vec<_>>()[..])
        );
        assert_eq!(third.images().len(), 6);

        let one = VerificationProtocol { name: "one".into(), folds: vec![fold(0..30)], skipped: Vec::new() };
        let plan = EvalPlan::from_verification(&one);
        assert_eq!(plan.verification.len(), FOLDS);
        assert!(plan.verification.iter().all(|f| f.len() == 3));
        assert!(!plan.folds_given && plan.check_models(10).is_err(), "cut folds take one model");
    }

    #[test]
    fn too_few_pairs_stay_one_fold_and_none_give_none() {
        assert_eq!(cut_into_folds(&pairs(4)), vec![pairs(4)]);
        assert!(cut_into_folds(&[]).is_empty());
    }

    #[test]
    fn branches_are_scored_only_on_the_models_own_identities() {
        let faces = faces();
        let mut plan = EvalPlan::from_protocol(&faces.protocol(), &faces);
        assert_eq!(plan.classify_with(12, &faces), None);
        assert!(!plan.classified.is_empty());
        let note = plan.classify_with(206, &faces).unwrap();
        assert!(note.contains("206 classes") && note.contains("12 identities"), "{note}");
        assert!(plan.classified.is_empty());
        assert_eq!(plan.images(), faces.protocol().test, "the images are still embedded");
    }
}
