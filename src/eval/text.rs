//! An evaluation report as text: facenet-style summary lines (`Accuracy: 0.9155+-0.0123`,
//! `VAL: 0.4582+-0.0165 @ FAR=0.001`) and a table of each fold's figures.

use super::evaluate::{EvalReport, MAX_RANK};
use super::metrics::FoldStats;
use super::rank::CmcOverFolds;
use super::verification::ValProtocol;
use std::fmt::Write as _;

/// `0.7034` → `70.34 %`.
fn percent(v: f64) -> String {
    format!("{:.2} %", 100.0 * v)
}

/// Mean ± std over the folds, or the one fold's value.
fn mean_std(s: &FoldStats) -> String {
    if s.per_fold.len() == 1 {
        return percent(s.mean);
    }
    format!("{:.2} ± {:.2} %", 100.0 * s.mean, 100.0 * s.std)
}

impl EvalReport {
    /// The summary lines, one figure each, in the order a reader looks for them.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let mut line = |text: String| {
            let _ = writeln!(out, "{text}");
        };
        let pairs = self.verification.as_ref().map_or(String::new(), |v| {
            format!("{} of {} pairs scored in {} folds, ", v.pairs_scored, v.pairs_listed, v.folds)
        });
        line(format!("protocol {}: {pairs}{} images", self.protocol, self.images));
        if let Some(v) = &self.verification {
            line(format!("Accuracy: {:.4}+-{:.4}", v.accuracy.mean, v.accuracy.std));
            for val in &v.val_at_far {
                let how = match val.protocol {
                    ValProtocol::TestFold => "",
                    ValProtocol::ReferenceTrainingFolds => " (reference-compatible: measured on the training folds)",
                };
                line(format!("VAL: {:.4}+-{:.4} @ FAR={}{how}", val.val.mean, val.val.std, val.target_far));
            }
            if let Some(roc) = &v.roc {
                line(format!("Area Under Curve (AUC): {:.4}", roc.auc));
                line(format!("Equal Error Rate (EER): {:.4}", roc.eer));
            }
        }
        if let Some(p) = self.photo_id_accuracy {
            line(format!("photo identification (branch 2, rank 1): {}", percent(p)));
        }
        if let Some(c) = self.caricature_id_accuracy {
            line(format!("caricature identification (branch 3, rank 1): {}", percent(c)));
        }
        for (name, cmc) in self.cmcs() {
            let rank = |k: usize| cmc.rank(k).map_or("–".into(), mean_std);
            line(format!("{name} by embedding: Rank-1 {} Rank-{MAX_RANK} {}", rank(1), rank(MAX_RANK)));
        }
        if !self.skipped_lines.is_empty() {
            line(format!("{} protocol line(s) skipped:", self.skipped_lines.len()));
            for skipped in &self.skipped_lines {
                line(format!("  {skipped}"));
            }
        }
        for note in &self.notes {
            line(format!("note: {note}"));
        }
        out
    }

    /// Each fold's figures as a markdown table, then mean ± std: verification (pairs,
    /// accuracy, its threshold, VAL at each FAR) and identification (probes, Rank-1,
    /// Rank-10 of each direction). Empty when the report has neither.
    pub fn fold_table(&self) -> String {
        let mut header = vec!["fold".to_string()];
        let mut columns: Vec<(Vec<String>, String)> = Vec::new();
        if let Some(v) = &self.verification {
            columns.push((v.pairs_per_fold.iter().map(ToString::to_string).collect(), v.pairs_scored.to_string()));
            header.push("pairs".into());
            columns.push((v.accuracy.per_fold.iter().map(|&a| percent(a)).collect(), mean_std(&v.accuracy)));
            header.push("accuracy".into());
            columns.push((v.thresholds.iter().map(|t| format!("{t:.2}")).collect(), String::new()));
            header.push("threshold".into());
            for val in &v.val_at_far {
                columns.push((val.val.per_fold.iter().map(|&a| percent(a)).collect(), mean_std(&val.val)));
                header.push(format!("VAL@FAR={}", val.target_far));
            }
        }
        for (name, cmc) in self.cmcs() {
            columns.push((cmc.folds.iter().map(|f| f.probes.to_string()).collect(), String::new()));
            header.push(format!("{name} probes"));
            for k in [1, MAX_RANK] {
                let per_fold = cmc.folds.iter().map(|f| f.rank(k).map_or("–".into(), percent)).collect();
                columns.push((per_fold, cmc.rank(k).map_or("–".into(), mean_std)));
                header.push(format!("{name} Rank-{k}"));
            }
        }
        let Some(folds) = columns.iter().map(|c| c.0.len()).max() else { return String::new() };
        let mut out = format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len()));
        for fold in 0..folds {
            let cells: Vec<&str> = columns.iter().map(|c| c.0.get(fold).map_or("", String::as_str)).collect();
            let _ = writeln!(out, "| {} | {} |", fold + 1, cells.join(" | "));
        }
        let summary: Vec<&str> = columns.iter().map(|c| c.1.as_str()).collect();
        let _ = writeln!(out, "| all | {} |", summary.join(" | "));
        out
    }

    /// The identification curves present, named by direction.
    pub fn cmcs(&self) -> Vec<(&'static str, &CmcOverFolds)> {
        [("C2P", &self.cmc_c2p), ("P2C", &self.cmc_p2c)]
            .into_iter()
            .filter_map(|(n, c)| Some((n, c.as_ref()?)))
            .collect()
    }
}
