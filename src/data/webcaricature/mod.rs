//! WebCaricature (Huo et al. 2018): caricatures and photos of 252 people in their
//! published layout, with the reference landmark crop and the verification and
//! identification protocols.
//!
//! ```text
//! <root>/OriginalImages/<Name>/C00001.jpg …, P00001.jpg …   (names contain spaces)
//! <root>/FacialPoints/<Name>/<stem>.txt                      17 points per image
//! <root>/EvaluationProtocols/FaceVerification/{Restricted,UnRestricted}/…
//! <root>/EvaluationProtocols/FaceIdentification/FR_Train*.txt, C2P/…, P2C/…
//! ```
//! A file whose stem starts with `C` is a caricature, with `P` a photo (either case); other
//! images are left out and listed by [`WebCaricature::unrecognised_images`]. An image is
//! cut to the reference face box when its landmark file exists; images without one are
//! loaded whole and listed by [`WebCaricature::without_landmarks`] (a missing file is
//! known at [`WebCaricature::open`], so the count can be reported before any image is
//! read). Protocol files and landmark folders are found case-insensitively, names and
//! stems in protocol lines too.

mod choice;
mod identification;
mod landmarks;
mod lines;
mod verification;

pub use choice::{WebCaricatureFolds, WebCaricatureProtocol, WebCaricatureTask};
pub use identification::{Direction, IdentificationFold, IdentificationProtocol};
pub use landmarks::{parse_landmarks, read_landmarks, FaceBox};
pub use lines::{OnBadLine, SkippedLine};
pub use verification::{VerificationFold, VerificationProtocol};

use super::dataset::{Dataset, RgbImage, SampleInfo};
use super::files::{file_name, is_image_file, sorted_entries};
use crate::batch::Modality;
use crate::choice::parse_choice;
use crate::error::{Error, Result};
use lines::Line;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;

const IMAGE_DIR: &str = "OriginalImages";
const LANDMARK_DIR: &str = "FacialPoints";
const PROTOCOL_DIR: &str = "EvaluationProtocols";
/// View 2 of every protocol has ten folds.
pub const FOLDS: usize = 10;

/// Which part of a protocol: View 1 tunes a model, View 2 reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// View 1: one development split (`…_DevTrain`/`…_DevTest`, `…_dev`).
    #[value(name = "view1", alias = "1", alias = "dev")]
    Development,
    /// View 2: ten folds, mean ± std over them.
    #[default]
    #[value(name = "view2", alias = "2")]
    Evaluation,
}

impl View {
    /// `view1` or `view2`, for protocol names.
    pub fn label(self) -> &'static str {
        match self {
            View::Development => "view1",
            View::Evaluation => "view2",
        }
    }
}

impl FromStr for View {
    type Err = Error;

    fn from_str(s: &str) -> Result<View> {
        parse_choice("view", s)
    }
}

/// The WebCaricature images found under a root, indexed by person (sorted by folder name),
/// then caricatures before photos, then file stem.
pub struct WebCaricature {
    root: PathBuf,
    identities: Vec<String>,
    samples: Vec<SampleInfo>,
    stems: Vec<String>,
    landmarks: Vec<Option<PathBuf>>,
    caricatures: Vec<Vec<usize>>,
    photos: Vec<Vec<usize>>,
    by_name: HashMap<String, usize>,
    by_upper_name: HashMap<String, usize>,
    /// (identity, upper-cased stem) to sample.
    by_stem: HashMap<(usize, String), usize>,
    unrecognised: Vec<PathBuf>,
}

impl WebCaricature {
    /// Scans `root/OriginalImages` and notes which images have a landmark file. Protocol
    /// files are read by [`WebCaricature::restricted`], [`WebCaricature::unrestricted`]
    /// and [`WebCaricature::identification`].
    pub fn open(root: impl AsRef<Path>) -> Result<WebCaricature> {
        let root = root.as_ref().to_path_buf();
        let mut web = WebCaricature {
            root: root.clone(),
            identities: Vec::new(),
            samples: Vec::new(),
            stems: Vec::new(),
            landmarks: Vec::new(),
            caricatures: Vec::new(),
            photos: Vec::new(),
            by_name: HashMap::new(),
            by_upper_name: HashMap::new(),
            by_stem: HashMap::new(),
            unrecognised: Vec::new(),
        };
        for folder in sorted_entries(&root.join(IMAGE_DIR))? {
            if folder.is_dir() {
                web.add_person(&folder)?;
            }
        }
        if web.samples.is_empty() {
            return Err(Error::format(root.join(IMAGE_DIR), "no C*.jpg or P*.jpg image in any <Name>/ folder"));
        }
        Ok(web)
    }

