//! The paper's Table I on any dataset (the built-in synthetic faces by default): the
//! dynamic multi-task model, the naive dynamic baseline and the single-task models trained
//! under one configuration, each evaluated on the protocol's test part, with the
//! Figure-3 plots of the two dynamic runs.

use crate::backend::Device;
use crate::batch::Task;
use crate::data::{DataConfig, LoaderOptions};
use crate::error::{Error, Result};
use crate::eval::{run_images, score, EvalPlan, EvalReport, ValProtocol};
use crate::infer::EvalLoading;
use crate::model::{NetworkConfig, Weighting};
use crate::plot::{plot_log_files, PlotOptions};
use crate::train::{FreshRun, RunOptions, Session, TrainConfig};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub struct Experiment {
    pub data: DataConfig,
    /// The network; its number of classes is set to the training data's identities.
    pub network: NetworkConfig,
    /// The training settings every run shares; each run sets its own weighting.
    pub training: TrainConfig,
    pub steps: u64,
    pub strategies: Vec<Weighting>,
    pub loader: LoaderOptions,
    pub eval_batch: usize,
}

impl Experiment {
    /// The rows of the paper's Table I: single-task models, naive dynamic, dynamic.
    pub fn table_one_strategies() -> Vec<Weighting> {
        let mut s: Vec<Weighting> = Task::ALL.into_iter().map(Weighting::Single).collect();
        s.extend([Weighting::Naive, Weighting::Dynamic]);
        s
    }
}

/// One trained model's results.
#[derive(Clone, Debug, Serialize)]
pub struct ExperimentRow {
    pub strategy: Weighting,
    pub report: EvalReport,
    pub train_seconds: f64,
    pub log: PathBuf,
}

/// Trains and evaluates every strategy, writing `<strategy>.jsonl` logs, `table1.md`,
/// `table1.json` and the Figure-3 plots (`figure3.svg`/`.png`) into `out`.
pub fn run_experiment(exp: &Experiment, out: &Path, device: &Device, progress: bool) -> Result<Vec<ExperimentRow>> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut rows = Vec::new();
    for &strategy in &exp.strategies {
        let mut training = exp.training.clone();
        training.objective.weighting = strategy;
        let fresh = FreshRun {
            data: exp.data.clone(),
            network: exp.network.clone(),
            training,
            warm_start: None,
            init_branches_from_verification: false,
        };
        let mut session = Session::start(fresh, device, exp.loader)?;
        let log_path = out.join(format!("{}.jsonl", file_name(strategy)));
        session.log_to(&log_path)?;
        if progress {
            eprintln!("training {strategy} ({} steps)", exp.steps);
        }
        let options = RunOptions { steps: exp.steps, checkpoint: None, checkpoint_every: 0, progress };
        let summary = session.run(&options)?;
        let loading = EvalLoading { preprocess: exp.data.preprocess, batch_size: exp.eval_batch, options: exp.loader };
        let (trainer, dataset) = (&session.trainer, &session.opened.dataset);
        let plan = EvalPlan::from_protocol(&session.opened.protocol, dataset.as_ref());
        let outputs = run_images(&trainer.net, &trainer.params, dataset.clone(), &plan, loading, device)?;
        let report = score(&plan, dataset.as_ref(), &[outputs], ValProtocol::TestFold)?;
        rows.push(ExperimentRow { strategy, report, train_seconds: summary.seconds, log: log_path });
    }
    let table = table_markdown(&rows);
    write(&out.join("table1.md"), &table)?;
    write(&out.join("table1.json"), &serde_json::to_string_pretty(&rows).expect("rows encode as JSON"))?;
    let dynamic_logs: Vec<&ExperimentRow> =
        rows.iter().filter(|r| matches!(r.strategy, Weighting::Dynamic | Weighting::Naive)).collect();
    if !dynamic_logs.is_empty() {
        let logs: Vec<PathBuf> = dynamic_logs.iter().map(|r| r.log.clone()).collect();
        let labels: Vec<String> = dynamic_logs.iter().map(|r| method_name(r.strategy)).collect();
        plot_log_files(&logs, &labels, Some(&out.join("figure3")), &PlotOptions::default())?;
    }
    Ok(rows)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// `single:photo-id` → `single-photo-id`.
fn file_name(strategy: Weighting) -> String {
    strategy.to_string().replace([':', ','], "-")
}

fn method_name(strategy: Weighting) -> String {
    match strategy {
        Weighting::Dynamic => "dynamic multi-task (paper)".into(),
        Weighting::Naive => "naive dynamic".into(),
        Weighting::Single(t) => format!("single task: {}", t.name()),
        other => other.to_string(),
    }
}

/// Table I: verification accuracy (10-fold, mean ± std), photo-id and caricature-id
/// accuracy, in %. A single-task model reports only the task it was trained for.
pub fn table_markdown(rows: &[ExperimentRow]) -> String {
    let mut out =
        String::from("| method | verification acc. (%) | photo-id (%) | caricature-id (%) | training time |\n");
    out.push_str("|---|---|---|---|---|\n");
    for r in rows {
        let shown = |task: Task| match r.strategy {
            Weighting::Single(t) => t == task,
            _ => true,
        };
        let cell = |task: Task| match (shown(task), r.report.figure(task), &r.report.verification) {
            (true, Some(_), Some(v)) if task == Task::Verification => {
                format!("{:.2} ± {:.2}", 100.0 * v.accuracy.mean, 100.0 * v.accuracy.std)
            }
            (true, Some(v), _) => format!("{:.2}", 100.0 * v),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.0} s |",
            method_name(r.strategy),
            cell(Task::Verification),
            cell(Task::PhotoId),
            cell(Task::CaricatureId),
            r.train_seconds
        );
    }
    out
}
