//! The `cari` command line: parses arguments and calls the library.

use cari::data::{
    export_cavi, export_webcaricature, DataConfig, DataSource, LoaderOptions, ModalityRule, OnBadImage, OnBadLine,
    Preprocess, SourceOptions, SynthConfig, SynthFaces, View,
};
use cari::eval::{calibrate, evaluate_models, EvalPlan, ValProtocol, VAL_FAR_TARGETS};
use cari::experiment::{run_experiment, table_markdown, Experiment};
use cari::infer::calibrate::{self as calibration, Domain};
use cari::infer::output::{matches_row, verdict_text, Format};
use cari::infer::{identify, verify, EmbeddingGraph, Embeddings, InferenceModel, Threshold};
use cari::model::{MultiTaskNet, NetworkConfig, OnShapeMismatch, Weighting};
use cari::optim::{LrSchedule, OptimizerConfig, Rule};
use cari::plot::{plot_log_files, plot_report, PlotOptions};
use cari::train::{measure, overridden_on_resume, FreshRun, Origin, RunOptions, Session, TrainConfig, WarmStart};
use cari::{Device, Error, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Parser)]
#[command(
    name = "cari",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("CARI_BUILD_COMMIT"), ")"),
    about = "Caricature ↔ photo face recognition by dynamic multi-task learning"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the network's layer table: output shapes and parameter counts.
    Info(NetArgs),
    /// Train the multi-task model (default: the built-in synthetic faces, on the CPU).
    Train(TrainArgs),
    /// Write the built-in synthetic faces to disk in CaVI's or WebCaricature's layout.
    Synth(SynthArgs),
    /// Draw training logs as the paper's Figure 3: task weights above, task losses below.
    Plot(PlotArgs),
    /// The paper's Table I: train the single-task, naive dynamic and dynamic models and
    /// evaluate each (default: on the synthetic faces).
    Experiment(ExperimentArgs),
    /// Evaluate a trained model on a dataset's test protocol.
    Eval(EvalArgs),
    /// Embeddings of images (files or folders; labels from folder names) to safetensors or .npy.
    Embed(EmbedArgs),
    /// Are two face images the same person?
    Verify(VerifyArgs),
    /// The nearest identities of a gallery (made by `cari embed`) for each probe image.
    Identify(IdentifyArgs),
    /// Time a training step and an inference pass on one batch; with --profile, what the
    /// device did per step (launches by kernel, allocations, copies, waits; CUDA devices).
    Bench(BenchArgs),
}

// Arguments are named (their ids, the struct fields) as the library names the settings
// they set, so a library error naming a setting can be shown naming its flag
// ([`Flags::name_flag`]).

/// How a trained model is run.
#[derive(Args)]
struct InferenceArgs {
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu", value_parser = library_value::<Device>)]
    device: Device,
    /// Images per inference batch.
    #[arg(long = "batch", visible_alias = "batch-size", default_value_t = 32)]
    batch_size: usize,
    /// Threads decoding images ahead of the network.
    #[arg(long, visible_alias = "num-workers", default_value_t = 2)]
    workers: usize,
}

impl InferenceArgs {
    fn open(&self, model: &Path) -> Result<InferenceModel> {
        InferenceModel::open(model, &self.device)
    }

    fn loader(&self) -> LoaderOptions {
        LoaderOptions { workers: self.workers.max(1), ..LoaderOptions::default() }
    }
}

#[derive(Args)]
struct EvalArgs {
    /// A training checkpoint (`checkpoint.safetensors` of `cari train`); or one per fold of a
    /// WebCaricature View-2 protocol, in fold order, to score the model trained on fold k's
    /// training part on fold k (as the published protocols do).
    #[arg(long = "model", visible_alias = "checkpoint", required = true)]
    models: Vec<PathBuf>,
    #[command(flatten)]
    run: InferenceArgs,
    /// `synth`, `cavi:PATH`, `webcaricature:PATH` or `folder:PATH` (default: the data the
    /// model was trained on).
    #[arg(long)]
    dataset: Option<String>,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Write the report as JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// VAL@FAR as the paper's code measures it (threshold interpolated and VAL measured on
    /// the training folds), to compare with published figures only; default: on each test fold.
    #[arg(long)]
    reference_val: bool,
    /// Draw the ROC and CMC curves as STEM_roc.{svg,png} and STEM_cmc.{svg,png}.
    #[arg(long, value_name = "STEM")]
    plot: Option<PathBuf>,
    /// Fit verification thresholds at FAR 0.1 % and 1 % per domain (photo↔caricature on the
    /// protocol's pairs, photo↔photo among its photos) and store them in the model, where
    /// `cari verify` finds them.
    #[arg(long)]
    calibrate: bool,
    /// What to do with an unreadable test image: `stop` (naming it) or `skip` (its pairs are
    /// left out and the report says how many were scored).
    #[arg(long, value_enum, default_value_t)]
    on_bad_image: OnBadImage,
}

