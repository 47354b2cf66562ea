//! WebCaricature's face-verification protocols.
//!
//! Restricted (`FaceVerification/Restricted/`): pairs given line by line, TAB-separated,
//! matched `Name⇥C00001⇥P00001`, mismatched `NameA⇥C00039⇥NameB⇥P00006` (either order of
//! caricature and photo is accepted). A block is a count N, then N matched and N mismatched
//! lines; `RestrictedView1_DevTrain.txt` and `_DevTest.txt` hold one block each,
//! `RestrictedView2.txt` ten, one per fold.
//!
//! Unrestricted (`FaceVerification/UnRestricted/`): people given as `Name⇥nC⇥nP` lines
//! after a count line; View 2 has ten such blocks. A fold's test pairs are every
//! caricature of the fold's people against every photo of them: caricatures in sample
//! order, each against all photos in sample order, `same` when the two are one person
//! (Σ nC × Σ nP pairs).
//!
//! A View 2 file may open with a line giving the number of folds (a count followed by
//! another count line); it must be 10. Fold k trains on the images the other nine folds
//! use (restricted: the images of their pairs; unrestricted: every image of their people),
//! less those fold k tests on; View 1 trains on the DevTrain file's images likewise.

use super::lines::{BadLines, OnBadLine, ProtocolFile, SkippedLine};
use super::{View, WebCaricature, FOLDS};
use crate::batch::Modality;
use crate::data::{Dataset, Pair, Protocol};
use crate::error::Result;
use std::collections::BTreeSet;

const DIR: &str = "FaceVerification";

/// One train/test split of a verification protocol.
#[derive(Clone, Debug, PartialEq)]
pub struct VerificationFold {
    /// Images to train on, sorted.
    pub train: Vec<usize>,
    /// Images the test pairs use, sorted.
    pub test: Vec<usize>,
    /// The test pairs: the file's order (restricted) or the construction order
    /// (unrestricted).
    pub pairs: Vec<Pair>,
    /// People with images on both sides (the published folds have none).
    pub shared_identities: Vec<usize>,
}

/// A verification protocol: one fold for View 1, ten for View 2.
#[derive(Clone, Debug, PartialEq)]
pub struct VerificationProtocol {
    /// e.g. `webcaricature-restricted-view2`.
    pub name: String,
    pub folds: Vec<VerificationFold>,
    /// Entries left out under [`OnBadLine::Skip`].
    pub skipped: Vec<SkippedLine>,
}

impl VerificationProtocol {
    /// Fold `k` (0-based) as the shared protocol type: train on its training images, report
    /// on its pairs, no tuning pairs. Named `<name>-fold<k+1>` when there are several folds.
    pub fn fold_protocol(&self, k: usize) -> Protocol {
        let fold = &self.folds[k];
        let name = if self.folds.len() == 1 { self.name.clone() } else { format!("{}-fold{}", self.name, k + 1) };
        Protocol {
            name,
            train: fold.train.clone(),
            validation_pairs: Vec::new(),
            test: fold.test.clone(),
            test_pairs: fold.pairs.clone(),
        }
    }
}

/// The images and pairs one block (one file of View 1, one fold of View 2) gives.
#[derive(Default)]
struct Block {
    images: BTreeSet<usize>,
    pairs: Vec<Pair>,
}

impl WebCaricature {
    /// The restricted protocol (pairs as published).
    pub fn restricted(&self, view: View, on_bad_line: OnBadLine) -> Result<VerificationProtocol> {
        self.verification("Restricted", "RestrictedView", view, on_bad_line, WebCaricature::restricted_block)
    }

    /// The unrestricted protocol (people per fold, all their caricature–photo pairs).
    pub fn unrestricted(&self, view: View, on_bad_line: OnBadLine) -> Result<VerificationProtocol> {
        self.verification("UnRestricted", "UnRestrictedView", view, on_bad_line, WebCaricature::unrestricted_block)
    }

    fn verification(
        &self,
        dir: &str,
        prefix: &str,
        view: View,
        on_bad_line: OnBadLine,
        read_block: fn(&WebCaricature, &mut ProtocolFile, &mut BadLines) -> Result<Block>,
    ) -> Result<VerificationProtocol> {
        let mut bad = BadLines::new(on_bad_line);
        let folds = match view {
            View::Development => {
                let mut read = |suffix: &str| -> Result<Block> {
                    let mut file =
                        ProtocolFile::read(&self.protocol_file(&[DIR, dir, &format!("{prefix}1_{suffix}.txt")]))?;
                    let block = read_block(self, &mut file, &mut bad)?;
                    file.expect_end("the block")?;
                    Ok(block)
                };
                let train = read("DevTrain")?;
                let test = read("DevTest")?;
                vec![self.verification_fold(train.images, test)]
            }
            View::Evaluation => {
                let mut file = ProtocolFile::read(&self.protocol_file(&[DIR, dir, &format!("{prefix}2.txt")]))?;
                skip_fold_count(&mut file)?;
                let mut blocks = Vec::with_capacity(FOLDS);
                for _ in 0..FOLDS {
                    blocks.push(read_block(self, &mut file, &mut bad)?);
                }
                file.expect_end("the 10th fold")?;
                let images: Vec<BTreeSet<usize>> = blocks.iter().map(|b| b.images.clone()).collect();
                blocks
                    .into_iter()
                    .enumerate()
                    .map(|(k, test)| {
                        let train = images.iter().enumerate().filter(|&(j, _)| j != k).flat_map(|(_, s)| s).copied();
                        self.verification_fold(train.collect(), test)
                    })
                    .collect()
            }
        };
        let name = format!("webcaricature-{}-{}", dir.to_lowercase(), view.label());
        Ok(VerificationProtocol { name, folds, skipped: bad.skipped })
    }

