//! `cari plot`: the figure is written as a PNG of the requested size with every task's
//! curve in both panels, and as an SVG with one line per series per panel; gaps, several
//! runs, labels and bad input.

use cari::plot::{plot_log_files, plot_training_logs, PlotOptions, RunLog, DEFAULT_COLUMN_WIDTH, TASK_COLORS};
use cari::train::{StepRecord, TrainingLog};
use std::fs;
use std::path::PathBuf;

/// A fresh, empty folder for one test.
fn folder(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plot").join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Weights drifting apart and losses falling, different per task, every value present.
fn records(steps: u64) -> Vec<StepRecord> {
    (1..=steps)
        .map(|step| {
            let progress = step as f32 / steps as f32;
            StepRecord {
                step,
                epoch: 1,
                losses: [Some(3.0 - progress), Some(2.5 - 1.5 * progress), Some(2.0 - 0.5 * progress)],
                weights: [0.4 + 0.2 * progress, 0.35 - 0.2 * progress, 0.25],
                accuracies: [None; 3],
                loss: 1.0,
                weight_loss: None,
                lr: 0.01,
                images_per_second: 10.0,
                elapsed: step as f64,
            }
        })
        .collect()
}

fn run(label: &str, records: Vec<StepRecord>) -> RunLog {
    RunLog { label: label.to_string(), records }
}

fn hex(color: [u8; 3]) -> String {
    format!("#{:02X}{:02X}{:02X}", color[0], color[1], color[2])
}

/// The SVG's polylines drawn in `color`, with their opacity.
fn polylines(svg: &str, color: [u8; 3]) -> Vec<&str> {
    let stroke = format!("stroke=\"{}\"", hex(color));
    svg.split('<').filter(|tag| tag.starts_with("polyline") && tag.contains(&stroke)).collect()
}

/// Rows of the image crossed by a dark grey line over most of its width (the panels'
/// frames), grouped into lines: (first row, last row).
fn frame_lines(image: &image::RgbImage) -> Vec<(u32, u32)> {
    let dark_grey = |p: &image::Rgb<u8>| {
        let (lo, hi) = (p.0.iter().min().unwrap(), p.0.iter().max().unwrap());
        hi - lo < 20 && *hi < 170
    };
    let mut lines: Vec<(u32, u32)> = Vec::new();
    for y in 0..image.height() {
        let dark = (0..image.width()).filter(|&x| dark_grey(image.get_pixel(x, y))).count();
        if dark * 2 > image.width() as usize {
            match lines.last_mut() {
                Some(line) if line.1 + 1 == y => line.1 = y,
                _ => lines.push((y, y)),
            }
        }
    }
    lines
}

/// Pixels within the rows `rows` (exclusive) that have `color`, give or take the blending
/// of a line's edges.
fn pixels_of(image: &image::RgbImage, rows: (u32, u32), color: [u8; 3]) -> usize {
    (rows.0 + 1..rows.1)
        .flat_map(|y| (0..image.width()).map(move |x| (x, y)))
        .filter(|&(x, y)| image.get_pixel(x, y).0.iter().zip(color).all(|(&p, c)| p.abs_diff(c) <= 24))
        .count()
}

#[test]
fn png_has_the_requested_size_and_every_curve_in_both_panels() {
    let stem = folder("png").join("figure");
    let options = PlotOptions { smooth: Some(1), size: Some((640, 480)) };
    let files = plot_training_logs(&[run("dynamic", records(50))], &stem, &options).unwrap();
    assert_eq!(files, vec![stem.with_extension("svg"), stem.with_extension("png")]);

    let image = image::open(&files[1]).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (640, 480));
    let frames = frame_lines(&image);
    assert_eq!(frames.len(), 4, "top and bottom edge of each panel's frame: {frames:?}");
    let weights_panel = (frames[0].1, frames[1].0);
    let losses_panel = (frames[2].1, frames[3].0);
    assert!(weights_panel.1 < losses_panel.0, "weights above losses");
    for color in TASK_COLORS {
        for (panel, rows) in [("weights", weights_panel), ("losses", losses_panel)] {
            let found = pixels_of(&image, rows, color);
            assert!(found > 100, "{} in the {panel} panel: {found} pixels", hex(color));
        }
    }
}