#[derive(Args)]
struct EmbedArgs {
    /// A training checkpoint (`checkpoint.safetensors` of `cari train`).
    #[arg(long, visible_alias = "checkpoint")]
    model: PathBuf,
    #[command(flatten)]
    run: InferenceArgs,
    /// Image files or folders.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output: `.npy` (labels in `.labels.txt` beside it) or safetensors (a gallery).
    #[arg(long, visible_alias = "output")]
    out: PathBuf,
    /// Add the new images to the gallery in --out instead of replacing it (nothing already
    /// in it is computed again).
    #[arg(long)]
    append: bool,
}

#[derive(Args)]
struct VerifyArgs {
    /// A training checkpoint (`checkpoint.safetensors` of `cari train`).
    #[arg(long, visible_alias = "checkpoint")]
    model: PathBuf,
    #[command(flatten)]
    run: InferenceArgs,
    a: PathBuf,
    b: PathBuf,
    /// Squared-distance threshold below which the two are the same person (default: the
    /// model's calibrated threshold for --domain at --far).
    #[arg(long)]
    threshold: Option<f32>,
    /// Which calibration to use.
    #[arg(long, value_enum, default_value_t = Domain::PhotoCaricature)]
    domain: Domain,
    /// The false-accept rate whose calibrated threshold to use.
    #[arg(long, default_value_t = 1e-3)]
    far: f64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args)]
struct IdentifyArgs {
    /// A training checkpoint (`checkpoint.safetensors` of `cari train`).
    #[arg(long, visible_alias = "checkpoint")]
    model: PathBuf,
    #[command(flatten)]
    run: InferenceArgs,
    /// A gallery written by `cari embed --out G.safetensors`.
    #[arg(long)]
    gallery: PathBuf,
    /// Probe images or folders.
    #[arg(required = true)]
    probes: Vec<PathBuf>,
    /// Identities to list per probe.
    #[arg(long, visible_alias = "top-k", default_value_t = 5)]
    top: usize,
}

#[derive(Args)]
struct NetArgs {
    /// Square input size in pixels (at least 75).
    #[arg(long, default_value_t = 160)]
    image_size: usize,
    /// Number of identities (classes of the three FC layers).
    #[arg(long, default_value_t = 195)]
    identities: usize,
    /// Divide every channel count by this (1, 2, 4, 8 or 16) for a narrower network.
    #[arg(long, default_value_t = 1)]
    width_divisor: usize,
}

