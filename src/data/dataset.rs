//! The one interface every image source implements (built-in synthetic faces, CaVI, …):
//! a fixed, indexed list of labelled images that can be decoded from any thread.

use crate::batch::Modality;
use crate::error::Result;
use std::path::PathBuf;

/// An 8-bit RGB image, rows top to bottom, pixels interleaved `[r, g, b]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// Reads and decodes an image file (JPEG or PNG); an error names the file.
    pub fn read(path: &std::path::Path) -> Result<RgbImage> {
        let bytes = std::fs::read(path).map_err(|e| crate::Error::io(path, e))?;
        let image = image::load_from_memory(&bytes).map_err(|e| crate::Error::format(path, e.to_string()))?.into_rgb8();
        Ok(RgbImage { width: image.width() as usize, height: image.height() as usize, pixels: image.into_raw() })
    }
}

/// What is known about a sample without decoding it.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleInfo {
    /// Class index in `0..num_identities()`.
    pub identity: usize,
    pub modality: Modality,
    /// The file the image comes from, for error messages and reports (`None` for
    /// generated images).
    pub path: Option<PathBuf>,
}

/// A labelled list of images. `load` is called from worker threads, so it must be
/// deterministic for an index and may not depend on call order.
pub trait Dataset: Send + Sync {
    /// A short description for logs and checkpoints (`synth:seed=0,ids=10`, `cavi:/path`).
    fn describe(&self) -> String;
    /// Identity names, indexed by class.
    fn identities(&self) -> &[String];
    /// Every sample's label, modality and file, by index.
    fn samples(&self) -> &[SampleInfo];
    fn len(&self) -> usize {
        self.samples().len()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn info(&self, index: usize) -> &SampleInfo {
        &self.samples()[index]
    }
    /// Decodes (or renders) sample `index`. A missing or corrupt file is an error naming it.
    fn load(&self, index: usize) -> Result<RgbImage>;
}

/// A caricature–photo pair of a verification protocol (indices into one dataset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    pub caricature: usize,
    pub photo: usize,
    pub same: bool,
}

/// How a dataset is split for training and evaluation (CaVI's clean protocol, its
/// reference-compatible protocol, the synthetic data's split).
#[derive(Clone, Debug, PartialEq)]
pub struct Protocol {
    /// A label for logs and reports, e.g. `cavi-clean`.
    pub name: String,
    /// Sample indices to train on.
    pub train: Vec<usize>,
    /// Pairs to tune on (may be empty).
    pub validation_pairs: Vec<Pair>,
    /// Sample indices to report identification on.
    pub test: Vec<usize>,
    /// Pairs to report verification on, in the file's order (not shuffled).
    pub test_pairs: Vec<Pair>,
}