    fn verification_fold(&self, train: BTreeSet<usize>, test: Block) -> VerificationFold {
        let train: Vec<usize> = train.difference(&test.images).copied().collect();
        let tested = self.people(test.images.iter().copied());
        VerificationFold {
            shared_identities: self.people(train.iter().copied()).intersection(&tested).copied().collect(),
            train,
            test: test.images.into_iter().collect(),
            pairs: test.pairs,
        }
    }

    /// `N`, N matched lines, N mismatched lines.
    fn restricted_block(&self, file: &mut ProtocolFile, bad: &mut BadLines) -> Result<Block> {
        let n = file.expect_count("pairs")?;
        let mut block = Block::default();
        for k in 0..2 * n {
            let same = k < n;
            let kind = if same { "matched" } else { "mismatched" };
            let line = file.expect_line(&format!("a {kind} pair"))?;
            if line.integer().is_some() {
                return Err(file
                    .error(&line, format!("a count where a {kind} pair should be (the block announced {n} of each)")));
            }
            if let Some(pair) = bad.check(file, &line, self.restricted_pair(&line.fields(), same))? {
                block.images.extend([pair.caricature, pair.photo]);
                block.pairs.push(pair);
            }
        }
        Ok(block)
    }

    fn restricted_pair(&self, fields: &[&str], same: bool) -> std::result::Result<Pair, String> {
        let (first, second) = match (same, fields) {
            (true, &[name, a, b]) => {
                let identity = self.find_identity(name)?;
                (self.find_image(identity, a)?, self.find_image(identity, b)?)
            }
            (false, &[name_a, a, name_b, b]) => {
                let (identity_a, identity_b) = (self.find_identity(name_a)?, self.find_identity(name_b)?);
                if identity_a == identity_b {
                    return Err(format!("a mismatched pair of one person, `{name_a}`"));
                }
                (self.find_image(identity_a, a)?, self.find_image(identity_b, b)?)
            }
            (true, _) => {
                return Err(format!(
                    "expected a matched pair `Name⇥C…⇥P…` (3 TAB-separated fields), found {}: `{}`",
                    fields.len(),
                    fields.join("⇥")
                ))
            }
            (false, _) => {
                return Err(format!(
                    "expected a mismatched pair `NameA⇥C…⇥NameB⇥P…` (4 TAB-separated fields), found {}: `{}`",
                    fields.len(),
                    fields.join("⇥")
                ))
            }
        };
        let (caricature, photo) = match (self.info(first).modality, self.info(second).modality) {
            (Modality::Caricature, Modality::Photo) => (first, second),
            (Modality::Photo, Modality::Caricature) => (second, first),
            _ => {
                return Err(format!(
                    "a pair needs a caricature and a photo, found `{}` and `{}`",
                    self.stem(first),
                    self.stem(second)
                ))
            }
        };
        Ok(Pair { caricature, photo, same })
    }

    /// `N`, then N `Name⇥nC⇥nP` lines; every caricature–photo pair of those people.
    fn unrestricted_block(&self, file: &mut ProtocolFile, bad: &mut BadLines) -> Result<Block> {
        let n = file.expect_count("people")?;
        let mut people = BTreeSet::new();
        for _ in 0..n {
            let line = file.expect_line("a person `Name⇥caricatures⇥photos`")?;
            if line.integer().is_some() {
                return Err(file.error(&line, format!("a count where a person should be (the block announced {n})")));
            }
            if let Some(identity) = bad.check(file, &line, self.person_line(&line, &people))? {
                people.insert(identity);
            }
        }
        let caricatures: Vec<usize> = people.iter().flat_map(|&p| self.caricatures_of(p)).copied().collect();
        let photos: Vec<usize> = people.iter().flat_map(|&p| self.photos_of(p)).copied().collect();
        let pairs = caricatures
            .iter()
            .flat_map(|&caricature| {
                photos.iter().map(move |&photo| Pair {
                    caricature,
                    photo,
                    same: self.info(caricature).identity == self.info(photo).identity,
                })
            })
            .collect();
        Ok(Block { images: caricatures.into_iter().chain(photos).collect(), pairs })
    }
}

/// Consumes a leading fold-count line (a count followed by the first block's count line);
/// it must announce 10 folds.
fn skip_fold_count(file: &mut ProtocolFile) -> Result<()> {
    let is_count = |ahead| file.peek(ahead).and_then(|l: &super::lines::Line| l.integer()).is_some();
    if is_count(0) && is_count(1) {
        let line = file.next_line().expect("peeked");
        if line.integer() != Some(FOLDS) {
            return Err(file.error(&line, format!("the file announces {} folds, View 2 has {FOLDS}", line.text)));
        }
    }
    Ok(())
}