/// How to build the model and train it: shared by `train` and `experiment`.
#[derive(Args)]
struct ModelArgs {
    /// `synth` (the built-in faces, rendered on the fly), `cavi:PATH`, `webcaricature:PATH`
    /// or `folder:PATH` (one subfolder per identity).
    #[arg(long, default_value = "synth")]
    dataset: String,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// WebCaricature: the fold (1 to 10) whose training part is used (default 1).
    #[arg(long)]
    fold: Option<usize>,
    /// Synthetic data: identities, photos and caricatures per identity, rendering size.
    #[arg(long, default_value_t = 10)]
    identities: usize,
    #[arg(long = "synth-photos", default_value_t = 12)]
    photos_per_identity: usize,
    #[arg(long = "synth-caricatures", default_value_t = 12)]
    caricatures_per_identity: usize,
    /// Square network input in pixels (at least 75; default 96 on synthetic data, 160 on CaVI).
    #[arg(long)]
    image_size: Option<usize>,
    /// Training crops are taken from images resized to image size + this margin
    /// (default: a tenth of the image size).
    #[arg(long)]
    crop_margin: Option<usize>,
    /// Divide every channel count by this (1, 2, 4, 8 or 16) for a narrower network.
    #[arg(long, default_value_t = 1)]
    width_divisor: usize,
    /// Images per step.
    #[arg(long = "batch", visible_alias = "batch-size", default_value_t = 16)]
    batch_size: usize,
    /// `dynamic` (the paper), `naive`, `fixed:w1,w2,w3`, `single:<task>` (verification,
    /// photo-id, caricature-id) or `uncertainty`.
    #[arg(long, visible_alias = "weighting", default_value = "dynamic", value_parser = library_value::<Weighting>)]
    strategy: Weighting,
    /// Let L's gradient reach the trunk through w, as the reference code does.
    #[arg(long)]
    reference_gradient_path: bool,
    /// `rmsprop` (TF semantics, the reference), `sgd` or `adam`; both parameter groups.
    #[arg(long, default_value = "rmsprop", value_parser = library_value::<Rule>)]
    optimizer: Rule,
    /// Constant learning rate of the network (ignored with --lr-schedule).
    #[arg(long, visible_alias = "learning-rate", default_value_t = 0.01)]
    lr: f32,
    /// Learning-rate schedule file of `epoch: rate` lines (the reference's format); with
    /// --resume it replaces the checkpoint's schedule.
    #[arg(long)]
    lr_schedule: Option<PathBuf>,
    /// Steps per schedule epoch.
    #[arg(long, default_value_t = 100)]
    epoch_size: u64,
    /// The weight module's learning rate is the network's times this.
    #[arg(long, default_value_t = 1.0)]
    weight_lr_factor: f32,
    /// Clip each group's gradients to this global norm (0: no clipping).
    #[arg(long, default_value_t = 5.0, value_parser = non_negative)]
    max_grad_norm: f32,
    /// L2 weight decay on conv and FC kernels.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative)]
    weight_decay: f32,
    /// Logit scale s of the weight module's softmax.
    #[arg(long, default_value_t = 1.0)]
    logit_scale: f32,
    /// Leave out the ReLU the reference puts after FC_2 and FC_3.
    #[arg(long)]
    no_fc_relu: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu", value_parser = library_value::<Device>)]
    device: Device,
    /// Threads decoding and augmenting images ahead of the step.
    #[arg(long, visible_alias = "num-workers", default_value_t = 2)]
    workers: usize,
    /// What to do with an unreadable image: `stop` (naming it) or `skip` (counted and reported).
    #[arg(long, value_enum, default_value_t)]
    on_bad_image: OnBadImage,
}

/// Which protocol of the dataset, and how its files are read.
#[derive(Args)]
struct ProtocolArgs {
    /// CaVI: `clean` (default; train on every image outside testing_1) or `reference` (the
    /// paper's code's split, labelled as such). WebCaricature: `restricted` (default),
    /// `unrestricted`, `c2p` or `p2c`.
    #[arg(long)]
    protocol: Option<String>,
    /// WebCaricature: `view2` (default; the ten folds results are reported on) or `view1`
    /// (development).
    #[arg(long, value_enum)]
    view: Option<View>,
    /// A WebCaricature protocol line that is malformed or names an absent person or image:
    /// `stop` (default; naming file and line) or `skip` (left out, counted and listed).
    #[arg(long, value_enum)]
    on_bad_line: Option<OnBadLine>,
    /// A folder's modalities: `file-name` (default; stems like C00001 or name_c_1 are
    /// caricatures), `subfolders` (<identity>/photo/, <identity>/caricature/) or `all-photos`.
    #[arg(long, value_enum)]
    modality_rule: Option<ModalityRule>,
}

