//! Writes the synthetic dataset to disk in WebCaricature's published layout, so the
//! WebCaricature loader reads it back with its verification and identification protocols.
//!
//! People go round-robin into the ten folds (identity i → fold i mod 10). View 2 fold k
//! tests on fold k's people; View 1 tests on fold 0's people and trains on the others.
//! Every image gets the same 17-point template, placed so that the reference crop
//! (`FaceBox::around`) is the whole image. All text files have CRLF lines; every block of
//! people or pairs and every gallery, probe and training list opens with its count.

use super::staging::{write_atomically, write_images, write_text};
use super::{stream, SynthFaces};
use crate::batch::Modality;
use crate::data::webcaricature::FOLDS;
use crate::data::{Dataset, Direction};
use crate::error::{Error, Result};
use crate::rng::Rng;
use std::fs;
use std::path::{Path, PathBuf};

const IMAGE_DIR: &str = "OriginalImages";
const LANDMARK_DIR: &str = "FacialPoints";
const VERIFICATION_DIR: &str = "EvaluationProtocols/FaceVerification";
const IDENTIFICATION_DIR: &str = "EvaluationProtocols/FaceIdentification";
/// Every fold needs two people for its mismatched pairs.
const MIN_IDENTITIES: usize = 2 * FOLDS;

/// The landmark template as fractions of the image's width and height, in WebCaricature's
/// order: contour (hairline top, left ear, chin, right ear), four brow points, four eye
/// corners, nose tip, upper lip, left mouth corner, lower lip, right mouth corner. The
/// contour spans x ∈ [1/6, 5/6] and y ∈ [1/12, 11/12]: widened ×1.5 and ×1.2 about its
/// centre, that box is exactly the image.
const LANDMARK_TEMPLATE: [[f64; 2]; 17] = [
    [0.5, 1.0 / 12.0],
    [1.0 / 6.0, 0.5],
    [0.5, 11.0 / 12.0],
    [5.0 / 6.0, 0.5],
    [0.3, 0.36],
    [0.44, 0.34],
    [0.56, 0.34],
    [0.7, 0.36],
    [0.32, 0.43],
    [0.44, 0.43],
    [0.56, 0.43],
    [0.68, 0.43],
    [0.5, 0.6],
    [0.5, 0.72],
    [0.4, 0.76],
    [0.5, 0.8],
    [0.6, 0.76],
];

/// What `export_webcaricature` wrote; protocol counts are View 2's, over its ten folds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebCaricatureExportSummary {
    pub root: PathBuf,
    pub identities: usize,
    pub photos: usize,
    pub caricatures: usize,
    /// Restricted verification pairs, half matched.
    pub restricted_pairs: usize,
    /// Unrestricted verification pairs: every caricature–photo pair within each fold.
    pub unrestricted_pairs: usize,
    /// Caricature probes against the photo galleries.
    pub c2p_probes: usize,
    /// Photo probes against the caricature galleries.
    pub p2c_probes: usize,
}

/// Writes `faces` to the folder `out` (created if absent; refused unless empty):
/// `OriginalImages/<Name>/{C,P}00001.jpg …`, `FacialPoints/<Name>/<stem>.txt` and the
/// `EvaluationProtocols/` files. Needs at least 20 identities (two per fold); every
/// identity has photos and caricatures, as `SynthFaces::new` requires.
pub fn export_webcaricature(faces: &SynthFaces, out: &Path) -> Result<WebCaricatureExportSummary> {
    let identities = faces.identities().len();
    if identities < MIN_IDENTITIES {
        return Err(Error::invalid(
            "identities",
            format!(
                "{identities} for the WebCaricature layout: need at least {MIN_IDENTITIES} \
                 ({FOLDS} folds of at least two people, for mismatched pairs)"
            ),
        ));
    }
    let summary = write_atomically(out, |staging| write_all(faces, staging))?;
    Ok(WebCaricatureExportSummary { root: out.to_path_buf(), ..summary })
}