    /// Adds the recognised images of one `OriginalImages/<Name>/` folder as a person.
    fn add_person(&mut self, folder: &Path) -> Result<()> {
        let mut images = Vec::new();
        for path in sorted_entries(folder)? {
            if !path.is_file() || !is_image_file(&path) {
                continue;
            }
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            match stem_modality(&stem) {
                Some(modality) => images.push((modality == Modality::Photo, stem, path)),
                None => self.unrecognised.push(path),
            }
        }
        if images.is_empty() {
            return Ok(());
        }
        images.sort();
        let name = file_name(folder);
        let landmarks = landmark_files(&entry_in(&self.root.join(LANDMARK_DIR), &name))?;
        let identity = self.identities.len();
        let (mut caricatures, mut photos) = (Vec::new(), Vec::new());
        for (is_photo, stem, path) in images {
            let index = self.samples.len();
            let upper = stem.to_uppercase();
            self.landmarks.push(landmarks.get(&upper).cloned());
            self.by_stem.entry((identity, upper)).or_insert(index);
            let modality = if is_photo { Modality::Photo } else { Modality::Caricature };
            if is_photo { &mut photos } else { &mut caricatures }.push(index);
            self.samples.push(SampleInfo { identity, modality, path: Some(path) });
            self.stems.push(stem);
        }
        self.by_name.insert(name.clone(), identity);
        self.by_upper_name.entry(name.to_uppercase()).or_insert(identity);
        self.identities.push(name);
        self.caricatures.push(caricatures);
        self.photos.push(photos);
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The person named `name` (the folder name; case-insensitive when no folder matches
    /// exactly).
    pub fn identity_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).or_else(|| self.by_upper_name.get(&name.to_uppercase())).copied()
    }

    /// The sample `stem` (e.g. `C00001`, an image extension tolerated) of person `identity`.
    pub fn image_index(&self, identity: usize, stem: &str) -> Option<usize> {
        self.by_stem.get(&(identity, strip_image_extension(stem).to_uppercase())).copied()
    }

    /// The file stem of sample `index`, e.g. `P00003`.
    pub fn stem(&self, index: usize) -> &str {
        &self.stems[index]
    }

    /// The caricatures of person `identity`, sorted by stem.
    pub fn caricatures_of(&self, identity: usize) -> &[usize] {
        &self.caricatures[identity]
    }

    /// The photos of person `identity`, sorted by stem.
    pub fn photos_of(&self, identity: usize) -> &[usize] {
        &self.photos[identity]
    }

    /// The landmark file of sample `index`, when there is one.
    pub fn landmark_file(&self, index: usize) -> Option<&Path> {
        self.landmarks[index].as_deref()
    }

    /// Samples without a landmark file: they are loaded uncropped.
    pub fn without_landmarks(&self) -> Vec<usize> {
        (0..self.len()).filter(|&i| self.landmarks[i].is_none()).collect()
    }

    /// Images under `OriginalImages/<Name>/` whose stem starts with neither `C` nor `P`:
    /// not samples.
    pub fn unrecognised_images(&self) -> &[PathBuf] {
        &self.unrecognised
    }

    /// A protocol file under `EvaluationProtocols/`, each part of `relative` matched
    /// case-insensitively when it does not exist as written.
    fn protocol_file(&self, relative: &[&str]) -> PathBuf {
        relative.iter().fold(self.root.join(PROTOCOL_DIR), |dir, part| entry_in(&dir, part))
    }

    fn find_identity(&self, name: &str) -> std::result::Result<usize, String> {
        self.identity_index(name).ok_or_else(|| format!("no person `{name}` under {IMAGE_DIR}/"))
    }

    fn find_image(&self, identity: usize, stem: &str) -> std::result::Result<usize, String> {
        self.image_index(identity, stem)
            .ok_or_else(|| format!("no image `{stem}` of `{}` under {IMAGE_DIR}/", self.identities[identity]))
    }