impl ProtocolArgs {
    /// The settings typed; `fold`: the WebCaricature fold a training run uses (evaluation
    /// reports every fold). What is not typed keeps the source's own setting.
    fn options(&self, synth: SynthConfig, fold: Option<usize>) -> SourceOptions {
        SourceOptions {
            synth,
            protocol: self.protocol.clone(),
            view: self.view,
            fold,
            on_bad_line: self.on_bad_line,
            modality_rule: self.modality_rule,
        }
    }
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Train until this many steps are done (a resumed run counts its earlier steps).
    #[arg(long, visible_alias = "iterations", default_value_t = 200)]
    steps: u64,
    /// Folder for the checkpoint (`checkpoint.safetensors`) and the log (`train.jsonl`).
    #[arg(long, visible_alias = "output", default_value = "runs/train")]
    out: PathBuf,
    /// Steps between checkpoints (0: only at the end).
    #[arg(long, default_value_t = 100)]
    checkpoint_every: u64,
    /// Continue bit for bit from this checkpoint (its configuration wins over the flags).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Start from the weights of this checkpoint or safetensors file (see --warm-start-include).
    #[arg(long)]
    warm_start: Option<PathBuf>,
    /// Name patterns (`*` wildcards) of the tensors to warm-start, comma-separated.
    #[arg(long, default_value = "*", value_delimiter = ',')]
    warm_start_include: Vec<String>,
    /// Skip warm-start tensors whose shape differs (reported) instead of stopping.
    #[arg(long)]
    warm_start_skip_mismatch: bool,
    /// Initialise branches 2 and 3 from branch 1 (after warm start), as the paper does.
    #[arg(long)]
    init_branches_from_verification: bool,
    /// On a CUDA device, record each step as a graph and replay it in one launch (the
    /// same results, bit for bit).
    #[arg(long)]
    step_graphs: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// The dataset layouts `cari synth` writes.
#[derive(Clone, Copy, ValueEnum)]
enum Layout {
    Cavi,
    /// Needs at least 20 identities.
    Webcaricature,
}

#[derive(Args)]
struct SynthArgs {
    /// Output folder (must be empty or absent).
    #[arg(long, visible_alias = "output")]
    out: PathBuf,
    #[arg(long, default_value_t = 20)]
    identities: usize,
    #[arg(long = "photos", default_value_t = 12)]
    photos_per_identity: usize,
    #[arg(long = "caricatures", default_value_t = 12)]
    caricatures_per_identity: usize,
    /// Image width and height in pixels.
    #[arg(long, default_value_t = 160)]
    size: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = Layout::Cavi)]
    layout: Layout,
}

#[derive(Args)]
struct PlotArgs {
    /// Training logs (JSONL); several are drawn side by side.
    #[arg(required = true)]
    logs: Vec<PathBuf>,
    /// Output path without extension (writes .svg and .png; default beside the first log).
    #[arg(long, visible_alias = "output")]
    out: Option<PathBuf>,
    /// Column titles, one per log (default: the file names).
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Moving-average window in steps (1: raw; default about 2% of the steps).
    #[arg(long)]
    smooth: Option<usize>,
    /// Image width in pixels (default: 800 per log).
    #[arg(long)]
    width: Option<u32>,
    /// Image height in pixels.
    #[arg(long, default_value_t = cari::plot::DEFAULT_HEIGHT)]
    height: u32,
}

#[derive(Args)]
struct ExperimentArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Steps per model.
    #[arg(long, visible_alias = "iterations", default_value_t = 1000)]
    steps: u64,
    /// Output folder for the logs, table1.md/json and figure3.svg/png.
    #[arg(long, visible_alias = "output", default_value = "runs/experiment")]
    out: PathBuf,
    /// Strategies to train, comma-separated (default: the rows of the paper's Table I).
    #[arg(long, value_delimiter = ',', value_parser = library_value::<Weighting>)]
    strategies: Vec<Weighting>,
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Timed steps (and inference passes), after the warm-up.
    #[arg(long, visible_alias = "iterations", default_value_t = 5)]
    steps: u64,
    /// Untimed runs first (the first step allocates the optimizer's state).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Print what the device did per step and per inference pass (`--device cuda-emu:count`
    /// counts a full-size step without running its kernels).
    #[arg(long)]
    profile: bool,
}

/// A flag's value parsed by the library; on error, the library's reason (clap names the
/// flag and the value).
fn library_value<T: FromStr<Err = Error>>(text: &str) -> std::result::Result<T, String> {
    text.parse().map_err(|e| match e {
        Error::InvalidArgument { reason, .. } => reason,
        other => other.to_string(),
    })
}

fn non_negative(text: &str) -> std::result::Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if v >= 0.0 => Ok(v),
        Ok(_) => Err("must be non-negative".into()),
        Err(e) => Err(e.to_string()),
    }
}

impl ModelArgs {
    /// A new run of the data, network and training these flags describe.
    fn fresh_run(&self, warm_start: Option<WarmStart>, init_branches_from_verification: bool) -> Result<FreshRun> {
        Ok(FreshRun {
            data: self.data_config()?,
            network: self.network_config(),
            training: self.train_config()?,
            warm_start,
            init_branches_from_verification,
        })
    }