fn write_all(faces: &SynthFaces, root: &Path) -> Result<WebCaricatureExportSummary> {
    let (images, points) = (root.join(IMAGE_DIR), root.join(LANDMARK_DIR));
    for name in faces.identities() {
        for dir in [images.join(name), points.join(name)] {
            fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
    }
    let file_of = |dir: &Path, i: usize, extension: &str| {
        dir.join(&faces.identities()[faces.info(i).identity]).join(format!("{}.{extension}", stem(faces, i)))
    };
    write_images(faces, |i| file_of(&images, i, "jpg"))?;
    let size = faces.config().size;
    let landmarks = landmark_text(size, size);
    for i in 0..faces.len() {
        write_text(&file_of(&points, i, "txt"), &landmarks)?;
    }
    let folds = Folds::new(faces);
    let (c2p_probes, p2c_probes) = write_identification(&folds, &root.join(IDENTIFICATION_DIR))?;
    let c = faces.config();
    Ok(WebCaricatureExportSummary {
        root: root.to_path_buf(),
        identities: c.identities,
        photos: c.identities * c.photos_per_identity,
        caricatures: c.identities * c.caricatures_per_identity,
        restricted_pairs: write_restricted(&folds, &root.join(VERIFICATION_DIR).join("Restricted"))?,
        unrestricted_pairs: write_unrestricted(&folds, &root.join(VERIFICATION_DIR).join("UnRestricted"))?,
        c2p_probes,
        p2c_probes,
    })
}

/// Sample `index`'s file stem: `C00001`, `P00001`, … counting each person's caricatures
/// and photos from 1.
fn stem(faces: &SynthFaces, index: usize) -> String {
    let letter = if faces.info(index).modality == Modality::Photo { 'P' } else { 'C' };
    format!("{letter}{:05}", faces.rank(index) + 1)
}

/// The landmark file of a `width × height` image: the template, one `x y` line per point.
fn landmark_text(width: usize, height: usize) -> String {
    LANDMARK_TEMPLATE.iter().map(|[x, y]| format!("{} {}\r\n", x * width as f64, y * height as f64)).collect()
}

/// The people of each fold and the text lines that name them and their images.
struct Folds<'a> {
    faces: &'a SynthFaces,
    people: Vec<Vec<usize>>,
}

impl<'a> Folds<'a> {
    fn new(faces: &'a SynthFaces) -> Folds<'a> {
        let n = faces.identities().len();
        Folds { faces, people: (0..FOLDS).map(|k| (k..n).step_by(FOLDS).collect()).collect() }
    }

    /// The people of every fold but `k`, sorted.
    fn others(&self, k: usize) -> Vec<usize> {
        let mut people: Vec<usize> = (0..FOLDS).filter(|&j| j != k).flat_map(|j| self.people[j].clone()).collect();
        people.sort_unstable();
        people
    }

    fn name(&self, identity: usize) -> &str {
        &self.faces.identities()[identity]
    }

    fn count(&self, modality: Modality) -> usize {
        let c = self.faces.config();
        match modality {
            Modality::Photo => c.photos_per_identity,
            Modality::Caricature => c.caricatures_per_identity,
        }
    }

    /// `Name⇥Stem` of a person's `rank`-th image of `modality`.
    fn image_line(&self, identity: usize, modality: Modality, rank: usize) -> String {
        let index = self.faces.index_of(identity, modality, rank);
        format!("{}\t{}\r\n", self.name(identity), stem(self.faces, index))
    }

    /// `Name⇥nC⇥nP`.
    fn person_line(&self, identity: usize) -> String {
        let (c, p) = (self.count(Modality::Caricature), self.count(Modality::Photo));
        format!("{}\t{c}\t{p}\r\n", self.name(identity))
    }

    /// A person list: the count line, then `Name⇥nC⇥nP` per person.
    fn people_block(&self, people: &[usize]) -> String {
        let lines: String = people.iter().map(|&p| self.person_line(p)).collect();
        format!("{}\r\n{lines}", people.len())
    }

    /// A restricted block over `people` and the number of its pairs: the count N, N
    /// matched lines (each person's caricature j with photo j), then N mismatched lines
    /// (each matched pair's caricature with a seeded photo of another of `people`).
    fn restricted_block(&self, people: &[usize], rng: &mut Rng) -> (String, usize) {
        let shared = self.count(Modality::Caricature).min(self.count(Modality::Photo));
        let caricature = |p: usize, j: usize| stem(self.faces, self.faces.index_of(p, Modality::Caricature, j));
        let photo = |p: usize, j: usize| stem(self.faces, self.faces.index_of(p, Modality::Photo, j));
        let (mut matched, mut mismatched) = (String::new(), String::new());
        for (at, &person) in people.iter().enumerate() {
            for j in 0..shared {
                let name = self.name(person);
                matched += &format!("{name}\t{}\t{}\r\n", caricature(person, j), photo(person, j));
                let other = people[(at + 1 + rng.below(people.len() - 1)) % people.len()];
                let rank = rng.below(self.count(Modality::Photo));
                mismatched +=
                    &format!("{name}\t{}\t{}\t{}\r\n", caricature(person, j), self.name(other), photo(other, rank));
            }
        }
        let n = people.len() * shared;
        (format!("{n}\r\n{matched}{mismatched}"), 2 * n)
    }
}

/// `RestrictedView1_Dev{Train,Test}.txt` and `RestrictedView2.txt` in `dir`; returns View
/// 2's number of pairs.
fn write_restricted(folds: &Folds, dir: &Path) -> Result<usize> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let rng =
        |block: usize| Rng::derive(folds.faces.config().seed, stream("synth/webcaricature-restricted", block as u64));
    let mut view2 = String::new();
    let mut pairs = 0;
    for k in 0..FOLDS {
        let (text, n) = folds.restricted_block(&folds.people[k], &mut rng(k));
        if k == 0 {
            write_text(&dir.join("RestrictedView1_DevTest.txt"), &text)?;
        }
        view2 += &text;
        pairs += n;
    }
    let (dev_train, _) = folds.restricted_block(&folds.others(0), &mut rng(FOLDS));
    write_text(&dir.join("RestrictedView1_DevTrain.txt"), &dev_train)?;
    write_text(&dir.join("RestrictedView2.txt"), &view2)?;
    Ok(pairs)
}