    /// A `Name⇥nC⇥nP` line: the person, whose caricature and photo counts on disk must be
    /// the line's, and who must not be in `seen` already.
    fn person_line(&self, line: &Line, seen: &BTreeSet<usize>) -> std::result::Result<usize, String> {
        let fields = line.fields();
        let [name, caricatures, photos] = fields[..] else {
            return Err(format!(
                "expected `Name⇥caricatures⇥photos` (3 TAB-separated fields), found {}: `{}`",
                fields.len(),
                line.text
            ));
        };
        let count = |field: &str| lines::parse_count(field).ok_or_else(|| format!("`{field}` is not a count"));
        let (caricatures, photos) = (count(caricatures)?, count(photos)?);
        let identity = self.find_identity(name)?;
        let on_disk = (self.caricatures[identity].len(), self.photos[identity].len());
        if on_disk != (caricatures, photos) {
            return Err(format!(
                "`{name}` has {} caricatures and {} photos under {IMAGE_DIR}/, the line says {caricatures} and {photos}",
                on_disk.0, on_disk.1
            ));
        }
        if seen.contains(&identity) {
            return Err(format!("`{name}` is listed twice"));
        }
        Ok(identity)
    }

    /// The people of a set of samples.
    fn people(&self, samples: impl IntoIterator<Item = usize>) -> BTreeSet<usize> {
        samples.into_iter().map(|i| self.samples[i].identity).collect()
    }
}

impl Dataset for WebCaricature {
    fn describe(&self) -> String {
        format!("webcaricature:{}", self.root.display())
    }

    fn identities(&self) -> &[String] {
        &self.identities
    }

    fn samples(&self) -> &[SampleInfo] {
        &self.samples
    }

    /// The image cut to the reference face box when it has a landmark file, whole
    /// otherwise. A malformed landmark file is an error naming it and the line.
    fn load(&self, index: usize) -> Result<RgbImage> {
        let image =
            RgbImage::read(self.samples[index].path.as_deref().expect("every WebCaricature sample has a path"))?;
        let Some(landmark_file) = &self.landmarks[index] else { return Ok(image) };
        let points = read_landmarks(landmark_file)?;
        let face = FaceBox::around(&points, image.width, image.height).ok_or_else(|| {
            Error::format(
                landmark_file,
                format!("the face box of these points leaves no pixel of the {}×{} image", image.width, image.height),
            )
        })?;
        Ok(face.cut(&image))
    }
}

/// `C…` is a caricature, `P…` a photo.
fn stem_modality(stem: &str) -> Option<Modality> {
    match stem.chars().next()?.to_ascii_uppercase() {
        'C' => Some(Modality::Caricature),
        'P' => Some(Modality::Photo),
        _ => None,
    }
}

/// `C00001.jpg` → `C00001`; a stem without an image extension is returned as is.
fn strip_image_extension(stem: &str) -> &str {
    match stem.rsplit_once('.') {
        Some((base, _)) if is_image_file(Path::new(stem)) => base,
        _ => stem,
    }
}

/// `dir/name`, or when that does not exist the entry of `dir` whose name matches in
/// another case (and `dir/name` again when none does, for error messages).
fn entry_in(dir: &Path, name: &str) -> PathBuf {
    let exact = dir.join(name);
    if exact.exists() {
        return exact;
    }
    sorted_entries(dir)
        .ok()
        .and_then(|entries| entries.into_iter().find(|e| file_name(e).to_lowercase() == name.to_lowercase()))
        .unwrap_or(exact)
}

/// A person's `FacialPoints/<Name>/*.txt` files by upper-cased stem (none when the folder
/// is absent).
fn landmark_files(dir: &Path) -> Result<HashMap<String, PathBuf>> {
    if !dir.is_dir() {
        return Ok(HashMap::new());
    }
    let mut files = HashMap::new();
    for path in sorted_entries(dir)? {
        let is_text = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt"));
        if path.is_file() && is_text {
            let stem = path.file_stem().map(|s| s.to_string_lossy().to_uppercase()).unwrap_or_default();
            files.entry(stem).or_insert(path);
        }
    }
    Ok(files)
}
