//! How verification and identification results are written: a line of text, CSV (fields
//! quoted as RFC 4180 does) or JSON.

use super::{Match, Verdict};
use crate::choice::parse_choice;
use crate::error::{Error, Result};
use std::borrow::Cow;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Csv,
    Json,
}

impl FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Format> {
        parse_choice("format", s)
    }
}

/// The verdict on images `a` and `b`: one line of text, a CSV header and row, or one JSON
/// object (each line ends with a newline).
pub fn verdict_text(verdict: &Verdict, a: &str, b: &str, format: Format) -> String {
    let v = verdict;
    match format {
        Format::Json => format!("{}\n", serde_json::to_string(v).expect("the verdict encodes as JSON")),
        Format::Csv => format!(
            "a,b,metric,distance,threshold,threshold_source,same\n{},{},{},{:.6},{},{},{}\n",
            csv_field(a),
            csv_field(b),
            v.metric,
            v.distance,
            v.threshold.value,
            csv_field(&v.threshold.source),
            v.same
        ),
        Format::Text => format!(
            "{}: squared distance {:.4} {} threshold {} ({}): {}\n",
            if v.same { "same" } else { "different" },
            v.distance,
            if v.same { "<" } else { "≥" },
            v.threshold.value,
            v.threshold.source,
            if v.same { "same person" } else { "different people" }
        ),
    }
}

/// One probe's matches as a CSV row: the probe, then the label and distance of each match.
pub fn matches_row(probe: &str, matches: &[Match]) -> String {
    let cells: Vec<String> = matches.iter().map(|m| format!("{},{:.4}", csv_field(&m.label), m.distance)).collect();
    format!("{},{}", csv_field(probe), cells.join(","))
}

/// A CSV field as RFC 4180 writes it: quoted, with quotes doubled, when it holds a comma, a
/// quote or a line break (file and folder names may).
pub fn csv_field(text: &str) -> Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        assert_eq!(csv_field("plain/path.jpg"), "plain/path.jpg");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        let row = matches_row("p,1.jpg", &[Match { label: "Ann".into(), distance: 0.5 }]);
        assert_eq!(row, "\"p,1.jpg\",Ann,0.5000");
    }
}
