//! The training log: one JSON line per step ([`StepRecord`]), appended as the run goes.
//!
//! Each record goes to the file in a single `write` with no buffer in between, so a run
//! that is killed leaves every finished step on disk; at worst the line being written is
//! torn (cut short, without its newline). [`read_training_log`] skips such a torn last line
//! and reports it in [`LogContents::torn_line`] instead of failing, so a killed run (or one
//! still writing) can be read and plotted; a malformed line anywhere else is an error that
//! names the file and the line.

use super::StepRecord;
use crate::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An open training log that records are appended to.
pub struct TrainingLog {
    path: PathBuf,
    file: File,
}

impl TrainingLog {
    /// Starts a new, empty log at `path` (an existing file is truncated).
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(TrainingLog { path, file })
    }

    /// Continues the log of a run resumed after `step`: keeps the records with
    /// `step <= step`, drops the later ones (steps the resumed run will redo) and a torn last
    /// line, then appends from there. The kept lines are copied byte for byte into a
    /// temporary file that replaces the log by a rename, so a crash during the rewrite leaves
    /// either the old log or the new one. The log must exist.
    pub fn resume(path: impl AsRef<Path>, step: u64) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let mut kept = String::with_capacity(text.len());
        for line in parse_lines(&path, &text)?.lines {
            if line.record.step <= step {
                kept.push_str(line.text);
                kept.push('\n');
            }
        }

        let temporary = temporary_path(&path);
        let write_temporary = || -> std::io::Result<()> {
            let mut file = File::create(&temporary)?;
            file.write_all(kept.as_bytes())?;
            file.sync_all()
        };
        write_temporary().map_err(|e| Error::io(&temporary, e))?;
        fs::rename(&temporary, &path).map_err(|e| Error::io(&path, e))?;

        let file = OpenOptions::new().append(true).open(&path).map_err(|e| Error::io(&path, e))?;
        Ok(TrainingLog { path, file })
    }

    /// Appends one record as one line. The line reaches the operating system before this
    /// returns (no user-space buffer), so it survives the process being killed.
    pub fn append(&mut self, record: &StepRecord) -> Result<()> {
        let mut line = serde_json::to_string(record)
            .map_err(|e| Error::format(&self.path, format!("step {}: cannot encode the record: {e}", record.step)))?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).map_err(|e| Error::io(&self.path, e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What [`read_training_log`] found in a log.
#[derive(Clone, Debug, PartialEq)]
pub struct LogContents {
    pub records: Vec<StepRecord>,
    /// 1-based number of a torn last line that was skipped: an incomplete record without
    /// its newline, left by a run killed (or still) writing it.
    pub torn_line: Option<usize>,
}

/// Reads every record of a training log (see the module docs for torn last lines). Blank
/// lines are ignored.
pub fn read_training_log(path: impl AsRef<Path>) -> Result<LogContents> {
    let path = path.as_ref();
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let parsed = parse_lines(path, &text)?;
    Ok(LogContents { records: parsed.lines.into_iter().map(|line| line.record).collect(), torn_line: parsed.torn_line })
}

struct ParsedLog<'a> {
    lines: Vec<ParsedLine<'a>>,
    torn_line: Option<usize>,
}

struct ParsedLine<'a> {
    text: &'a str,
    record: StepRecord,
}

/// Parses the records of a log's text, skipping blank lines and a torn last line.
fn parse_lines<'a>(path: &Path, text: &'a str) -> Result<ParsedLog<'a>> {
    let segments: Vec<&str> = text.split('\n').collect();
    let mut lines = Vec::with_capacity(segments.len());
    let mut torn_line = None;
    for (index, &segment) in segments.iter().enumerate() {
        if segment.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        match serde_json::from_str::<StepRecord>(segment) {
            Ok(record) => lines.push(ParsedLine { text: segment, record }),
            // The last segment has no newline after it; cut short mid-record, it is torn.
            Err(e) if e.is_eof() && index + 1 == segments.len() => torn_line = Some(number),
            Err(e) => return Err(Error::format(path, format!("line {number}: not a step record: {e}"))),
        }
    }
    Ok(ParsedLog { lines, torn_line })
}

/// `log.jsonl` → `log.jsonl.tmp`, beside it so the rename stays on one file system.
fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}
