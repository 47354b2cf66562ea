//! Any folder of face images: one subfolder per identity (or a flat folder, one identity
//! per file name), for training without a published protocol and for embedding every image
//! of a folder.
//!
//! ```text
//! <root>/<identity>/<file>.jpg|.jpeg|.png                    per-identity layout
//! <root>/<identity>/photo/<file>, <root>/<identity>/caricature/<file>   with ModalityRule::Subfolders
//! <root>/<file>.jpg                                          flat layout
//! ```
//! Extensions are matched case-insensitively; other files (`Thumbs.db`, notes) are
//! ignored. Identities are sorted by name; samples by identity, then path.

use super::dataset::{Dataset, RgbImage, SampleInfo};
use crate::error::{Error, Result};
use crate::model::Modality;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];
const PHOTO_DIR: &str = "photo";
const CARICATURE_DIR: &str = "caricature";

/// How a file's modality is decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

impl FromStr for ModalityRule {
    type Err = Error;

    fn from_str(s: &str) -> Result<ModalityRule> {
        match s {
            "all-photos" => Ok(ModalityRule::AllPhotos),
            "file-name" => Ok(ModalityRule::FileName),
            "subfolders" => Ok(ModalityRule::Subfolders),
            _ => {
                Err(Error::invalid("--modality-rule", format!("`{s}` (expected all-photos, file-name or subfolders)")))
            }
        }
    }
}

/// Where the identities are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FolderLayout {
    /// `root/<identity>/…`: one subfolder per identity, named after it.
    #[default]
    PerIdentity,
    /// `root/…`: images directly in the root, each file stem its own identity (files
    /// sharing a stem share it).
    Flat,
}

impl FromStr for FolderLayout {
    type Err = Error;

    fn from_str(s: &str) -> Result<FolderLayout> {
        match s {
            "per-identity" => Ok(FolderLayout::PerIdentity),
            "flat" => Ok(FolderLayout::Flat),
            _ => Err(Error::invalid("--layout", format!("`{s}` (expected per-identity or flat)"))),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FolderOptions {
    pub layout: FolderLayout,
    pub modality: ModalityRule,
}

/// The images found under a root.
pub struct FolderDataset {
    root: PathBuf,
    options: FolderOptions,
    identities: Vec<String>,
    samples: Vec<SampleInfo>,
    ignored: Vec<PathBuf>,
    empty_folders: Vec<PathBuf>,
}

impl FolderDataset {
    /// Scans `root`. An error when it cannot be read or holds no image under the layout.
    pub fn open(root: impl AsRef<Path>, options: FolderOptions) -> Result<FolderDataset> {
        let root = root.as_ref().to_path_buf();
        let mut by_identity: BTreeMap<String, Vec<(PathBuf, Modality)>> = BTreeMap::new();
        let mut ignored = Vec::new();
        let mut empty_folders = Vec::new();
        match options.layout {
            FolderLayout::PerIdentity => {
                for entry in sorted_entries(&root)? {
                    if !entry.is_dir() {
                        if is_image_file(&entry) {
                            ignored.push(entry);
                        }
                        continue;
                    }
                    let images = images_in(&entry, options.modality, &mut ignored)?;
                    if images.is_empty() {
                        empty_folders.push(entry);
                    } else {
                        by_identity.entry(file_name(&entry)).or_default().extend(images);
                    }
                }
            }
            FolderLayout::Flat => {
                for (path, modality) in images_in(&root, options.modality, &mut ignored)? {
                    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                    by_identity.entry(stem).or_default().push((path, modality));
                }
            }
        }
        if by_identity.is_empty() {
            let expected = match (options.layout, options.modality) {
                (FolderLayout::PerIdentity, ModalityRule::Subfolders) => "<identity>/photo/ or <identity>/caricature/",
                (FolderLayout::PerIdentity, _) => "<identity>/",
                (FolderLayout::Flat, ModalityRule::Subfolders) => "photo/ or caricature/",
                (FolderLayout::Flat, _) => "the folder itself",
            };
            return Err(Error::format(&root, format!("no .jpg, .jpeg or .png image in {expected}")));
        }
        let mut identities = Vec::with_capacity(by_identity.len());
        let mut samples = Vec::new();
        for (identity, (name, mut images)) in by_identity.into_iter().enumerate() {
            images.sort_by(|a, b| a.0.cmp(&b.0));
            identities.push(name);
            samples.extend(images.into_iter().map(|(path, modality)| SampleInfo {
                identity,
                modality,
                path: Some(path),
            }));
        }
        Ok(FolderDataset { root, options, identities, samples, ignored, empty_folders })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Image files the layout leaves out: images directly in the root of a per-identity
    /// layout, and images outside `photo/` and `caricature/` under the subfolder rule.
    pub fn ignored(&self) -> &[PathBuf] {
        &self.ignored
    }

    /// Identity folders without any image under the modality rule: they are not identities.
    pub fn empty_folders(&self) -> &[PathBuf] {
        &self.empty_folders
    }
}

impl Dataset for FolderDataset {
    fn describe(&self) -> String {
        let layout = match self.options.layout {
            FolderLayout::PerIdentity => "per-identity",
            FolderLayout::Flat => "flat",
        };
        let modality = match self.options.modality {
            ModalityRule::AllPhotos => "all-photos",
            ModalityRule::FileName => "file-name",
            ModalityRule::Subfolders => "subfolders",
        };
        format!("folder:{}:{layout},{modality}", self.root.display())
    }

    fn identities(&self) -> &[String] {
        &self.identities
    }

    fn len(&self) -> usize {
        self.samples.len()
    }

    fn info(&self, index: usize) -> &SampleInfo {
        &self.samples[index]
    }

    fn load(&self, index: usize) -> Result<RgbImage> {
        read_image(self.samples[index].path.as_deref().expect("every folder sample has a path"))
    }
}

/// The images of one identity's folder (or of a flat root) under `rule`; image files the
/// rule leaves out go to `ignored`.
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

/// Decodes a JPEG or PNG file to RGB; an unreadable or corrupt file is an error naming it.
pub(super) fn read_image(path: &Path) -> Result<RgbImage> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    let image = image::load_from_memory(&bytes).map_err(|e| Error::format(path, e.to_string()))?.into_rgb8();
    Ok(RgbImage { width: image.width() as usize, height: image.height() as usize, pixels: image.into_raw() })
}

/// The entries of `dir`, sorted by name so a scan does not depend on the file system.
pub(super) fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = fs::read_dir(dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect::<std::io::Result<Vec<_>>>())
        .map_err(|e| Error::io(dir, e))?;
    paths.sort();
    Ok(paths)
}

pub(super) fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Whether the file name ends in `.jpg`, `.jpeg` or `.png`, in any case.
pub(super) fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}
