//! A training run: batches from the loader, steps, one log record per step, a progress
//! bar, and checkpoints every few steps and at the end.

use super::{save_training_checkpoint, StepRecord, StepReport, Trainer, TrainingLog};
use crate::backend::Device;
use crate::batch::Batch;
use crate::data::{BatchLoader, BatchUploads, DataConfig, SamplerState};
use crate::error::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;

pub struct RunOptions {
    /// Train until this many steps are done in all (a resumed run counts its earlier ones).
    pub steps: u64,
    /// Where checkpoints go (one file, replaced atomically each time).
    pub checkpoint: Option<PathBuf>,
    /// Steps between checkpoints (0: only at the end).
    pub checkpoint_every: u64,
    /// Show a progress bar on the terminal.
    pub progress: bool,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// Steps done by this run (not counting a resumed run's earlier ones).
    pub steps: u64,
    pub images: u64,
    pub seconds: f64,
    pub last: Option<StepRecord>,
}

/// Runs `trainer` on `loader`'s batches up to `options.steps`. A failing step (a
/// non-finite loss, an unreadable image) stops the run with an error naming the step;
/// the checkpoint on disk is then the last good one, never a state after the failure.
pub fn run(
    trainer: &mut Trainer,
    loader: &mut BatchLoader,
    data: &DataConfig,
    device: &Device,
    options: &RunOptions,
    mut log: Option<&mut TrainingLog>,
) -> Result<RunSummary> {
    let first = trainer.step;
    let bar = progress_bar(options, first);
    let start = Instant::now();
    let mut summary = RunSummary { steps: 0, images: 0, seconds: 0.0, last: None };
    let mut saved: Option<u64> = None;
    // Each step's batch is uploaded while the step before it runs (double-buffered, on the
    // device's copy stream), so the checkpoint's loader state is the one of the batch the
    // last finished step read, not of the one drawn ahead.
    let mut uploads = BatchUploads::new();
    let mut next = (trainer.step < options.steps).then(|| draw(loader, &mut uploads, device));
    while let Some(drawn) = next.take() {
        let step_start = Instant::now();
        let step = trainer.step + 1;
        let stopped = |e: Error| stopped(e, step, options, saved);
        let (batch, loader_state) = drawn.map_err(stopped)?;
        let queued = trainer.queue_step(&batch).map_err(stopped)?;
        uploads.queued(device).map_err(stopped)?;
        if trainer.step + 1 < options.steps {
            next = Some(draw(loader, &mut uploads, device));
        }
        let report = trainer.finish_step(queued, &batch).map_err(stopped)?;
        let record = record(&report, batch.len(), step_start, start);
        if let Some(log) = log.as_deref_mut() {
            log.append(&record)?;
        }
        summary.steps += 1;
        summary.images += batch.len() as u64;
        if let Some(path) = &options.checkpoint {
            let due = options.checkpoint_every > 0 && trainer.step % options.checkpoint_every == 0;
            if due || trainer.step == options.steps {
                save_training_checkpoint(path, trainer, data, loader_state)?;
                saved = Some(trainer.step);
            }
        }
        bar.set_position(trainer.step);
        bar.set_message(progress_message(&record));
        summary.last = Some(record);
    }
    bar.finish();
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// The next batch, uploaded (ahead where it can), with the loader's state after it.
fn draw(loader: &mut BatchLoader, uploads: &mut BatchUploads, device: &Device) -> Result<(Batch, SamplerState)> {
    let host = loader.next_batch()?;
    Ok((uploads.upload(&host, device)?, loader.state()))
}

/// The error that ends a run at `step`, saying which checkpoint is the last good one.
fn stopped(error: Error, step: u64, options: &RunOptions, saved: Option<u64>) -> Error {
    let checkpoint = match (&options.checkpoint, saved) {
        (Some(path), Some(at)) => format!("the last good checkpoint is {} (step {at})", path.display()),
        (Some(path), None) => format!("no checkpoint was written by this run ({} is untouched)", path.display()),
        (None, _) => "no checkpoint was asked for".into(),
    };
    Error::Stopped { step, source: Box::new(error), checkpoint }
}

fn record(r: &StepReport, images: usize, step_start: Instant, run_start: Instant) -> StepRecord {
    StepRecord {
        step: r.step + 1,
        epoch: r.epoch,
        losses: r.task_losses,
        weights: r.task_weights,
        accuracies: r.task_accuracies,
        loss: r.loss,
        weight_loss: r.loss_w,
        lr: r.lr,
        images_per_second: (images as f64 / step_start.elapsed().as_secs_f64()) as f32,
        elapsed: run_start.elapsed().as_secs_f64(),
    }
}

fn progress_bar(options: &RunOptions, done: u64) -> ProgressBar {
    if !options.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(options.steps).with_position(done);
    let style = ProgressStyle::with_template("{bar:24.cyan/blue} {pos}/{len} {msg} [{elapsed_precise}, {eta} left]")
        .expect("the template is valid")
        .progress_chars("█▉▊▋▌▍▎▏ ");
    bar.set_style(style);
    bar
}

fn progress_message(r: &StepRecord) -> String {
    let loss = |l: Option<f32>| l.map_or("  –  ".to_string(), |v| format!("{v:5.2}"));
    format!(
        "L {} {} {}  w {:.2} {:.2} {:.2}  {:5.1} img/s",
        loss(r.losses[0]),
        loss(r.losses[1]),
        loss(r.losses[2]),
        r.weights[0],
        r.weights[1],
        r.weights[2],
        r.images_per_second
    )
}