    fn image_size(&self) -> usize {
        self.image_size.unwrap_or(if self.dataset == "synth" { 96 } else { 160 })
    }

    fn data_config(&self) -> Result<DataConfig> {
        let mut preprocess = Preprocess::new(self.image_size())?;
        if let Some(m) = self.crop_margin {
            preprocess.crop_margin = m;
        }
        let synth = SynthConfig {
            seed: self.seed,
            identities: self.identities,
            photos_per_identity: self.photos_per_identity,
            caricatures_per_identity: self.caricatures_per_identity,
            // Rendered at the size training resizes to, so nothing is lost to scaling.
            size: preprocess.resized_size(),
        };
        let source = DataSource::parse(&self.dataset, &self.protocol.options(synth, self.fold))?;
        Ok(DataConfig { source, preprocess, batch_size: self.batch_size, seed: self.seed })
    }

    /// The network (its classes are the training data's identities, which the session sets).
    fn network_config(&self) -> NetworkConfig {
        NetworkConfig {
            image_size: self.image_size(),
            width_divisor: self.width_divisor,
            logit_scale: self.logit_scale,
            fc_relu: !self.no_fc_relu,
            ..NetworkConfig::default()
        }
    }

    fn train_config(&self) -> Result<TrainConfig> {
        let schedule = match &self.lr_schedule {
            Some(path) => LrSchedule::read(path)?,
            None => LrSchedule::constant(self.lr)?,
        };
        let optimizer = OptimizerConfig {
            rule: self.optimizer,
            max_grad_norm: (self.max_grad_norm > 0.0).then_some(self.max_grad_norm),
            weight_decay: self.weight_decay,
        };
        let mut config = TrainConfig::reference(schedule, self.seed);
        config.objective.weighting = self.strategy;
        config.objective.reference_gradient_path = self.reference_gradient_path;
        config.network_optimizer = optimizer;
        config.weight_optimizer = OptimizerConfig { weight_decay: 0.0, ..optimizer };
        config.weight_lr_factor = self.weight_lr_factor;
        config.epoch_size = self.epoch_size;
        Ok(config)
    }

    fn loader_options(&self) -> LoaderOptions {
        LoaderOptions { workers: self.workers.max(1), on_bad_image: self.on_bad_image, ..LoaderOptions::default() }
    }
}

/// The subcommand that was run and the flags typed for it.
struct Flags<'a> {
    command: &'a clap::Command,
    /// Argument ids typed on the command line (not defaulted).
    given: Vec<String>,
}

impl Flags<'_> {
    fn new<'a>(command: &'a clap::Command, matches: &ArgMatches) -> Flags<'a> {
        let given = matches
            .ids()
            .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
            .map(|id| id.as_str().to_string())
            .collect();
        Flags { command, given }
    }

    fn given(&self) -> Vec<&str> {
        self.given.iter().map(String::as_str).collect()
    }

    /// `--flag` of the argument with id `setting`, if the subcommand has one.
    fn flag(&self, setting: &str) -> Option<String> {
        let arg = self.command.get_arguments().find(|a| a.get_id().as_str() == setting)?;
        arg.get_long().map(|long| format!("--{long}"))
    }

    /// `error` with the setting it names shown as the flag that sets it.
    fn name_flag(&self, error: Error) -> Error {
        match error {
            Error::InvalidArgument { what, reason } => match self.flag(&what) {
                Some(flag) => Error::InvalidArgument { what: flag, reason },
                None => Error::InvalidArgument { what, reason },
            },
            other => other,
        }
    }
}

fn info(args: &NetArgs) -> Result<()> {
    let config = NetworkConfig {
        image_size: args.image_size,
        num_classes: args.identities,
        width_divisor: args.width_divisor,
        ..NetworkConfig::default()
    };
    let net = MultiTaskNet::new(config)?;
    let rows = net.layer_table()?;
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(10);
    println!("{:<width$}  {:>16}  {:>12}", "layer", "output", "parameters");
    for r in &rows {
        println!("{:<width$}  {:>16}  {:>12}", r.name, r.output.to_string(), group_digits(r.params));
    }
    let (trunk, branches, wm) = net.parameter_counts();
    println!();
    println!("trunk                 {:>12}", group_digits(trunk));
    for (i, b) in branches.iter().enumerate() {
        println!("branch {} (with FC)    {:>12}", i + 1, group_digits(*b));
    }
    println!("weight module         {:>12}", group_digits(wm));
    println!("total trainable       {:>12}", group_digits(trunk + branches.iter().sum::<usize>() + wm));
    Ok(())
}

