//! Any folder of face images with one subfolder per identity, for training and evaluating
//! without a published protocol, and for embedding a labelled gallery.
//!
//! ```text
//! <root>/<identity>/<file>.jpg|.jpeg|.png
//! <root>/<identity>/photo/<file>, <root>/<identity>/caricature/<file>   (ModalityRule::Subfolders)
//! ```
//! Extensions are matched case-insensitively; other files (`Thumbs.db`, notes) are
//! ignored, and so are deeper folders. Identities are sorted by folder name; samples by
//! identity, then path. (A plain list of files and folders to embed is [`super::ImageList`].)

use super::dataset::{Dataset, Protocol, RgbImage, SampleInfo};
use super::files::{file_name, is_image_file, sorted_entries};
use super::pairs::balanced_pairs;
use crate::batch::Modality;
use crate::choice::parse_choice;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::str::FromStr;

const PHOTO_DIR: &str = "photo";
const CARICATURE_DIR: &str = "caricature";

/// How a file's modality is decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ModalityRule {
    /// Every image is a photo.
    #[default]
    AllPhotos,
    /// A caricature when the lower-cased file stem is `c` followed by digits only
    /// (WebCaricature's `C00001`) or contains `_c_` (CaVI's `name_c_3`); a photo otherwise.
    FileName,
    /// Images sit in a `photo/` or a `caricature/` subfolder (names matched
    /// case-insensitively) where they would otherwise be; images outside them are ignored.
    Subfolders,
}

impl ModalityRule {
    /// The flag value naming the rule.
    pub fn name(self) -> &'static str {
        match self {
            ModalityRule::AllPhotos => "all-photos",
            ModalityRule::FileName => "file-name",
            ModalityRule::Subfolders => "subfolders",
        }
    }
}

impl FromStr for ModalityRule {
    type Err = Error;

    fn from_str(s: &str) -> Result<ModalityRule> {
        parse_choice("modality_rule", s)
    }
}

/// The images found under a root.
pub struct FolderDataset {
    root: PathBuf,
    rule: ModalityRule,
    identities: Vec<String>,
    samples: Vec<SampleInfo>,
    ignored: Vec<PathBuf>,
    empty_folders: Vec<PathBuf>,
}

impl FolderDataset {
    /// Scans `root`. An error when it cannot be read or holds no image under the rule.
    pub fn open(root: impl AsRef<Path>, rule: ModalityRule) -> Result<FolderDataset> {
        let root = root.as_ref().to_path_buf();
        let mut identities = Vec::new();
        let mut samples = Vec::new();
        let mut ignored = Vec::new();
        let mut empty_folders = Vec::new();
        for entry in sorted_entries(&root)? {
            if !entry.is_dir() {
                if is_image_file(&entry) {
                    ignored.push(entry);
                }
                continue;
            }
            let mut images = images_in(&entry, rule, &mut ignored)?;
            if images.is_empty() {
                empty_folders.push(entry);
                continue;
            }
            images.sort_by(|a, b| a.0.cmp(&b.0));
            let identity = identities.len();
            identities.push(file_name(&entry));
            samples.extend(images.into_iter().map(|(path, modality)| SampleInfo {
                identity,
                modality,
                path: Some(path),
            }));
        }
        if samples.is_empty() {
            let expected = match rule {
                ModalityRule::Subfolders => "<identity>/photo/ or <identity>/caricature/",
                _ => "<identity>/",
            };
            return Err(Error::format(&root, format!("no .jpg, .jpeg or .png image in {expected}")));
        }
        Ok(FolderDataset { root, rule, identities, samples, ignored, empty_folders })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Image files left out: images directly in the root, and under the subfolder rule
    /// images outside `photo/` and `caricature/`.
    pub fn ignored(&self) -> &[PathBuf] {
        &self.ignored
    }

    /// Every image for training and for testing, the test pairs every same-identity
    /// caricature–photo pair and as many different-identity ones drawn with a fixed seed
    /// (none when the folder has only one modality). A folder has no published split: train
    /// on one folder and evaluate on another.
    pub fn protocol(&self) -> Protocol {
        let all: Vec<usize> = (0..self.samples.len()).collect();
        Protocol {
            name: "folder-all".into(),
            test_pairs: balanced_pairs(self, &all, (Modality::Caricature, Modality::Photo), 0),
            train: all.clone(),
            validation_pairs: Vec::new(),
            test: all,
        }
    }

    /// Identity folders without any image under the modality rule: they are not identities.
    pub fn empty_folders(&self) -> &[PathBuf] {
        &self.empty_folders
    }
}

impl Dataset for FolderDataset {
    fn describe(&self) -> String {
        format!("folder:{}:{}", self.root.display(), self.rule.name())
    }

    fn identities(&self) -> &[String] {
        &self.identities
    }

    fn samples(&self) -> &[SampleInfo] {
        &self.samples
    }

    fn load(&self, index: usize) -> Result<RgbImage> {
        RgbImage::read(self.samples[index].path.as_deref().expect("every folder sample has a path"))
    }
}

/// The images of one identity's folder under `rule`; image files the rule leaves out go to
/// `ignored`.
fn images_in(dir: &Path, rule: ModalityRule, ignored: &mut Vec<PathBuf>) -> Result<Vec<(PathBuf, Modality)>> {
    let mut images = Vec::new();
    for entry in sorted_entries(dir)? {
        if entry.is_dir() {
            if rule != ModalityRule::Subfolders {
                continue;
            }
            let name = file_name(&entry);
            let modality = if name.eq_ignore_ascii_case(PHOTO_DIR) {
                Modality::Photo
            } else if name.eq_ignore_ascii_case(CARICATURE_DIR) {
                Modality::Caricature
            } else {
                continue;
            };
            for file in sorted_entries(&entry)? {
                if file.is_file() && is_image_file(&file) {
                    images.push((file, modality));
                }
            }
        } else if entry.is_file() && is_image_file(&entry) {
            match rule {
                ModalityRule::AllPhotos => images.push((entry, Modality::Photo)),
                ModalityRule::FileName => {
                    let modality = modality_from_file_name(&entry);
                    images.push((entry, modality));
                }
                ModalityRule::Subfolders => ignored.push(entry),
            }
        }
    }
    Ok(images)
}

fn modality_from_file_name(path: &Path) -> Modality {
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_lowercase()).unwrap_or_default();
    let numbered = stem.strip_prefix('c').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if numbered || stem.contains("_c_") {
        Modality::Caricature
    } else {
        Modality::Photo
    }
}
