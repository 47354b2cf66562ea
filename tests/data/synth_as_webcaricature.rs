//! The synthetic faces written by `export_webcaricature` read back through the
//! WebCaricature loader: every person with their images, landmark crops that keep the whole
//! image, and verification and identification protocols whose folds test the people the
//! round-robin split puts in them.

use crate::common::cari;
use cari::batch::Modality;
use cari::data::synth::WebCaricatureExportSummary;
use cari::data::{
    export_webcaricature, Dataset, Direction, OnBadLine, SynthConfig, SynthFaces, VerificationProtocol, View,
    WebCaricature,
};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const IDENTITIES: usize = 20;
const PER_MODALITY: usize = 3;
const SIZE: usize = 48;
const FOLDS: usize = 10;

fn faces(identities: usize) -> SynthFaces {
    SynthFaces::new(SynthConfig {
        seed: 7,
        identities,
        photos_per_identity: PER_MODALITY,
        caricatures_per_identity: PER_MODALITY,
        size: SIZE,
    })
    .unwrap()
}

/// A fresh temporary folder path (absent), removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("cari-synth-as-webcari-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The synthetic faces exported and opened again.
struct Exported {
    faces: SynthFaces,
    web: WebCaricature,
    summary: WebCaricatureExportSummary,
    _dir: Scratch,
}

impl Exported {
    fn new(name: &str) -> Exported {
        let dir = Scratch::new(name);
        let faces = faces(IDENTITIES);
        let summary = export_webcaricature(&faces, &dir.0).unwrap();
        let web = WebCaricature::open(&dir.0).unwrap();
        Exported { faces, web, summary, _dir: dir }
    }

    /// The synthetic identity of a loader identity, by name.
    fn synth_identity(&self, web_identity: usize) -> usize {
        let name = &self.web.identities()[web_identity];
        self.faces.identities().iter().position(|n| n == name).unwrap()
    }

    /// The synthetic identities of the loader's samples.
    fn people(&self, samples: impl IntoIterator<Item = usize>) -> BTreeSet<usize> {
        samples.into_iter().map(|i| self.synth_identity(self.web.info(i).identity)).collect()
    }

    fn synth_people(&self, web_identities: &[usize]) -> BTreeSet<usize> {
        web_identities.iter().map(|&p| self.synth_identity(p)).collect()
    }

    /// View 2 and View 1 of a verification protocol, after checking that they have ten
    /// folds and one, each testing its fold's people and training on everyone else.
    fn verification_views(&self, read: ReadVerification) -> (VerificationProtocol, VerificationProtocol) {
        let view2 = read(&self.web, View::Evaluation, OnBadLine::Stop).unwrap();
        let view1 = read(&self.web, View::Development, OnBadLine::Stop).unwrap();
        assert_eq!((view2.folds.len(), view1.folds.len()), (FOLDS, 1));
        for (k, f) in view2.folds.iter().enumerate().chain([(0, &view1.folds[0])]) {
            assert_eq!(self.people(f.test.iter().copied()), fold(k), "{}: fold {k}: tested people", view2.name);
            assert_eq!(self.people(f.train.iter().copied()), outside(k), "{}: fold {k}: trained people", view2.name);
            assert!(f.shared_identities.is_empty(), "{}: fold {k}", view2.name);
        }
        (view2, view1)
    }
}

type ReadVerification = fn(&WebCaricature, View, OnBadLine) -> cari::Result<VerificationProtocol>;

/// The synthetic identities the round-robin split puts in fold `k`.
fn fold(k: usize) -> BTreeSet<usize> {
    (k..IDENTITIES).step_by(FOLDS).collect()
}

/// Every identity outside fold `k`.
fn outside(k: usize) -> BTreeSet<usize> {
    (0..IDENTITIES).filter(|i| i % FOLDS != k).collect()
}

#[test]
fn every_person_reads_back_with_their_photos_and_caricatures() {
    let e = Exported::new("people");
    assert_eq!(e.web.identities().len(), IDENTITIES);
    assert_eq!(e.web.len(), e.faces.len());
    assert!(e.web.unrecognised_images().is_empty());
    for identity in 0..IDENTITIES {
        let (caricatures, photos) = (e.web.caricatures_of(identity), e.web.photos_of(identity));
        assert_eq!((caricatures.len(), photos.len()), (PER_MODALITY, PER_MODALITY), "person {identity}");
        assert!(caricatures.iter().all(|&i| e.web.info(i).modality == Modality::Caricature));
        assert!(photos.iter().all(|&i| e.web.info(i).modality == Modality::Photo));
        assert_eq!(e.web.stem(photos[0]), "P00001");
    }
    let s = &e.summary;
    let staging = format!(".{}.partial", s.root.file_name().unwrap().to_string_lossy());
    assert!(!s.root.with_file_name(staging).exists(), "the staging folder was left behind");
    assert_eq!((s.identities, s.photos, s.caricatures), (IDENTITIES, 60, 60));
    // View 2: 2 people × 3 matched pairs per fold, as many mismatched; 6 × 6 unrestricted.
    assert_eq!((s.restricted_pairs, s.unrestricted_pairs), (FOLDS * 12, FOLDS * 36));
    assert_eq!((s.c2p_probes, s.p2c_probes), (60, 60));
}

