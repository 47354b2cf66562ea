//! The training log: records survive a round trip, a resumed run continues the log from its
//! checkpoint, a torn last line is skipped and reported, and errors name the file and line.

use cari::train::{read_training_log, StepRecord, TrainingLog};
use std::fs;
use std::path::PathBuf;

/// A fresh, empty folder for one test.
fn folder(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("training_log").join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn record(step: u64) -> StepRecord {
    let s = step as f32;
    StepRecord {
        step,
        epoch: step / 4 + 1,
        losses: [Some(2.5 / s), if step % 3 == 0 { None } else { Some(1.0 + 0.1 * s) }, Some(0.1 * s)],
        weights: [0.2, 0.3 + 0.001 * s, 0.5 - 0.001 * s],
        accuracies: [Some(0.5), if step % 3 == 0 { None } else { Some(0.25) }, None],
        loss: 3.0 / s,
        weight_loss: if step % 2 == 0 { Some(0.7) } else { None },
        lr: 0.01,
        images_per_second: 123.5,
        elapsed: 0.1 * step as f64,
    }
}

fn write_log(path: &PathBuf, steps: std::ops::RangeInclusive<u64>) -> Vec<StepRecord> {
    let mut log = TrainingLog::create(path).unwrap();
    let records: Vec<StepRecord> = steps.map(record).collect();
    for r in &records {
        log.append(r).unwrap();
    }
    records
}

#[test]
fn records_round_trip_with_missing_values() {
    let path = folder("round_trip").join("log.jsonl");
    let written = write_log(&path, 1..=7);
    let read = read_training_log(&path).unwrap();
    assert_eq!(read.records, written);
    assert_eq!(read.torn_line, None);
    assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 7);
}

#[test]
fn an_appended_record_is_on_disk_before_the_log_is_closed() {
    let path = folder("unbuffered").join("log.jsonl");
    let mut log = TrainingLog::create(&path).unwrap();
    log.append(&record(1)).unwrap();
    // Still open: a run killed now must have left this step in the file.
    assert_eq!(read_training_log(&path).unwrap().records, vec![record(1)]);
    log.append(&record(2)).unwrap();
    assert_eq!(read_training_log(&path).unwrap().records, vec![record(1), record(2)]);
}

#[test]
fn create_truncates_an_existing_log() {
    let path = folder("truncate").join("log.jsonl");
    write_log(&path, 1..=5);
    let written = write_log(&path, 1..=2);
    assert_eq!(read_training_log(&path).unwrap().records, written);
}

#[test]
fn resume_keeps_the_steps_up_to_the_checkpoint_and_appends_after_them() {
    let dir = folder("resume");
    let path = dir.join("log.jsonl");
    let written = write_log(&path, 1..=10);

    let mut log = TrainingLog::resume(&path, 6).unwrap();
    let mut redone = record(7);
    redone.loss = 42.0;
    log.append(&redone).unwrap();

    let mut expected = written[..6].to_vec();
    expected.push(redone);
    assert_eq!(read_training_log(&path).unwrap().records, expected);
    let left: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec!["log.jsonl"], "the temporary file is renamed over the log");
}

#[test]
fn resume_past_the_last_step_keeps_everything() {
    let path = folder("resume_all").join("log.jsonl");
    let written = write_log(&path, 1..=4);
    drop(TrainingLog::resume(&path, 100).unwrap());
    assert_eq!(read_training_log(&path).unwrap().records, written);
}

#[test]
fn a_torn_last_line_is_skipped_and_reported_then_dropped_by_resume() {
    let path = folder("torn").join("log.jsonl");
    let written = write_log(&path, 1..=3);
    let full = serde_json::to_string(&record(4)).unwrap();
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str(&full[..full.len() / 2]);
    fs::write(&path, text).unwrap();

    let read = read_training_log(&path).unwrap();
    assert_eq!(read.records, written);
    assert_eq!(read.torn_line, Some(4));

    let mut log = TrainingLog::resume(&path, 3).unwrap();
    log.append(&record(4)).unwrap();
    let read = read_training_log(&path).unwrap();
    assert_eq!(read.records, (1..=4).map(record).collect::<Vec<_>>());
    assert_eq!(read.torn_line, None);
}

#[test]
fn a_malformed_line_is_named_with_its_number() {
    let path = folder("malformed").join("log.jsonl");
    write_log(&path, 1..=3);
    let mut lines: Vec<String> = fs::read_to_string(&path).unwrap().lines().map(String::from).collect();
    lines[1] = r#"{"step": 2, "epoch": "one"}"#.to_string();
    fs::write(&path, lines.join("\n") + "\n").unwrap();

    for error in [read_training_log(&path).unwrap_err(), TrainingLog::resume(&path, 3).err().unwrap()] {
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("line 2:"), "{message}");
    }
}

#[test]
fn a_complete_but_malformed_last_line_is_an_error_not_a_torn_line() {
    let path = folder("malformed_last").join("log.jsonl");
    write_log(&path, 1..=2);
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str("{\"step\": 3\n");
    fs::write(&path, text).unwrap();
    let message = read_training_log(&path).unwrap_err().to_string();
    assert!(message.contains("line 3:"), "{message}");
}

#[test]
fn blank_lines_are_ignored() {
    let path = folder("blank").join("log.jsonl");
    let written = write_log(&path, 1..=2);
    let text = fs::read_to_string(&path).unwrap().replace('\n', "\n\n");
    fs::write(&path, text).unwrap();
    assert_eq!(read_training_log(&path).unwrap().records, written);
}

#[test]
fn a_missing_file_is_named() {
    let path = folder("missing").join("no-such-log.jsonl");
    for error in [read_training_log(&path).unwrap_err(), TrainingLog::resume(&path, 1).err().unwrap()] {
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
    }
    let in_missing_folder = path.with_file_name("absent").join("log.jsonl");
    let message = TrainingLog::create(&in_missing_folder).err().unwrap().to_string();
    assert!(message.contains(&in_missing_folder.display().to_string()), "{message}");
}
