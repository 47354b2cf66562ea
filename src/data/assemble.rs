//! One batch from a list of samples: decoded and preprocessed by a set of worker threads
//! into one pixel buffer, with unreadable images stopping the run or dropped from the batch.
//! Each sample's result depends only on its own index and augmentation stream, so the
//! batch is the same for any number of workers.

use super::dataset::Dataset;
use super::preprocess::Preprocess;
use super::sampler::SamplerState;
use crate::backend::Device;
use crate::batch::{Batch, Modality};
use crate::choice::parse_choice;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread;

/// What to do with an image that cannot be read or decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OnBadImage {
    /// Fail with an error naming the file.
    #[default]
    Stop,
    /// Drop it from its batch, remember it, never try it again, and report it at the end.
    Skip,
}

impl FromStr for OnBadImage {
    type Err = Error;

    fn from_str(s: &str) -> Result<OnBadImage> {
        parse_choice("on_bad_image", s)
    }
}

/// A sample dropped from a batch under [`OnBadImage::Skip`].
#[derive(Clone, Debug, PartialEq)]
pub struct SkippedImage {
    pub index: usize,
    pub path: Option<PathBuf>,
    /// The error that made it unreadable.
    pub reason: String,
}

/// Preprocessed images in host memory, `pixels` being `[len, image_size, image_size, 3]`.
#[derive(Clone, Debug, PartialEq)]
pub struct HostBatch {
    pub image_size: usize,
    pub pixels: Vec<f32>,
    pub labels: Vec<usize>,
    pub modalities: Vec<Modality>,
    /// The dataset index of each image.
    pub indices: Vec<usize>,
    /// Samples drawn for this batch but dropped as unreadable, in draw order.
    pub skipped: Vec<SkippedImage>,
    /// The sampler's state after this batch (training batches only).
    pub sampler_state: Option<SamplerState>,
}

impl HostBatch {
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Uploads the images to `device`.
    pub fn to_batch(&self, device: &Device) -> Result<Batch> {
        let s = self.image_size;
        let images = Tensor::from_slice(&self.pixels, [self.len(), s, s, 3], device)?;
        Batch::new(images, self.labels.clone(), self.modalities.clone())
    }
}

/// One sample to load: a random crop and flip drawn from `augmentation`, or the centre
/// crop when it is `None`.
pub(crate) struct Sample {
    pub index: usize,
    pub augmentation: Option<Rng>,
}

/// The batch maker a loader's background thread owns.
pub(crate) struct Assembler<'a> {
    pub dataset: &'a dyn Dataset,
    pub preprocess: Preprocess,
    pub workers: usize,
    pub on_bad_image: OnBadImage,
    /// Unreadable samples met so far (skip mode), with their errors: never tried again.
    pub known_bad: HashMap<usize, String>,
}

impl Assembler<'_> {
    /// Loads batch `number`; `None` when `stop` was raised while it loaded.
    pub fn batch(&mut self, number: u64, samples: &[Sample], stop: &AtomicBool) -> Option<Result<HostBatch>> {
        let len = self.preprocess.output_len();
        let mut pixels = vec![0.0f32; samples.len() * len];
        let outcomes = self.load_all(samples, &mut pixels, stop)?;

        let mut kept = Vec::with_capacity(samples.len());
        let mut skipped = Vec::new();
        for (slot, (sample, outcome)) in samples.iter().zip(outcomes).enumerate() {
            match outcome {
                Ok(()) => kept.push(slot),
                Err(e) if self.on_bad_image == OnBadImage::Stop => return Some(Err(e)),
                Err(e) => {
                    let reason = self.known_bad.entry(sample.index).or_insert_with(|| e.to_string()).clone();
                    let path = self.dataset.info(sample.index).path.clone();
                    skipped.push(SkippedImage { index: sample.index, path, reason });
                }
            }
        }
        if kept.is_empty() {
            let first = skipped.first().map_or_else(String::new, |s| s.reason.clone());
            return Some(Err(Error::invalid(
                format!("{} batch {number}", self.dataset.describe()),
                format!("none of its {} images can be loaded (first: {first})", samples.len()),
            )));
        }
        for (to, &from) in kept.iter().enumerate() {
            pixels.copy_within(from * len..(from + 1) * len, to * len);
        }
        pixels.truncate(kept.len() * len);
        let indices: Vec<usize> = kept.iter().map(|&slot| samples[slot].index).collect();
        Some(Ok(HostBatch {
            image_size: self.preprocess.image_size,
            pixels,
            labels: indices.iter().map(|&i| self.dataset.info(i).identity).collect(),
            modalities: indices.iter().map(|&i| self.dataset.info(i).modality).collect(),
            indices,
            skipped,
            sampler_state: None,
        }))
    }

    /// Each sample's outcome, in slot order; the workers take slots one at a time.
    fn load_all(&self, samples: &[Sample], pixels: &mut [f32], stop: &AtomicBool) -> Option<Vec<Result<()>>> {
        let len = self.preprocess.output_len();
        let slots = Mutex::new(pixels.chunks_exact_mut(len).zip(samples).enumerate());
        let mut done: Vec<(usize, Result<()>)> = thread::scope(|scope| {
            let workers: Vec<_> = (0..self.workers.min(samples.len()))
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        while !stop.load(Ordering::Relaxed) {
                            let next = slots.lock().expect("batch slots poisoned").next();
                            let Some((slot, (out, sample))) = next else { break };
                            done.push((slot, self.load_one(sample, out)));
                        }
                        done
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
        });
        if done.len() < samples.len() {
            return None;
        }
        done.sort_by_key(|(slot, _)| *slot);
        Some(done.into_iter().map(|(_, outcome)| outcome).collect())
    }

    fn load_one(&self, sample: &Sample, out: &mut [f32]) -> Result<()> {
        if let Some(reason) = self.known_bad.get(&sample.index) {
            return Err(Error::invalid(format!("sample {}", sample.index), reason.clone()));
        }
        let image = self.dataset.load(sample.index)?;
        let crop = match &sample.augmentation {
            Some(rng) => self.preprocess.random_crop(&mut rng.clone()),
            None => self.preprocess.centre_crop(),
        };
        self.preprocess.apply(&image, crop, out).map_err(|e| match &self.dataset.info(sample.index).path {
            Some(path) => Error::format(path, e.to_string()),
            None => Error::invalid(format!("{} sample {}", self.dataset.describe(), sample.index), e.to_string()),
        })
    }
}
