//! A training session driven from the library alone: started fresh, checkpointed, resumed
//! and continued, it ends bit for bit where an uninterrupted session does, with one log
//! record per step.

use crate::common::{tiny_synth_data, TINY_IMAGE};
use cari::data::LoaderOptions;
use cari::model::NetworkConfig;
use cari::optim::LrSchedule;
use cari::train::{
    overridden_on_resume, read_training_log, FreshRun, Origin, RunOptions, Session, TrainConfig, Trainer,
};
use cari::Device;
use std::path::{Path, PathBuf};

const IMAGE: usize = TINY_IMAGE;

fn fresh() -> FreshRun {
    // A schedule that changes within the run, so the resumed run must pick up the epoch.
    let mut training = TrainConfig::reference(LrSchedule::parse("0: 0.01\n2: 0.005\n").unwrap(), 7);
    training.epoch_size = 2;
    FreshRun {
        data: tiny_synth_data(4),
        // The session sets the classes to the data's 4 identities.
        network: NetworkConfig { image_size: IMAGE, width_divisor: 16, ..Default::default() },
        training,
        warm_start: None,
        init_branches_from_verification: false,
    }
}

fn loader() -> LoaderOptions {
    LoaderOptions { workers: 2, ..LoaderOptions::default() }
}

fn to_step(steps: u64, checkpoint: Option<&Path>) -> RunOptions {
    RunOptions { steps, checkpoint: checkpoint.map(Path::to_path_buf), checkpoint_every: 2, progress: false }
}

fn state_bits(t: &Trainer) -> Vec<(String, Vec<u32>)> {
    let mut s: Vec<(String, Vec<u32>)> = t
        .state_tensors()
        .into_iter()
        .map(|(n, v)| (n, v.to_vec().unwrap().iter().map(|x| x.to_bits()).collect()))
        .collect();
    s.sort_by(|a, b| a.0.cmp(&b.0));
    s
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_resumed_session_ends_where_an_uninterrupted_one_does() {
    const N: u64 = 3;
    let scratch = Scratch(std::env::temp_dir().join(format!("cari-session-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&scratch.0);
    std::fs::create_dir_all(&scratch.0).unwrap();
    let cpu = Device::cpu();

    let mut straight = Session::start(fresh(), &cpu, loader()).unwrap();
    assert_eq!(straight.trainer.net.config.num_classes, 4);
    straight.run(&to_step(2 * N, None)).unwrap();

    let checkpoint = scratch.0.join("checkpoint.safetensors");
    let log = scratch.0.join("train.jsonl");
    let mut first = Session::start(fresh(), &cpu, loader()).unwrap();
    assert!(matches!(&first.origin, Origin::Fresh { warm_start: None, branch_copies } if branch_copies.is_empty()));
    first.log_to(&log).unwrap();
    let summary = first.run(&to_step(N, Some(&checkpoint))).unwrap();
    assert_eq!((summary.steps, first.trainer.step), (N, N));
    drop(first);

    let mut resumed = Session::resume(&checkpoint, &cpu, loader(), None).unwrap();
    let Origin::Resumed { checkpoint: from, step, schedule: None } = &resumed.origin else {
        panic!("not reported as resumed")
    };
    assert_eq!((from, *step), (&checkpoint, N));
    assert_eq!(resumed.data, fresh().data);
    resumed.log_to(&log).unwrap();
    let summary = resumed.run(&to_step(2 * N, Some(&checkpoint))).unwrap();
    assert_eq!(summary.steps, N, "the resumed run counts only its own steps");

    let (a, b) = (state_bits(&straight.trainer), state_bits(&resumed.trainer));
    assert_eq!(a.len(), b.len(), "same tensors");
    assert!(a.iter().any(|(n, _)| n.starts_with("optimizer/network/mean_square/")), "optimizer state is compared");
    for ((na, va), (nb, vb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert!(va == vb, "`{na}` differs after resuming");
    }
    let records = read_training_log(&log).unwrap().records;
    assert_eq!(records.iter().map(|r| r.step).collect::<Vec<_>>(), (1..=2 * N).collect::<Vec<_>>());
}

#[test]
fn settings_a_resumed_run_ignores_are_reported_by_name() {
    let requested = ["steps", "batch_size", "device", "strategy", "lr_schedule", "identities"];
    assert_eq!(overridden_on_resume(&requested), ["batch_size", "strategy", "identities"]);
}
