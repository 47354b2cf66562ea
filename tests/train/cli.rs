//! The command line on a tiny configuration: train, resume, plot, and the errors for bad
//! flag values, a bad schedule line and a corrupt checkpoint.

use crate::common::{cari, TINY_NETWORK};
use std::path::{Path, PathBuf};
use std::process::Output;

/// Three synthetic people, four images of each modality, one loader thread.
const TINY_DATA: &[&str] = &["--identities", "3", "--synth-photos", "4", "--synth-caricatures", "4", "--workers", "1"];

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cari-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn train(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["train", "--out", out.to_str().unwrap()];
    args.extend_from_slice(TINY_DATA);
    args.extend_from_slice(TINY_NETWORK);
    args.extend_from_slice(extra);
    cari(&args)
}

#[test]
fn train_resume_and_plot() {
    let dir = scratch("train");
    let o = train(&dir, &["--steps", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let checkpoint = dir.join("checkpoint.safetensors");
    let o = train(&dir, &["--steps", "3", "--resume", checkpoint.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("resuming"), "{:?}", o);
    let log = std::fs::read_to_string(dir.join("train.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 3, "{log}");

    // A schedule given with --resume replaces the stored one from the next step on.
    let schedule = dir.join("lower.txt");
    std::fs::write(&schedule, "0: 0.003\n").unwrap();
    let resume =
        ["--steps", "4", "--resume", checkpoint.to_str().unwrap(), "--lr-schedule", schedule.to_str().unwrap()];
    let o = train(&dir, &resume);
    assert!(String::from_utf8_lossy(&o.stdout).contains("replaces the checkpoint's"), "{o:?}");
    // The tiny flags repeated on resume change nothing, and the warning names them.
    let warning = stderr(&o);
    assert!(
        warning.contains("warning: ") && warning.contains("--batch") && warning.contains("--identities"),
        "{warning}"
    );
    assert!(!warning.contains("--steps") && !warning.contains("--lr-schedule"), "{warning}");
    let rates: Vec<f64> = std::fs::read_to_string(dir.join("train.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["lr"].as_f64().unwrap())
        .collect();
    assert_eq!(rates.iter().map(|r| (r * 1e4).round() / 1e4).collect::<Vec<_>>(), [0.01, 0.01, 0.01, 0.003]);

    let o = cari(&["plot", dir.join("train.jsonl").to_str().unwrap(), "--out", dir.join("fig").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("fig.png").is_file() && dir.join("fig.svg").is_file());

    // One flipped byte in the last tensor's data: refused, naming a tensor.
    let mut bytes = std::fs::read(&checkpoint).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x40;
    std::fs::write(&checkpoint, bytes).unwrap();
    let o = train(&dir, &["--steps", "4", "--resume", checkpoint.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("checkpoint.safetensors") && err.contains("tensor `"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_flag_values_and_schedule_lines_are_named() {
    let dir = scratch("flags");
    for (flag, value) in
        [("--strategy", "sideways"), ("--optimizer", "lion"), ("--on-bad-image", "ignore"), ("--dataset", "imagenet")]
    {
        let o = train(&dir, &[flag, value, "--steps", "1"]);
        assert!(!o.status.success(), "{flag} {value} was accepted");
        let err = stderr(&o);
        assert!(err.contains(flag) && err.contains(value), "{flag}: {err}");
    }
    let schedule = dir.join("schedule.txt");
    std::fs::write(&schedule, "0: 0.1\n20 0.01\n").unwrap();
    let o = train(&dir, &["--lr-schedule", schedule.to_str().unwrap(), "--steps", "1"]);
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("schedule.txt") && err.contains("line 2"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_times_a_step_and_profiles_it_on_a_counting_device() {
    let tiny =
        ["--image-size", "75", "--width-divisor", "16", "--batch", "6", "--identities", "4", "--synth-photos", "4"];
    let args =
        |device| [&["bench", "--device", device, "--steps", "1", "--warmup", "1", "--profile"], &tiny[..]].concat();
    let o = cari(&args("cuda-emu:count"));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("training step: ") && out.contains("of host time, kernels not run"), "{out}");
    for line in [
        "## per training step on cuda-emu:count",
        "## per training step, replayed as a graph",
        "## per inference pass",
        "## per inference pass, replayed as a graph",
        "launched by the host: 1.0; in 1.0 graph replays",
        "kernel launches: ",
        "| `conv2d_forward` |",
    ] {
        assert!(out.contains(line), "`{line}` missing:\n{out}");
    }
    let o = cari(&args("cpu"));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(o.status.success() && out.contains("cpu counts nothing to profile"), "{out}");
}

#[test]
fn training_with_step_graphs_writes_the_checkpoint_of_training_without() {
    let (plain, graphed) = (scratch("no-graphs"), scratch("step-graphs"));
    let emu = ["--device", "cuda-emu", "--steps", "3"];
    for (out, extra) in [(&plain, &emu[..]), (&graphed, &[&emu[..], &["--step-graphs"]].concat()[..])] {
        let o = train(out, extra);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let read = |dir: &Path| std::fs::read(dir.join("checkpoint.safetensors")).unwrap();
    assert!(read(&plain) == read(&graphed), "the checkpoints differ");
    let o = train(&scratch("step-graphs-cpu"), &["--step-graphs", "--steps", "1"]);
    assert!(!o.status.success() && stderr(&o).contains("--step-graphs needs a CUDA device"), "{}", stderr(&o));
    for dir in [plain, graphed] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}