#[test]
fn every_image_has_landmarks_whose_crop_is_the_whole_image() {
    let e = Exported::new("landmarks");
    assert!(e.web.without_landmarks().is_empty());
    for index in [0, e.web.len() / 2 + 1, e.web.len() - 1] {
        let loaded = e.web.load(index).unwrap();
        let decoded = image::open(e.web.info(index).path.as_ref().unwrap()).unwrap();
        assert_eq!((loaded.width, loaded.height), (decoded.width() as usize, decoded.height() as usize));
        assert_eq!((loaded.width, loaded.height), (SIZE, SIZE));
        assert_eq!(loaded.pixels, decoded.to_rgb8().into_raw(), "sample {index}: cropped");
    }
}

#[test]
fn restricted_folds_test_their_people_with_balanced_correct_pairs() {
    let e = Exported::new("restricted");
    let (view2, view1) = e.verification_views(WebCaricature::restricted);
    for (k, f) in view2.folds.iter().enumerate() {
        let matched = f.pairs.iter().filter(|p| p.same).count();
        assert_eq!(matched * 2, f.pairs.len(), "fold {k}");
        assert!(f.pairs[..matched].iter().all(|p| p.same), "fold {k}: matched pairs first");
        for p in &f.pairs {
            let same_person = e.web.info(p.caricature).identity == e.web.info(p.photo).identity;
            assert_eq!(p.same, same_person, "fold {k}: {p:?}");
            assert_eq!(e.web.info(p.caricature).modality, Modality::Caricature);
            assert_eq!(e.web.info(p.photo).modality, Modality::Photo);
        }
    }
    assert_eq!(view1.folds[0].pairs, view2.folds[0].pairs, "DevTest is fold 1's block");
}

#[test]
fn unrestricted_folds_test_their_people() {
    let e = Exported::new("unrestricted");
    let (view2, view1) = e.verification_views(WebCaricature::unrestricted);
    // Two people with three caricatures and three photos each.
    assert!(view2.folds.iter().all(|f| f.pairs.len() == 36));
    assert_eq!(view1.folds[0].pairs.len(), 36);
}

#[test]
fn identification_galleries_and_probes_have_the_right_modality_and_unseen_people() {
    let e = Exported::new("identification");
    for direction in [Direction::CaricatureToPhoto, Direction::PhotoToCaricature] {
        for (view, folds) in [(View::Evaluation, FOLDS), (View::Development, 1)] {
            let protocol = e.web.identification(direction, view, OnBadLine::Stop).unwrap();
            assert_eq!(protocol.folds.len(), folds, "{direction:?} {view:?}");
            for (k, f) in protocol.folds.iter().enumerate() {
                let at = format!("{direction:?} {view:?} fold {k}");
                assert!(f.gallery.iter().all(|&i| e.web.info(i).modality == direction.gallery_modality()), "{at}");
                assert!(f.probes.iter().all(|&i| e.web.info(i).modality == direction.probe_modality()), "{at}");
                assert_eq!(f.gallery.len(), fold(k).len(), "{at}: one gallery image per person");
                assert_eq!(f.probes.len(), fold(k).len() * PER_MODALITY, "{at}");
                assert_eq!(e.people(f.gallery.iter().copied()), fold(k), "{at}");
                assert_eq!(e.people(f.probes.iter().copied()), fold(k), "{at}");
                assert_eq!(e.synth_people(&f.train_identities), outside(k), "{at}");
                assert!(f.shared_identities.is_empty(), "{at}");
            }
        }
    }
}

#[test]
fn export_into_a_non_empty_folder_is_refused_and_leaves_it_untouched() {
    let dir = Scratch::new("non-empty");
    fs::create_dir_all(&dir.0).unwrap();
    fs::write(dir.0.join("keep.txt"), "mine").unwrap();
    let err = export_webcaricature(&faces(IDENTITIES), &dir.0).unwrap_err().to_string();
    assert!(err.contains("invalid value for out:") && err.contains("not empty"), "{err}");
    let entries: Vec<_> = fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, ["keep.txt"]);
    assert_eq!(fs::read_to_string(dir.0.join("keep.txt")).unwrap(), "mine");
}

#[test]
fn fewer_than_twenty_identities_are_refused() {
    let dir = Scratch::new("too-few");
    let err = export_webcaricature(&faces(IDENTITIES - 1), &dir.0).unwrap_err().to_string();
    assert!(err.contains("invalid value for identities:") && err.contains("20"), "{err}");
    assert!(!dir.0.exists());
}

fn exists(root: &Path, relative: &str) -> bool {
    root.join(relative).is_file()
}

#[test]
fn the_command_line_writes_the_webcaricature_layout() {
    let dir = Scratch::new("cli");
    let out = dir.0.to_str().unwrap();
    let common = ["synth", "--out", out, "--identities", "20", "--photos", "2", "--caricatures", "2", "--size", "32"];
    let o = cari(&[&common[..], &["--layout", "nope"]].concat());
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--layout"), "{o:?}");
    assert!(!dir.0.exists());

    let o = cari(&[&common[..], &["--layout", "webcaricature"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("20 identities"), "{o:?}");
    assert!(exists(&dir.0, "EvaluationProtocols/FaceVerification/Restricted/RestrictedView2.txt"));
    assert!(exists(&dir.0, "EvaluationProtocols/FaceIdentification/P2C/FR_Probe_P2C_dev.txt"));
    let web = WebCaricature::open(&dir.0).unwrap();
    assert_eq!((web.identities().len(), web.len()), (20, 80));
}