fn group_digits(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn train(args: &TrainArgs, flags: &Flags) -> Result<()> {
    let device = &args.model.device;
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    let checkpoint_path = args.out.join("checkpoint.safetensors");
    let log_path = args.out.join("train.jsonl");
    let loader = args.model.loader_options();
    let mut session = match &args.resume {
        Some(path) => Session::resume(path, device, loader, args.model.lr_schedule.as_deref())?,
        None => {
            let warm_start = args.warm_start.as_ref().map(|path| WarmStart {
                path: path.clone(),
                include: args.warm_start_include.clone(),
                on_mismatch: if args.warm_start_skip_mismatch { OnShapeMismatch::Skip } else { OnShapeMismatch::Fail },
            });
            Session::start(args.model.fresh_run(warm_start, args.init_branches_from_verification)?, device, loader)?
        }
    };
    session.log_to(&log_path)?;
    if args.step_graphs {
        if !device.backend().records_graphs() {
            let msg = format!("--step-graphs needs a CUDA device; {device} records no graphs");
            return Err(Error::invalid("--step-graphs", msg));
        }
        session.trainer.replay_steps(true);
    }
    match &session.origin {
        Origin::Fresh { warm_start, branch_copies } => {
            if let Some((path, report)) = warm_start {
                println!("warm start from {}: {report}", path.display());
            }
            for copy in branch_copies {
                println!("{copy}");
            }
        }
        Origin::Resumed { checkpoint, step, schedule } => {
            if let Some(path) = schedule {
                println!("learning-rate schedule from {} replaces the checkpoint's", path.display());
            }
            let ignored: Vec<String> =
                overridden_on_resume(&flags.given()).into_iter().filter_map(|id| flags.flag(id)).collect();
            if !ignored.is_empty() {
                eprintln!(
                    "warning: {} ignored: a resumed run keeps its checkpoint's configuration (start a new run with \
                     --warm-start to change it)",
                    ignored.join(", ")
                );
            }
            println!("resuming {} at step {step}", checkpoint.display());
        }
    }
    println!("training to step {} on {session}", args.steps);
    let run_options = RunOptions {
        steps: args.steps,
        checkpoint: Some(checkpoint_path.clone()),
        checkpoint_every: args.checkpoint_every,
        progress: !args.quiet,
    };
    let summary = session.run(&run_options)?;
    if let Some(last) = &summary.last {
        println!(
            "done: {} steps in {:.1} s ({:.1} img/s); last step L {:?} w {:.3?}",
            summary.steps,
            summary.seconds,
            summary.images as f64 / summary.seconds.max(1e-9),
            last.losses,
            last.weights
        );
    }
    let skipped = session.opened.loader.skipped();
    if skipped.dropped > 0 {
        println!("skipped {} unreadable samples:", skipped.dropped);
        for image in &skipped.images {
            let path = image.path.as_ref().map_or(format!("sample {}", image.index), |p| p.display().to_string());
            println!("  {path}: {}", image.reason);
        }
    }
    println!(
        "checkpoint: {}\nlog: {}  (plot it with `cari plot {}`)",
        checkpoint_path.display(),
        log_path.display(),
        log_path.display()
    );
    Ok(())
}

fn synth(args: &SynthArgs) -> Result<()> {
    let faces = SynthFaces::new(SynthConfig {
        seed: args.seed,
        identities: args.identities,
        photos_per_identity: args.photos_per_identity,
        caricatures_per_identity: args.caricatures_per_identity,
        size: args.size,
    })?;
    match args.layout {
        Layout::Cavi => {
            let s = export_cavi(&faces, &args.out)?;
            println!(
                "wrote {} identities, {} photos, {} caricatures, {} test and {} validation pairs to {}",
                s.identities,
                s.photos,
                s.caricatures,
                s.test_pairs,
                s.validation_pairs,
                s.root.display()
            );
        }
        Layout::Webcaricature => {
            let s = export_webcaricature(&faces, &args.out)?;
            println!(
                "wrote {} identities, {} photos, {} caricatures to {}; View 2 over 10 folds: {} restricted and {} \
                 unrestricted pairs, {} C2P and {} P2C probes",
                s.identities,
                s.photos,
                s.caricatures,
                s.root.display(),
                s.restricted_pairs,
                s.unrestricted_pairs,
                s.c2p_probes,
                s.p2c_probes
            );
        }
    }
    Ok(())
}

fn plot(args: &PlotArgs) -> Result<()> {
    let width = args.width.unwrap_or(cari::plot::DEFAULT_COLUMN_WIDTH * args.logs.len() as u32);
    let options = PlotOptions { smooth: args.smooth, size: Some((width, args.height)) };
    let report = plot_log_files(&args.logs, &args.labels, args.out.as_deref(), &options)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for f in &report.files {
        println!("{}", f.display());
    }
    Ok(())
}

fn experiment(args: &ExperimentArgs) -> Result<()> {
    let strategies =
        if args.strategies.is_empty() { Experiment::table_one_strategies() } else { args.strategies.clone() };
    let exp = Experiment {
        data: args.model.data_config()?,
        network: args.model.network_config(),
        training: args.model.train_config()?,
        steps: args.steps,
        strategies,
        loader: args.model.loader_options(),
        eval_batch: 32,
    };
    let rows = run_experiment(&exp, &args.out, &args.model.device, !args.quiet)?;
    println!("{}", table_markdown(&rows));
    println!("written to {}", args.out.display());
    Ok(())
}

fn eval(args: &EvalArgs) -> Result<()> {
    let models = args.models.iter().map(|m| args.run.open(m)).collect::<Result<Vec<_>>>()?;
    let first = &models[0];
    let options = args.protocol.options(SynthConfig::default(), None);
    let source = first.data.source.evaluated_on(args.dataset.as_deref(), options)?;
    let (dataset, mut plan) = EvalPlan::open(&source)?;
    plan.check_models(models.len())?;
    if args.calibrate && models.len() > 1 {
        return Err(Error::invalid("--calibrate", "fits the thresholds of one model: give one --model"));
    }
    let unclassified = plan.classify_with(first.net.config.num_classes, dataset.as_ref());
    let options = LoaderOptions { on_bad_image: args.on_bad_image, ..args.run.loader() };
    println!("evaluating on {}: {} images", dataset.describe(), plan.images().len());
    let val = if args.reference_val { ValProtocol::ReferenceTrainingFolds } else { ValProtocol::TestFold };
    let on_fold = |k: usize| println!("fold {}: {}", k + 1, args.models[k].display());
    let (outputs, mut report) =
        evaluate_models(&models, dataset.clone(), &plan, (args.run.batch_size, options), val, on_fold)?;
    report.notes.extend(unclassified);
    print!("{}", report.summary());
    let table = report.fold_table();
    if !table.is_empty() {
        print!("\n{table}");
    }
    if let Some(stem) = &args.plot {
        for f in plot_report(&report, stem)? {
            println!("plot: {}", f.display());
        }
    }
    if args.calibrate {
        let model = &args.models[0];
        let fitted = calibrate(&plan, dataset.as_ref(), &outputs[0], &VAL_FAR_TARGETS)?;
        calibration::store(model, &fitted)?;
        for c in &fitted {
            println!("calibrated {c}");
        }
        println!("stored in {}", model.display());
    }
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report).expect("the report encodes as JSON");
        std::fs::write(path, json).map_err(|e| Error::io(path, e))?;
        println!("report: {}", path.display());
    }
    Ok(())
}

