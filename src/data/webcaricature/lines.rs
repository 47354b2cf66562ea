//! Reading WebCaricature's protocol files: non-blank lines with their 1-based numbers (LF
//! or CRLF, a UTF-8 byte-order mark tolerated), TAB-separated fields, and the choice
//! between stopping at a bad entry and skipping it with a record.

use crate::choice::parse_choice;
use crate::error::{Error, Result};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What to do with a protocol line that is malformed or names an absent person or image.
/// Lines that carry the file's structure (the count lines of blocks) always stop: without
/// them the rest of the file cannot be read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OnBadLine {
    /// Fail with an error naming the file and line.
    #[default]
    Stop,
    /// Leave the entry out and record it in the protocol's `skipped` list.
    Skip,
}

impl FromStr for OnBadLine {
    type Err = Error;

    fn from_str(s: &str) -> Result<OnBadLine> {
        parse_choice("on_bad_line", s)
    }
}

/// A protocol entry left out under [`OnBadLine::Skip`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedLine {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for SkippedLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: line {}: {}", self.file.display(), self.line, self.reason)
    }
}

/// One non-blank line: its 1-based number and its text without surrounding whitespace.
#[derive(Clone, Debug)]
pub(super) struct Line {
    pub number: usize,
    pub text: String,
}

impl Line {
    /// The TAB-separated fields, each trimmed.
    pub fn fields(&self) -> Vec<&str> {
        self.text.split('\t').map(str::trim).collect()
    }

    /// The value when the line is one non-negative integer.
    pub fn integer(&self) -> Option<usize> {
        parse_count(&self.text)
    }
}

/// A protocol file, read whole, consumed line by line.
pub(super) struct ProtocolFile {
    path: PathBuf,
    lines: Vec<Line>,
    next: usize,
    last_line: usize,
}

impl ProtocolFile {
    pub fn read(path: &Path) -> Result<ProtocolFile> {
        let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count();
            Error::format(path, format!("line {line}: not UTF-8 text"))
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut last_line = 0;
        let mut lines = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            last_line = i + 1;
            let trimmed = raw.trim();
            if !trimmed.is_empty() {
                lines.push(Line { number: i + 1, text: trimmed.to_string() });
            }
        }
        Ok(ProtocolFile { path: path.to_path_buf(), lines, next: 0, last_line })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn next_line(&mut self) -> Option<Line> {
        let line = self.lines.get(self.next).cloned();
        self.next += usize::from(line.is_some());
        line
    }

    /// The line `ahead` lines past the next one, without consuming anything.
    pub fn peek(&self, ahead: usize) -> Option<&Line> {
        self.lines.get(self.next + ahead)
    }

    /// The next line, or an error saying the file ended where `expected` should be.
    pub fn expect_line(&mut self, expected: &str) -> Result<Line> {
        self.next_line().ok_or_else(|| {
            Error::format(
                &self.path,
                format!("after line {}: the file ends where {expected} should be", self.last_line),
            )
        })
    }

    /// The next line as a count (`what` says what is counted), or an error.
    pub fn expect_count(&mut self, what: &str) -> Result<usize> {
        let line = self.expect_line(&format!("the number of {what}"))?;
        line.integer().ok_or_else(|| self.error(&line, format!("expected the number of {what}, found `{}`", line.text)))
    }

    /// An error at `line`.
    pub fn error(&self, line: &Line, msg: impl fmt::Display) -> Error {
        Error::format(&self.path, format!("line {}: {msg}", line.number))
    }

    /// An error if lines are left over after the file's content.
    pub fn expect_end(&mut self, after: &str) -> Result<()> {
        match self.next_line() {
            None => Ok(()),
            Some(line) => Err(self.error(&line, format!("unexpected line after {after}: `{}`", line.text))),
        }
    }
}

/// Collects the entries skipped under [`OnBadLine::Skip`].
pub(super) struct BadLines {
    policy: OnBadLine,
    pub skipped: Vec<SkippedLine>,
}

impl BadLines {
    pub fn new(policy: OnBadLine) -> BadLines {
        BadLines { policy, skipped: Vec::new() }
    }

    /// `Some(value)` for a good entry; for a bad one the error naming file and line
    /// ([`OnBadLine::Stop`]) or a record and `None` ([`OnBadLine::Skip`]).
    pub fn check<T>(
        &mut self,
        file: &ProtocolFile,
        line: &Line,
        entry: std::result::Result<T, String>,
    ) -> Result<Option<T>> {
        match (entry, self.policy) {
            (Ok(value), _) => Ok(Some(value)),
            (Err(reason), OnBadLine::Stop) => Err(file.error(line, reason)),
            (Err(reason), OnBadLine::Skip) => {
                self.skipped.push(SkippedLine { file: file.path().to_path_buf(), line: line.number, reason });
                Ok(None)
            }
        }
    }
}

/// A non-negative integer written in decimal digits only.
pub(super) fn parse_count(text: &str) -> Option<usize> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}
