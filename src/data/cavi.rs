//! CaVI (Garg et al. 2018): caricature and photo face crops of 205 people in their
//! published layout, and its two evaluation protocols.
//!
//! ```text
//! <root>/CaVI_Dataset/Caricature/<Folder>/<file>.jpg    caricatures
//! <root>/CaVI_Dataset/Real/<Folder>/<file>.jpg          photos
//! <root>/train-test-files/testing_1.txt, validation.txt, complete_identity_list.txt
//! ```
//! Images are taken at depth two only (`Real/Vladimir_Putin/` holds copies of other
//! people's folders), non-images (`Thumbs.db`) are ignored, and a person is keyed by the
//! upper-cased folder name because folder case differs between the two modalities.

use super::dataset::{Dataset, Pair, Protocol, RgbImage, SampleInfo};
use super::files::{file_name, is_image_file, sorted_entries};
use crate::batch::Modality;
use crate::error::{Error, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

const IMAGE_DIR: &str = "CaVI_Dataset";
const SPLIT_DIR: &str = "train-test-files";
const TEST_FILE: &str = "testing_1.txt";
const VALIDATION_FILE: &str = "validation.txt";
const IDENTITY_LIST_FILE: &str = "complete_identity_list.txt";
/// The reference code evaluates on every 20th pair of `testing_1.txt`.
const REFERENCE_PAIR_STRIDE: usize = 20;

/// The modality folders, in scan order: a person's display name is taken from the first
/// folder found, so the caricature folder's spelling wins.
const MODALITY_DIRS: [(&str, Modality); 2] = [("Caricature", Modality::Caricature), ("Real", Modality::Photo)];

/// Which split of CaVI to train and evaluate on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaviProtocol {
    /// Train on every image `testing_1.txt` does not use, tune on `validation.txt`,
    /// report on all of `testing_1.txt`.
    #[default]
    Clean,
    /// The reference code's split, for comparison with published numbers: every 20th pair
    /// of `testing_1.txt` (652 pairs), training on all other images of those pairs'
    /// people (which puts other `testing_1.txt` images into training).
    Reference,
}

impl CaviProtocol {
    /// The label logs and reports carry.
    pub fn name(self) -> &'static str {
        match self {
            CaviProtocol::Clean => "cavi-clean",
            CaviProtocol::Reference => "cavi-reference",
        }
    }
}

impl FromStr for CaviProtocol {
    type Err = Error;

    fn from_str(s: &str) -> Result<CaviProtocol> {
        match s {
            "clean" => Ok(CaviProtocol::Clean),
            "reference" => Ok(CaviProtocol::Reference),
            _ => Err(Error::invalid("protocol", format!("`{s}` is not a CaVI protocol (clean or reference)"))),
        }
    }
}

/// The CaVI images found under a root, indexed by person then modality then file name.
pub struct Cavi {
    root: PathBuf,
    identities: Vec<String>,
    samples: Vec<SampleInfo>,
    /// `MODALITY/FOLDER/FILE`, upper-cased, to sample index: split files name images with
    /// a case that need not match the folders on disk.
    by_name: HashMap<String, usize>,
}

/// An image found by the scan, before identities are numbered.
struct Found {
    key: String,
    modality_order: usize,
    file: String,
    path: PathBuf,
    lookup: String,
}