fn embed(args: &EmbedArgs) -> Result<()> {
    let model = args.run.open(&args.model)?;
    let mut embeddings = model.embed_files(&args.inputs, args.run.batch_size, args.run.loader())?;
    if args.append && args.out.exists() {
        let mut gallery = Embeddings::load(&args.out)?;
        gallery.extend(embeddings)?;
        embeddings = gallery;
    }
    embeddings.save(&args.out)?;
    println!(
        "{} embeddings of {} values ({} labels) in {}",
        embeddings.len(),
        embeddings.dim,
        {
            let mut l = embeddings.labels.clone();
            l.sort();
            l.dedup();
            l.len()
        },
        args.out.display()
    );
    Ok(())
}

fn verify_pair(args: &VerifyArgs) -> Result<()> {
    let model = args.run.open(&args.model)?;
    let e = model.embed_files(&[args.a.clone(), args.b.clone()], 2, args.run.loader())?;
    let threshold = match args.threshold {
        Some(value) => Threshold { value, source: "--threshold".into() },
        None => model.threshold(args.domain, args.far),
    };
    let v = verify(e.row(0), e.row(1), threshold);
    print!("{}", verdict_text(&v, &args.a.display().to_string(), &args.b.display().to_string(), args.format));
    Ok(())
}

fn identify_probes(args: &IdentifyArgs) -> Result<()> {
    let model = args.run.open(&args.model)?;
    let gallery = model.gallery(&args.gallery)?;
    let probes = model.embed_files(&args.probes, args.run.batch_size, args.run.loader())?;
    let mut out = std::io::stdout().lock();
    for (i, matches) in identify(&gallery, &probes.values, args.top)?.iter().enumerate() {
        // A closed pipe (`| head`) means the reader has what it wants.
        if writeln!(out, "{}", matches_row(&probes.paths[i], matches)).is_err() {
            break;
        }
    }
    Ok(())
}

