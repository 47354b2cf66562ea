//! WebCaricature's face-identification protocols.
//!
//! ```text
//! FaceIdentification/FR_Train{1..10}.txt, FR_Train_dev.txt     Name⇥nC⇥nP: train people, all their images
//! FaceIdentification/C2P/FR_Gallery_C2P{1..10}.txt, …_dev.txt  Name⇥Stem: gallery images
//! FaceIdentification/C2P/FR_Probe_C2P{1..10}.txt, …_dev.txt    Name⇥Stem: probe images
//! FaceIdentification/P2C/…                                     the same with P2C
//! ```
//! C2P: photos in the gallery, caricatures as probes; P2C the reverse. Lines that are a bare
//! integer (counts) are skipped anywhere; the first line of a gallery or probe file is a
//! header, skipped, unless it reads `Name⇥Stem` with a `C`/`P` stem. Train and test people
//! should be disjoint: each fold lists the people on both sides.

use super::lines::{BadLines, Line, OnBadLine, ProtocolFile, SkippedLine};
use super::{View, WebCaricature, FOLDS};
use crate::batch::Modality;
use crate::data::{Dataset, Protocol};
use crate::error::{Error, Result};
use std::collections::BTreeSet;
use std::str::FromStr;

const DIR: &str = "FaceIdentification";

/// Which modality is searched for which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Caricature probes against a photo gallery.
    CaricatureToPhoto,
    /// Photo probes against a caricature gallery.
    PhotoToCaricature,
}

impl Direction {
    /// `C2P` or `P2C`, as in the file names.
    pub fn label(self) -> &'static str {
        match self {
            Direction::CaricatureToPhoto => "C2P",
            Direction::PhotoToCaricature => "P2C",
        }
    }

    pub fn gallery_modality(self) -> Modality {
        match self {
            Direction::CaricatureToPhoto => Modality::Photo,
            Direction::PhotoToCaricature => Modality::Caricature,
        }
    }

    pub fn probe_modality(self) -> Modality {
        match self {
            Direction::CaricatureToPhoto => Modality::Caricature,
            Direction::PhotoToCaricature => Modality::Photo,
        }
    }
}

impl FromStr for Direction {
    type Err = Error;

    fn from_str(s: &str) -> Result<Direction> {
        match s.to_ascii_lowercase().as_str() {
            "c2p" => Ok(Direction::CaricatureToPhoto),
            "p2c" => Ok(Direction::PhotoToCaricature),
            _ => Err(Error::invalid("direction", format!("`{s}` (expected c2p or p2c)"))),
        }
    }
}

/// One train/gallery/probe split.
#[derive(Clone, Debug, PartialEq)]
pub struct IdentificationFold {
    /// The people to train on, sorted.
    pub train_identities: Vec<usize>,
    /// Every image of those people, sorted.
    pub train: Vec<usize>,
    /// Gallery images, in file order.
    pub gallery: Vec<usize>,
    /// Probe images, in file order.
    pub probes: Vec<usize>,
    /// People both trained on and in the gallery or probes (the published folds have none).
    pub shared_identities: Vec<usize>,
}

/// An identification protocol: one fold for View 1, ten for View 2.
#[derive(Clone, Debug, PartialEq)]
pub struct IdentificationProtocol {
    /// e.g. `webcaricature-c2p-view2`.
    pub name: String,
    pub direction: Direction,
    pub folds: Vec<IdentificationFold>,
    /// Entries left out under [`OnBadLine::Skip`].
    pub skipped: Vec<SkippedLine>,
}

impl IdentificationProtocol {
    /// Fold `k` (0-based) as the shared protocol type: train on its people's images, test
    /// on its gallery and probes (no pairs). Named `<name>-fold<k+1>` when there are
    /// several folds.
    pub fn fold_protocol(&self, k: usize) -> Protocol {
        let fold = &self.folds[k];
        let name = if self.folds.len() == 1 { self.name.clone() } else { format!("{}-fold{}", self.name, k + 1) };
        let test: BTreeSet<usize> = fold.gallery.iter().chain(&fold.probes).copied().collect();
        Protocol {
            name,
            train: fold.train.clone(),
            validation_pairs: Vec::new(),
            test: test.into_iter().collect(),
            test_pairs: Vec::new(),
        }
    }
}

