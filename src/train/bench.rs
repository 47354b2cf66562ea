//! Timing and counting repeated work on one device (`cari bench`): a training step or an
//! inference pass on one fixed batch, after warm-up runs, with what the device did in the
//! timed runs where the backend counts it.

use crate::backend::{Device, Profile};
use crate::error::Result;
use std::time::Instant;

/// The timed runs of one piece of work.
#[derive(Clone, Debug)]
pub struct Measured {
    pub runs: u64,
    /// Images each run processes.
    pub images: usize,
    pub seconds: f64,
    /// What the device did in the timed runs (not the warm-up, not the final wait).
    pub profile: Option<Profile>,
}

impl Measured {
    pub fn ms_per_run(&self) -> f64 {
        1e3 * self.seconds / self.runs.max(1) as f64
    }

    pub fn images_per_second(&self) -> f64 {
        (self.runs as f64 * self.images as f64) / self.seconds.max(1e-12)
    }
}

/// Runs `work` `warmup` times, waits for the device, then times `runs` more runs (up to the
/// device having finished them).
pub fn measure(
    device: &Device,
    warmup: u64,
    runs: u64,
    images: usize,
    mut work: impl FnMut() -> Result<()>,
) -> Result<Measured> {
    let backend = device.backend();
    for _ in 0..warmup {
        work()?;
    }
    backend.synchronize()?;
    let before = device.profile();
    let start = Instant::now();
    for _ in 0..runs {
        work()?;
    }
    let profile = device.profile().zip(before).map(|(after, before)| after.since(&before));
    backend.synchronize()?;
    Ok(Measured { runs, images, seconds: start.elapsed().as_secs_f64(), profile })
}