/// `UnRestrictedView1_Dev{Train,Test}.txt` and `UnRestrictedView2.txt` in `dir`; returns
/// View 2's number of pairs.
fn write_unrestricted(folds: &Folds, dir: &Path) -> Result<usize> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    write_text(&dir.join("UnRestrictedView1_DevTrain.txt"), &folds.people_block(&folds.others(0)))?;
    write_text(&dir.join("UnRestrictedView1_DevTest.txt"), &folds.people_block(&folds.people[0]))?;
    let view2: String = folds.people.iter().map(|people| folds.people_block(people)).collect();
    write_text(&dir.join("UnRestrictedView2.txt"), &view2)?;
    let per_person = (folds.count(Modality::Caricature), folds.count(Modality::Photo));
    Ok(folds.people.iter().map(|people| people.len() * per_person.0 * people.len() * per_person.1).sum())
}

/// `FR_Train{1..10}.txt`, `FR_Train_dev.txt` and the gallery and probe files of both
/// directions in `dir`: each split trains on the other folds' people; its gallery holds
/// each tested person's first image of the gallery modality, its probes all their images
/// of the other. Returns View 2's numbers of C2P and P2C probes.
fn write_identification(folds: &Folds, dir: &Path) -> Result<(usize, usize)> {
    let directions = [Direction::CaricatureToPhoto, Direction::PhotoToCaricature];
    for direction in directions {
        let sub = dir.join(direction.label());
        fs::create_dir_all(&sub).map_err(|e| Error::io(&sub, e))?;
    }
    // (file suffix, tested fold): View 2's ten folds, then View 1.
    let splits = (1..=FOLDS).map(|k| (k.to_string(), k - 1)).chain([("_dev".to_string(), 0)]);
    let mut probe_counts = [0; 2];
    for (suffix, k) in splits {
        write_text(&dir.join(format!("FR_Train{suffix}.txt")), &folds.people_block(&folds.others(k)))?;
        for (direction, probe_count) in directions.into_iter().zip(&mut probe_counts) {
            let tested = &folds.people[k];
            let gallery_lines: Vec<String> =
                tested.iter().map(|&p| folds.image_line(p, direction.gallery_modality(), 0)).collect();
            let modality = direction.probe_modality();
            let probe_lines: Vec<String> = tested
                .iter()
                .flat_map(|&p| (0..folds.count(modality)).map(move |r| folds.image_line(p, modality, r)))
                .collect();
            if suffix != "_dev" {
                *probe_count += probe_lines.len();
            }
            let listing = |lines: Vec<String>| format!("{}\r\n{}", lines.len(), lines.concat());
            let (label, sub) = (direction.label(), dir.join(direction.label()));
            write_text(&sub.join(format!("FR_Gallery_{label}{suffix}.txt")), &listing(gallery_lines))?;
            write_text(&sub.join(format!("FR_Probe_{label}{suffix}.txt")), &listing(probe_lines))?;
        }
    }
    Ok((probe_counts[0], probe_counts[1]))
}
