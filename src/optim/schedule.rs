//! Learning-rate schedules: a constant, or the reference's schedule file of `epoch: lr`
//! lines (`#` starts a comment), where the rate of an epoch is that of the last entry
//! whose epoch is at most it (epochs count from 1).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    /// `(first epoch, rate)`, sorted by epoch, the first at epoch ≤ 1.
    entries: Vec<(u64, f32)>,
}

impl LrSchedule {
    pub fn constant(lr: f32) -> Result<LrSchedule> {
        check_rate(lr).map_err(|reason| Error::invalid("lr", reason))?;
        Ok(LrSchedule { entries: vec![(0, lr)] })
    }

    pub fn read(path: &Path) -> Result<LrSchedule> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        LrSchedule::parse(&text).map_err(|(line, msg)| Error::format(path, format!("line {line}: {msg}")))
    }

    /// Parses a schedule file's text; an error carries the 1-based line number.
    pub fn parse(text: &str) -> std::result::Result<LrSchedule, (usize, String)> {
        let mut entries: Vec<(u64, f32)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |msg: String| (i + 1, msg);
            let (epoch, lr) = line.split_once(':').ok_or_else(|| err(format!("`{line}` is not `epoch: rate`")))?;
            let epoch: u64 =
                epoch.trim().parse().map_err(|_| err(format!("`{}` is not an epoch number", epoch.trim())))?;
            let lr: f32 = lr.trim().parse().map_err(|_| err(format!("`{}` is not a learning rate", lr.trim())))?;
            check_rate(lr).map_err(err)?;
            if let Some(&(last, _)) = entries.last() {
                if epoch <= last {
                    return Err(err(format!("epoch {epoch} does not come after epoch {last}")));
                }
            }
            entries.push((epoch, lr));
        }
        match entries.first() {
            None => Err((0, "no `epoch: rate` entry".into())),
            Some(&(first, _)) if first > 1 => {
                Err((0, format!("the first entry is for epoch {first}: epoch 1 has no rate")))
            }
            Some(_) => Ok(LrSchedule { entries }),
        }
    }

    /// The rate of `epoch` (from 1).
    pub fn rate(&self, epoch: u64) -> f32 {
        self.entries.iter().take_while(|&&(e, _)| e <= epoch).last().map_or(self.entries[0].1, |&(_, lr)| lr)
    }
}

fn check_rate(lr: f32) -> std::result::Result<(), String> {
    if lr.is_finite() && lr > 0.0 {
        Ok(())
    } else {
        Err(format!("{lr} is not a positive learning rate"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_schedule_switches_at_epoch_50() {
        let s = LrSchedule::parse("# reference\n0: 0.1\r\n50: 0.01  # drop\n").unwrap();
        assert_eq!((s.rate(1), s.rate(49), s.rate(50), s.rate(1000)), (0.1, 0.1, 0.01, 0.01));
    }

    #[test]
    fn bad_lines_are_named() {
        assert_eq!(LrSchedule::parse("0: 0.1\n\n10 0.01\n").unwrap_err().0, 3);
        assert_eq!(LrSchedule::parse("0: 0.1\n5: fast\n").unwrap_err().0, 2);
        assert_eq!(LrSchedule::parse("0: 0.1\n5: -1\n").unwrap_err().0, 2);
        assert_eq!(LrSchedule::parse("0: 0.1\n0: 0.2\n").unwrap_err().0, 2);
        assert!(LrSchedule::parse("# nothing\n").is_err());
        assert!(LrSchedule::parse("3: 0.1\n").is_err());
    }
}