#[test]
fn svg_has_one_line_per_series_per_panel() {
    let stem = folder("svg").join("figure");
    let options = PlotOptions { smooth: Some(1), size: Some((640, 480)) };
    let files = plot_training_logs(&[run("dynamic", records(50))], &stem, &options).unwrap();
    let svg = fs::read_to_string(&files[0]).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", &svg[..80]);
    assert!(svg.contains(r#"width="640" height="480""#));
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    for color in TASK_COLORS {
        assert_eq!(polylines(&svg, color).len(), 2, "{}", hex(color));
    }
    for text in ["verification", "photo-id", "caricature-id", "dynamic", "task weight", "task loss", "step"] {
        assert!(svg.contains(&format!("\n{text}\n")), "no text `{text}`");
    }
    // Numbered ticks on the step axis (50 steps: 10, 20, …) and on the value axes.
    for tick in ["\n10\n", "\n40\n", "\n0.2\n", "\n1\n"] {
        assert!(svg.contains(tick), "no tick label {tick:?}");
    }
}

#[test]
fn smoothing_draws_the_average_over_faint_raw_data() {
    let stem = folder("smooth").join("figure");
    let options = PlotOptions { smooth: Some(5), size: Some((640, 480)) };
    let files = plot_training_logs(&[run("dynamic", records(50))], &stem, &options).unwrap();
    let svg = fs::read_to_string(&files[0]).unwrap();
    for color in TASK_COLORS {
        let lines = polylines(&svg, color);
        assert_eq!(lines.len(), 4, "{}: raw and smoothed, in each panel", hex(color));
        let faint = lines.iter().filter(|line| !line.contains("opacity=\"1\"")).count();
        assert_eq!(faint, 2, "{}: the raw lines are faint", hex(color));
    }
    assert!(svg.contains("moving average over 5 steps"));
}

#[test]
fn a_task_without_loss_leaves_a_gap() {
    let mut records = records(40);
    for record in &mut records[15..18] {
        record.losses[2] = None;
    }
    let stem = folder("gap").join("figure");
    let options = PlotOptions { smooth: Some(1), size: Some((640, 480)) };
    let files = plot_training_logs(&[run("gap", records)], &stem, &options).unwrap();
    let svg = fs::read_to_string(&files[0]).unwrap();
    assert_eq!(polylines(&svg, TASK_COLORS[0]).len(), 2);
    assert_eq!(polylines(&svg, TASK_COLORS[2]).len(), 3, "weights, then losses before and after the gap");
}

#[test]
fn several_logs_are_side_by_side_columns_titled_by_label_or_file_stem() {
    let dir = folder("columns");
    let logs = [dir.join("dynamic.jsonl"), dir.join("naive.jsonl")];
    for path in &logs {
        let mut log = TrainingLog::create(path).unwrap();
        records(30).iter().for_each(|r| log.append(r).unwrap());
    }
    let options = PlotOptions { smooth: Some(1), size: None };

    let report = plot_log_files(&logs, &[], None, &options).unwrap();
    assert_eq!(report.files, vec![dir.join("dynamic_vs_naive.svg"), dir.join("dynamic_vs_naive.png")]);
    assert!(report.warnings.is_empty());
    let image = image::open(&report.files[1]).unwrap();
    assert_eq!((image.width(), image.height()), (2 * DEFAULT_COLUMN_WIDTH, cari::plot::DEFAULT_HEIGHT));
    let svg = fs::read_to_string(&report.files[0]).unwrap();
    assert!(svg.contains("\ndynamic\n") && svg.contains("\nnaive\n"));
    for color in TASK_COLORS {
        assert_eq!(polylines(&svg, color).len(), 4, "two panels in each of two columns");
    }

    let labels = ["dynamic weights".to_string(), "naive dynamic".to_string()];
    let stem = dir.join("cmp");
    let report = plot_log_files(&logs, &labels, Some(&stem), &options).unwrap();
    assert_eq!(report.files[0], dir.join("cmp.svg"));
    let svg = fs::read_to_string(&report.files[0]).unwrap();
    assert!(svg.contains("\ndynamic weights\n") && svg.contains("\nnaive dynamic\n"));
}

#[test]
fn a_torn_last_line_is_plotted_around_with_a_warning() {
    let path = folder("torn").join("run.jsonl");
    let mut log = TrainingLog::create(&path).unwrap();
    records(10).iter().for_each(|r| log.append(r).unwrap());
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str(r#"{"step":11,"epoch":1,"los"#);
    fs::write(&path, text).unwrap();

    let report = plot_log_files(std::slice::from_ref(&path), &[], None, &PlotOptions::default()).unwrap();
    assert_eq!(report.files[1], path.with_extension("png"));
    assert_eq!(report.warnings.len(), 1);
    assert!(report.warnings[0].contains("line 11"), "{}", report.warnings[0]);
}

#[test]
fn an_empty_log_is_a_clear_error() {
    let path = folder("empty").join("empty.jsonl");
    TrainingLog::create(&path).unwrap();
    let message =
        plot_log_files(std::slice::from_ref(&path), &[], None, &PlotOptions::default()).unwrap_err().to_string();
    assert!(message.contains(&path.display().to_string()) && message.contains("no step"), "{message}");
    assert!(!path.with_extension("png").exists());

    let message =
        plot_training_logs(&[run("fresh run", Vec::new())], &path.with_extension(""), &PlotOptions::default())
            .unwrap_err()
            .to_string();
    assert!(message.contains("fresh run") && message.contains("no step"), "{message}");
}

#[test]
fn bad_requests_are_errors_that_name_the_flag_or_file() {
    let dir = folder("bad");
    let log = dir.join("run.jsonl");
    let mut writer = TrainingLog::create(&log).unwrap();
    records(5).iter().for_each(|r| writer.append(r).unwrap());

    let two_labels = ["a".to_string(), "b".to_string()];
    let message =
        plot_log_files(std::slice::from_ref(&log), &two_labels, None, &PlotOptions::default()).unwrap_err().to_string();
    assert!(message.contains("invalid value for labels:"), "{message}");

    let missing = dir.join("missing.jsonl");
    let message =
        plot_log_files(std::slice::from_ref(&missing), &[], None, &PlotOptions::default()).unwrap_err().to_string();
    assert!(message.contains(&missing.display().to_string()), "{message}");

    let tiny = PlotOptions { smooth: None, size: Some((100, 100)) };
    let message = plot_log_files(std::slice::from_ref(&log), &[], None, &tiny).unwrap_err().to_string();
    assert!(message.contains("plot size"), "{message}");

    let unwritable = dir.join("no-such-folder").join("figure");
    let message = plot_log_files(&[log], &[], Some(&unwritable), &PlotOptions::default()).unwrap_err().to_string();
    assert!(message.contains(&unwritable.display().to_string()), "{message}");
}