impl WebCaricature {
    /// The identification protocol in `direction`.
    pub fn identification(
        &self,
        direction: Direction,
        view: View,
        on_bad_line: OnBadLine,
    ) -> Result<IdentificationProtocol> {
        let mut bad = BadLines::new(on_bad_line);
        let suffixes: Vec<String> = match view {
            View::Development => vec!["_dev".into()],
            View::Evaluation => (1..=FOLDS).map(|k| k.to_string()).collect(),
        };
        let label = direction.label();
        let mut folds = Vec::with_capacity(suffixes.len());
        for suffix in suffixes {
            let train_identities = self.train_people(&format!("FR_Train{suffix}.txt"), &mut bad)?;
            let mut listed = |kind: &str, modality: Modality| {
                let file = format!("FR_{kind}_{label}{suffix}.txt");
                self.listed_images(&[DIR, label, &file], modality, &mut bad)
            };
            let gallery = listed("Gallery", direction.gallery_modality())?;
            let probes = listed("Probe", direction.probe_modality())?;
            let tested = self.people(gallery.iter().chain(&probes).copied());
            let train_set: BTreeSet<usize> = train_identities.iter().copied().collect();
            folds.push(IdentificationFold {
                train: train_identities
                    .iter()
                    .flat_map(|&p| self.caricatures_of(p).iter().chain(self.photos_of(p)))
                    .copied()
                    .collect(),
                shared_identities: train_set.intersection(&tested).copied().collect(),
                train_identities,
                gallery,
                probes,
            });
        }
        let name = format!("webcaricature-{}-{}", label.to_lowercase(), view.label());
        Ok(IdentificationProtocol { name, direction, folds, skipped: bad.skipped })
    }

    /// An `FR_Train…` file: its `Name⇥nC⇥nP` people, sorted.
    fn train_people(&self, file: &str, bad: &mut BadLines) -> Result<Vec<usize>> {
        let mut file = ProtocolFile::read(&self.protocol_file(&[DIR, file]))?;
        let mut people = BTreeSet::new();
        while let Some(line) = file.next_line() {
            if line.integer().is_some() {
                continue;
            }
            if let Some(identity) = bad.check(&file, &line, self.person_line(&line, &people))? {
                people.insert(identity);
            }
        }
        Ok(people.into_iter().collect())
    }

    /// A gallery or probe file: its `Name⇥Stem` images, which must all be of `modality`.
    fn listed_images(&self, relative: &[&str], modality: Modality, bad: &mut BadLines) -> Result<Vec<usize>> {
        let mut file = ProtocolFile::read(&self.protocol_file(relative))?;
        if file.peek(0).is_some_and(|first| !looks_like_image_line(first)) {
            file.next_line();
        }
        let mut images = Vec::new();
        let mut seen = BTreeSet::new();
        while let Some(line) = file.next_line() {
            if line.integer().is_some() {
                continue;
            }
            if let Some(image) = bad.check(&file, &line, self.image_line(&line, modality, &seen))? {
                seen.insert(image);
                images.push(image);
            }
        }
        Ok(images)
    }

    fn image_line(
        &self,
        line: &Line,
        modality: Modality,
        seen: &BTreeSet<usize>,
    ) -> std::result::Result<usize, String> {
        let fields = line.fields();
        let [name, stem] = fields[..] else {
            return Err(format!(
                "expected `Name⇥Stem` (2 TAB-separated fields), found {}: `{}`",
                fields.len(),
                line.text
            ));
        };
        let image = self.find_image(self.find_identity(name)?, stem)?;
        if self.info(image).modality != modality {
            let expected = match modality {
                Modality::Photo => "a photo",
                Modality::Caricature => "a caricature",
            };
            return Err(format!("`{name}⇥{stem}` is not {expected}"));
        }
        if seen.contains(&image) {
            return Err(format!("`{name}⇥{stem}` is listed twice"));
        }
        Ok(image)
    }
}

/// Whether a line reads `Name⇥Stem` with a stem `C…` or `P…` followed by a digit.
fn looks_like_image_line(line: &Line) -> bool {
    match line.fields()[..] {
        [name, stem] => {
            let mut chars = stem.chars();
            !name.is_empty()
                && chars.next().is_some_and(|c| matches!(c.to_ascii_uppercase(), 'C' | 'P'))
                && chars.next().is_some_and(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}