fn bench(args: &BenchArgs) -> Result<()> {
    let device = &args.model.device;
    let mut session = Session::start(args.model.fresh_run(None, false)?, device, args.model.loader_options())?;
    let batch = session.opened.loader.next_batch()?.to_batch(device)?;
    println!("{session}, {} trainable parameters", group_digits(session.trainer.params.trainable_count()));
    let trainer = &mut session.trainer;
    let step = measure(device, args.warmup, args.steps, batch.len(), || trainer.step(&batch).map(drop))?;
    let mut runs = vec![("training step", step)];
    // Where the device records graphs: each step recorded and replayed as one graph, and
    // the inference pass captured once and replayed.
    let graphs = device.backend().records_graphs();
    if graphs {
        trainer.replay_steps(true);
        let replayed = measure(device, args.warmup, args.steps, batch.len(), || trainer.step(&batch).map(drop))?;
        trainer.replay_steps(false);
        runs.push(("training step, replayed as a graph", replayed));
    }
    let (net, params) = (&trainer.net, &trainer.params);
    let embed = measure(device, args.warmup, args.steps, batch.len(), || net.embed(params, &batch.images).map(drop))?;
    runs.push(("inference pass", embed));
    if graphs {
        let mut graph = EmbeddingGraph::capture(net, params, batch.images.shape().clone(), device)?;
        let replayed = measure(device, args.warmup, args.steps, batch.len(), || graph.embed(&batch.images).map(drop))?;
        runs.push(("inference pass, replayed as a graph", replayed));
    }
    // The dry run's time is the host's alone: what a step costs before any kernel runs.
    let whose = if device.name().ends_with(":count") { " of host time, kernels not run" } else { "" };
    for (what, m) in &runs {
        println!("{what}: {:.1} ms{whose} ({:.1} img/s, {} runs)", m.ms_per_run(), m.images_per_second(), m.runs);
    }
    if args.profile {
        for (what, m) in &runs {
            match &m.profile {
                Some(p) => println!("\n## per {what} on {device}\n\n{}", p.table(m.runs)),
                None => println!("\n{device} counts nothing to profile (the CUDA devices do)"),
            }
        }
    }
    Ok(())
}

fn main() {
    let command = Cli::command();
    let matches = command.clone().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let (name, sub_matches) = matches.subcommand().expect("clap requires a subcommand");
    let flags = Flags::new(command.find_subcommand(name).expect("the parsed subcommand"), sub_matches);
    let result = match &cli.command {
        Command::Info(a) => info(a),
        Command::Train(a) => train(a, &flags),
        Command::Synth(a) => synth(a),
        Command::Plot(a) => plot(a),
        Command::Experiment(a) => experiment(a),
        Command::Eval(a) => eval(a),
        Command::Embed(a) => embed(a),
        Command::Verify(a) => verify_pair(a),
        Command::Identify(a) => identify_probes(a),
        Command::Bench(a) => bench(a),
    };
    if let Err(e) = result {
        eprintln!("error: {}", flags.name_flag(e));
        std::process::exit(1);
    }
}
