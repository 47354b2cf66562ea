//! Batches loaded ahead of the step: a background thread draws each batch's samples, has
//! worker threads decode and augment them ([`super::assemble`]) and queues finished batches
//! (at most `prefetch` of them) for the consumer. [`BatchLoader`] serves training batches
//! from a [`Sampler`]; [`EvalBatches`] serves every index of a list once, in order, with
//! evaluation preprocessing.

use super::assemble::{Assembler, HostBatch, OnBadImage, Sample, SkippedImage};
use super::dataset::Dataset;
use super::preprocess::Preprocess;
use super::sampler::{Sampler, SamplerState};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// The most worker threads a loader may start.
const MAX_WORKERS: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoaderOptions {
    /// Threads decoding and augmenting images (≥ 1); the batches do not depend on it.
    pub workers: usize,
    /// Finished batches kept waiting for the consumer (≥ 1).
    pub prefetch: usize,
    pub on_bad_image: OnBadImage,
}

impl Default for LoaderOptions {
    fn default() -> LoaderOptions {
        LoaderOptions { workers: 4, prefetch: 3, on_bad_image: OnBadImage::Stop }
    }
}

/// What [`OnBadImage::Skip`] dropped from the batches handed out so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SkipReport {
    /// Samples dropped from batches (an image drawn twice counts twice).
    pub dropped: u64,
    /// Each unreadable image once, in the order they were met.
    pub images: Vec<SkippedImage>,
}

impl SkipReport {
    fn add(&mut self, batch: &HostBatch) {
        self.dropped += batch.skipped.len() as u64;
        for s in &batch.skipped {
            if !self.images.iter().any(|known| known.index == s.index) {
                self.images.push(s.clone());
            }
        }
    }
}

/// Training batches drawn by a [`Sampler`], with random crops and flips.
pub struct BatchLoader {
    prefetcher: Prefetcher,
    state: SamplerState,
    skipped: SkipReport,
}

impl BatchLoader {
    /// Starts loading the batches `sampler` draws; augmentation is seeded from the
    /// sampler's seed and each sample's place in the stream.
    pub fn new(
        dataset: Arc<dyn Dataset>,
        mut sampler: Sampler,
        preprocess: Preprocess,
        options: LoaderOptions,
    ) -> Result<BatchLoader> {
        let state = sampler.state();
        let next_job = move || {
            let samples = sampler
                .next_batch()
                .into_iter()
                .map(|d| Sample { index: d.index, augmentation: Some(d.augmentation_rng(state.seed)) })
                .collect();
            Some(Job { samples, sampler_state: Some(sampler.state()) })
        };
        let prefetcher = Prefetcher::start(dataset, preprocess, options, next_job)?;
        Ok(BatchLoader { prefetcher, state, skipped: SkipReport::default() })
    }

    /// The next batch. An error (an unreadable image under [`OnBadImage::Stop`], a batch
    /// with no readable image) ends the loader: later calls fail too.
    pub fn next_batch(&mut self) -> Result<HostBatch> {
        let batch = self
            .prefetcher
            .next()
            .unwrap_or_else(|| Err(Error::invalid("batch loader", "stopped after an earlier error")))?;
        if let Some(state) = batch.sampler_state {
            self.state = state;
        }
        self.skipped.add(&batch);
        Ok(batch)
    }

    /// The sampler state after the last batch handed out: saved with a checkpoint, it
    /// lets [`Sampler::from_state`] resume the same stream.
    pub fn state(&self) -> SamplerState {
        self.state
    }

    pub fn skipped(&self) -> &SkipReport {
        &self.skipped
    }
}

/// Every index of a list once, in order, in batches of `batch_size` (the last one
/// shorter), centre-cropped and unflipped.
pub struct EvalBatches {
    prefetcher: Prefetcher,
    skipped: SkipReport,
}

impl EvalBatches {
    pub fn new(
        dataset: Arc<dyn Dataset>,
        indices: Vec<usize>,
        batch_size: usize,
        preprocess: Preprocess,
        options: LoaderOptions,
    ) -> Result<EvalBatches> {
        if batch_size == 0 {
            return Err(Error::invalid("evaluation batch size", "must be at least 1"));
        }
        let mut chunks = indices.chunks(batch_size).map(<[usize]>::to_vec).collect::<Vec<_>>().into_iter();
        let next_job = move || {
            let chunk = chunks.next()?;
            let samples = chunk.into_iter().map(|index| Sample { index, augmentation: None }).collect();
            Some(Job { samples, sampler_state: None })
        };
        let prefetcher = Prefetcher::start(dataset, preprocess, options, next_job)?;
        Ok(EvalBatches { prefetcher, skipped: SkipReport::default() })
    }

    pub fn skipped(&self) -> &SkipReport {
        &self.skipped
    }
}

impl Iterator for EvalBatches {
    type Item = Result<HostBatch>;

    fn next(&mut self) -> Option<Result<HostBatch>> {
        let batch = self.prefetcher.next()?;
        if let Ok(b) = &batch {
            self.skipped.add(b);
        }
        Some(batch)
    }
}

/// The samples of one batch, and the sampler state after it.
struct Job {
    samples: Vec<Sample>,
    sampler_state: Option<SamplerState>,
}

/// The background thread making batches, and the queue it fills.
struct Prefetcher {
    batches: Option<Receiver<Result<HostBatch>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Prefetcher {
    /// Makes the batches of `next_job` (until it returns `None` or a batch fails) on a
    /// new thread.
    fn start(
        dataset: Arc<dyn Dataset>,
        preprocess: Preprocess,
        options: LoaderOptions,
        mut next_job: impl FnMut() -> Option<Job> + Send + 'static,
    ) -> Result<Prefetcher> {
        if options.workers == 0 || options.workers > MAX_WORKERS {
            return Err(Error::invalid("workers", format!("{} (must be 1 to {MAX_WORKERS})", options.workers)));
        }
        if options.prefetch == 0 {
            return Err(Error::invalid("loader prefetch", "must be at least 1"));
        }
        let (sender, batches) = sync_channel(options.prefetch);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("cari-loader".into())
            .spawn(move || {
                let mut assembler = Assembler {
                    dataset: dataset.as_ref(),
                    preprocess,
                    workers: options.workers,
                    on_bad_image: options.on_bad_image,
                    known_bad: HashMap::new(),
                };
                for number in 0.. {
                    let Some(job) = next_job() else { break };
                    let Some(result) = assembler.batch(number, &job.samples, &stopped) else { break };
                    let result = result.map(|b| HostBatch { sampler_state: job.sampler_state, ..b });
                    let failed = result.is_err();
                    if sender.send(result).is_err() || failed {
                        break;
                    }
                }
            })
            .map_err(|e| Error::invalid("batch loader", format!("cannot start its thread: {e}")))?;
        Ok(Prefetcher { batches: Some(batches), stop, thread: Some(thread) })
    }

    /// The next batch, or `None` once the thread has finished (a panic on it resurfaces
    /// here).
    fn next(&mut self) -> Option<Result<HostBatch>> {
        let received = self.batches.as_ref()?.recv().ok();
        if received.is_none() {
            self.batches = None;
            if let Some(Err(panic)) = self.thread.take().map(JoinHandle::join) {
                std::panic::resume_unwind(panic);
            }
        }
        received
    }
}

impl Drop for Prefetcher {
    /// Stops the thread: raises the flag the workers check between images, and closes the
    /// queue so a blocked send returns.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.batches = None;
        if let Some(thread) = self.thread.take() {
            // A panic on the thread is dropped here: unwinding out of drop would abort.
            let _ = thread.join();
        }
    }
}
