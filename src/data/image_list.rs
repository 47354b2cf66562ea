//! Images named on the command line: files, or folders whose images (sorted, at any depth
//! below) are taken. Each image is labelled by its parent folder's name, the usual
//! folder-per-identity convention, and counted as a photo.

use super::files::{is_image_file, sorted_entries};
use super::{Dataset, RgbImage, SampleInfo};
use crate::batch::Modality;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

pub struct ImageList {
    labels: Vec<String>,
    samples: Vec<SampleInfo>,
}

/// Every image below `dir`, sorted by path.
fn images_below(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for path in sorted_entries(dir)? {
        if path.is_dir() {
            images_below(&path, out)?;
        } else if is_image_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

impl ImageList {
    /// The images of `inputs` (files and folders) in order; a missing input, or a folder
    /// without images, is an error naming it.
    pub fn new(inputs: &[PathBuf]) -> Result<ImageList> {
        let mut paths = Vec::new();
        for input in inputs {
            if input.is_dir() {
                let before = paths.len();
                images_below(input, &mut paths)?;
                if paths.len() == before {
                    return Err(Error::format(input, "no .jpg, .jpeg or .png image in this folder"));
                }
            } else if input.is_file() {
                paths.push(input.clone());
            } else {
                return Err(Error::io(
                    input,
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
                ));
            }
        }
        // Label → class, so a large folder tree is labelled in one pass.
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut labels: Vec<String> = Vec::new();
        let mut samples = Vec::with_capacity(paths.len());
        for path in paths {
            let label = path
                .parent()
                .and_then(|p| p.file_name())
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let identity = *index.entry(label.clone()).or_insert_with(|| {
                labels.push(label);
                labels.len() - 1
            });
            samples.push(SampleInfo { identity, modality: Modality::Photo, path: Some(path) });
        }
        Ok(ImageList { labels, samples })
    }

    /// The label (parent folder name) of sample `index`.
    pub fn label(&self, index: usize) -> &str {
        &self.labels[self.samples[index].identity]
    }

    pub fn path(&self, index: usize) -> &Path {
        self.samples[index].path.as_deref().expect("every listed image has a path")
    }
}

impl Dataset for ImageList {
    fn describe(&self) -> String {
        format!("{} images", self.samples.len())
    }

    fn identities(&self) -> &[String] {
        &self.labels
    }

    fn samples(&self) -> &[SampleInfo] {
        &self.samples
    }

    fn load(&self, index: usize) -> Result<RgbImage> {
        RgbImage::read(self.path(index))
    }
}
