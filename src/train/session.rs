//! A training session: a trainer with its data and its log, started fresh (optionally from
//! pretrained weights, with branches 2 and 3 copied from branch 1) or resumed bit for bit
//! from a checkpoint, then run to a step count.

use super::{run, RunOptions, RunSummary, TrainConfig, Trainer, TrainingCheckpoint, TrainingLog};
use crate::backend::Device;
use crate::data::{DataConfig, LoaderOptions, OpenedData};
use crate::error::Result;
use crate::io::open_weights;
use crate::model::{
    init_id_branches_from_verification, load_matching, BranchCopy, LoadReport, MultiTaskNet, NetworkConfig,
    OnShapeMismatch,
};
use crate::optim::LrSchedule;
use std::fmt;
use std::path::{Path, PathBuf};

/// What a fresh run trains, on which data and how.
pub struct FreshRun {
    pub data: DataConfig,
    /// The network; its number of classes is set to the training data's identities.
    pub network: NetworkConfig,
    /// The training settings; their seed also initialises the parameters.
    pub training: TrainConfig,
    pub warm_start: Option<WarmStart>,
    /// Initialise branches 2 and 3 from branch 1 (after the warm start), as the paper does.
    pub init_branches_from_verification: bool,
}

/// Pretrained weights a fresh run starts from.
pub struct WarmStart {
    /// A training checkpoint or a safetensors file.
    pub path: PathBuf,
    /// Name patterns (`*` wildcards) of the tensors to load.
    pub include: Vec<String>,
    pub on_mismatch: OnShapeMismatch,
}

/// How a session began, for its caller to report.
pub enum Origin {
    Fresh {
        /// The warm start's file and what it loaded.
        warm_start: Option<(PathBuf, LoadReport)>,
        branch_copies: Vec<BranchCopy>,
    },
    Resumed {
        checkpoint: PathBuf,
        step: u64,
        /// The schedule file that replaced the checkpoint's, if one was given.
        schedule: Option<PathBuf>,
    },
}

/// The settings of a training run, by name, that a resumed run still takes from its
/// caller: the checkpoint to resume, how far to run, where and how often to write, whether
/// to show progress, the device, how the data is read, and a replacement learning-rate
/// schedule. The checkpoint's configuration decides every other setting.
pub const RESUME_SETTINGS: [&str; 9] =
    ["resume", "steps", "out", "checkpoint_every", "quiet", "device", "workers", "on_bad_image", "lr_schedule"];

/// Of the settings `requested` (by name), those a resumed run ignores because its
/// checkpoint's configuration decides them.
pub fn overridden_on_resume<'a>(requested: &[&'a str]) -> Vec<&'a str> {
    requested.iter().copied().filter(|name| !RESUME_SETTINGS.contains(name)).collect()
}

/// A trainer, the data it trains on and, once [`Session::log_to`] is called, its log.
pub struct Session {
    pub trainer: Trainer,
    /// How the data is read and ordered (stored in every checkpoint).
    pub data: DataConfig,
    pub opened: OpenedData,
    pub origin: Origin,
    device: Device,
    log: Option<TrainingLog>,
}

impl Session {
    /// A new run of `fresh` on `device`: the data opened, the parameters initialised from the
    /// training seed, then the warm start loaded and the branches copied if asked.
    pub fn start(fresh: FreshRun, device: &Device, loader: LoaderOptions) -> Result<Session> {
        let opened = fresh.data.open_for_training(None, loader)?;
        let network = NetworkConfig { num_classes: opened.dataset.identities().len(), ..fresh.network };
        let net = MultiTaskNet::new(network)?;
        let mut params = net.init_params(fresh.training.seed, device)?;
        let warm_start = match &fresh.warm_start {
            Some(w) => {
                let file = open_weights(&w.path)?;
                Some((w.path.clone(), load_matching(&mut params, &file, &w.include, w.on_mismatch)?))
            }
            None => None,
        };
        let branch_copies = if fresh.init_branches_from_verification {
            init_id_branches_from_verification(&net, &mut params)?.into()
        } else {
            Vec::new()
        };
        Ok(Session {
            trainer: Trainer::new(net, params, fresh.training)?,
            data: fresh.data,
            opened,
            origin: Origin::Fresh { warm_start, branch_copies },
            device: device.clone(),
            log: None,
        })
    }

    /// The run `checkpoint` was written by, continued on `device` exactly where it stopped
    /// (same data in the same order); `schedule`, a schedule file, replaces the stored
    /// learning-rate schedule (say, a lower rate for the last steps).
    pub fn resume(
        checkpoint: &Path,
        device: &Device,
        loader: LoaderOptions,
        schedule: Option<&Path>,
    ) -> Result<Session> {
        let ckpt = TrainingCheckpoint::open(checkpoint)?;
        let mut trainer = Trainer::from_checkpoint(&ckpt, device)?;
        if let Some(path) = schedule {
            trainer.config.schedule = LrSchedule::read(path)?;
        }
        let opened = ckpt.header.data.open_for_training(Some(ckpt.header.sampler), loader)?;
        Ok(Session {
            trainer,
            data: ckpt.header.data,
            opened,
            origin: Origin::Resumed {
                checkpoint: checkpoint.to_path_buf(),
                step: ckpt.header.step,
                schedule: schedule.map(Path::to_path_buf),
            },
            device: device.clone(),
            log: None,
        })
    }

    /// Records every step from now on in the log at `path`. A resumed run continues the log
    /// it finds there (dropping the records after its checkpoint's step); otherwise the log
    /// starts empty.
    pub fn log_to(&mut self, path: &Path) -> Result<()> {
        let log = match &self.origin {
            Origin::Resumed { step, .. } if path.exists() => TrainingLog::resume(path, *step)?,
            _ => TrainingLog::create(path)?,
        };
        self.log = Some(log);
        Ok(())
    }

    /// Trains until `options.steps` steps are done in all (see [`run`]).
    pub fn run(&mut self, options: &RunOptions) -> Result<RunSummary> {
        run(&mut self.trainer, &mut self.opened.loader, &self.data, &self.device, options, self.log.as_mut())
    }
}

/// What is trained on what: data, protocol, input size, batch, strategy, optimizer, device.
impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = self.data.preprocess.image_size;
        write!(
            f,
            "{} ({}, {} training images, {} identities), {size}×{size} input, batch {}, strategy {}, {} on {}",
            self.opened.dataset.describe(),
            self.opened.protocol.name,
            self.opened.protocol.train.len(),
            self.opened.dataset.identities().len(),
            self.data.batch_size,
            self.trainer.config.objective.weighting,
            self.trainer.config.network_optimizer.rule.name(),
            self.device
        )
    }
}