impl Cavi {
    /// Scans `root/CaVI_Dataset`. Split files are read by [`Cavi::protocol`].
    pub fn open(root: impl AsRef<Path>) -> Result<Cavi> {
        let root = root.as_ref().to_path_buf();
        let mut found = Vec::new();
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        for (modality_order, (dir, _)) in MODALITY_DIRS.iter().enumerate() {
            let modality_dir = root.join(IMAGE_DIR).join(dir);
            for folder in sorted_entries(&modality_dir)? {
                if !folder.is_dir() {
                    continue;
                }
                let folder_name = file_name(&folder);
                let key = folder_name.to_uppercase();
                for path in sorted_entries(&folder)? {
                    let file = file_name(&path);
                    if !path.is_file() || !is_image_file(&path) {
                        continue;
                    }
                    names.entry(key.clone()).or_insert_with(|| folder_name.clone());
                    let lookup = format!("{dir}/{folder_name}/{file}").to_uppercase();
                    found.push(Found { key: key.clone(), modality_order, file, path, lookup });
                }
            }
        }
        if found.is_empty() {
            return Err(Error::format(root.join(IMAGE_DIR), "no images under Caricature/<person>/ or Real/<person>/"));
        }
        let class: HashMap<&String, usize> = names.keys().enumerate().map(|(i, k)| (k, i)).collect();
        found.sort_by(|a, b| {
            (class[&a.key], a.modality_order, &a.file).cmp(&(class[&b.key], b.modality_order, &b.file))
        });
        let mut by_name = HashMap::with_capacity(found.len());
        let samples = found
            .iter()
            .enumerate()
            .map(|(i, f)| {
                by_name.entry(f.lookup.clone()).or_insert(i);
                SampleInfo {
                    identity: class[&f.key],
                    modality: MODALITY_DIRS[f.modality_order].1,
                    path: Some(f.path.clone()),
                }
            })
            .collect();
        Ok(Cavi { root, identities: names.into_values().collect(), samples, by_name })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The split of `which`, named `cavi-clean` or `cavi-reference`. Both tune on
    /// `validation.txt`, whose images are disjoint from `testing_1.txt` (and, in the clean
    /// protocol, are training images too: the published split has no held-out tuning set).
    pub fn protocol(&self, which: CaviProtocol) -> Result<Protocol> {
        let testing = self.read_pairs(TEST_FILE)?;
        let validation_pairs = self.read_pairs(VALIDATION_FILE)?;
        let test_pairs: Vec<Pair> = match which {
            CaviProtocol::Clean => testing,
            CaviProtocol::Reference => testing.into_iter().step_by(REFERENCE_PAIR_STRIDE).collect(),
        };
        let test: BTreeSet<usize> = test_pairs.iter().flat_map(|p| [p.caricature, p.photo]).collect();
        let train = match which {
            CaviProtocol::Clean => (0..self.len()).filter(|i| !test.contains(i)).collect(),
            CaviProtocol::Reference => {
                let people: BTreeSet<usize> = test.iter().map(|&i| self.samples[i].identity).collect();
                (0..self.len()).filter(|i| !test.contains(i) && people.contains(&self.samples[*i].identity)).collect()
            }
        };
        Ok(Protocol {
            name: which.name().into(),
            train,
            validation_pairs,
            test: test.into_iter().collect(),
            test_pairs,
        })
    }

    /// The names in `complete_identity_list.txt`, in file order.
    pub fn identity_list(&self) -> Result<Vec<String>> {
        let path = self.root.join(SPLIT_DIR).join(IDENTITY_LIST_FILE);
        let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
    }

    /// Reads a split file: per line `<id> Caricature/<Folder>\<file> <id> Real/<Folder>\<file> <same>`,
    /// LF or CRLF, paths resolved case-insensitively.
    fn read_pairs(&self, file: &str) -> Result<Vec<Pair>> {
        let path = self.root.join(SPLIT_DIR).join(file);
        let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let mut pairs = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let tokens: Vec<&str> = line.split_whitespace().collect();
            if tokens.is_empty() {
                continue;
            }
            let at_line = |msg: String| Error::format(&path, format!("line {}: {msg}", n + 1));
            if tokens.len() != 5 {
                return Err(at_line(format!(
                    "expected 5 tokens (id, caricature, id, photo, same), found {}",
                    tokens.len()
                )));
            }
            let caricature = self.resolve(tokens[1], "Caricature").map_err(at_line)?;
            let photo = self.resolve(tokens[3], "Real").map_err(at_line)?;
            let same = match tokens[4] {
                "1" => true,
                "0" => false,
                other => return Err(at_line(format!("`same` must be 0 or 1, found `{other}`"))),
            };
            pairs.push(Pair { caricature, photo, same });
        }
        Ok(pairs)
    }

    /// The sample a split-file path `<dir>/<Folder>\<file>` names.
    fn resolve(&self, token: &str, dir: &str) -> std::result::Result<usize, String> {
        let parts: Vec<&str> = token.split(['/', '\\']).collect();
        let [modality, folder, file] = parts[..] else {
            return Err(format!("`{token}` is not of the form {dir}/<folder>\\<file>"));
        };
        if !modality.eq_ignore_ascii_case(dir) {
            return Err(format!("`{token}` is not under {dir}/"));
        }
        self.by_name.get(&format!("{dir}/{folder}/{file}").to_uppercase()).copied().ok_or_else(|| {
            format!(
                "`{token}`: no such image ({})",
                self.root.join(IMAGE_DIR).join(dir).join(folder).join(file).display()
            )
        })
    }
}

impl Dataset for Cavi {
    fn describe(&self) -> String {
        format!("cavi:{}", self.root.display())
    }

    fn identities(&self) -> &[String] {
        &self.identities
    }

    fn samples(&self) -> &[SampleInfo] {
        &self.samples
    }

    fn load(&self, index: usize) -> Result<RgbImage> {
        let path = self.samples[index].path.as_deref().expect("every CaVI sample has a path");
        RgbImage::read(path)
    }
}
