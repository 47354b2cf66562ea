//! `cari plot`: the paper's Figure 3 from training logs. Task weights w1..w3 over the steps
//! in the top panel, task losses L1..L3 in the bottom one, on a shared step axis; several
//! runs side by side (say dynamic against naive dynamic), each in its own column, on shared
//! axes. Written as an SVG and as a PNG.
//!
//! Drawn with `plotters`; the PNG's text is rendered from a font compiled into the binary
//! (DejaVu Sans), so plotting needs no system library. The PNG is drawn at twice its size and
//! averaged down, which smooths its lines and text.

mod curves;
mod figure;
mod font;
mod series;

pub use curves::{plot_cmc, plot_report, plot_roc, CmcSeries, RocSeries, CURVE_COLORS, DEFAULT_CURVE_SIZE};

use crate::train::{read_training_log, StepRecord};
use crate::{Error, Result};
use figure::Figure;
use image::ExtendedColorType;
use plotters::coord::Shift;
use plotters::prelude::{
    BitMapBackend, DrawingArea, DrawingAreaErrorKind, DrawingBackend, IntoDrawingArea, SVGBackend,
};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The series' colours, in the paper's task order (verification, photo-id, caricature-id).
pub const TASK_COLORS: [[u8; 3]; 3] = [[31, 119, 180], [255, 127, 14], [44, 160, 44]];

/// Image width per run and height when [`PlotOptions::size`] is `None`.
pub const DEFAULT_COLUMN_WIDTH: u32 = 800;
pub const DEFAULT_HEIGHT: u32 = 720;

/// Smallest size that leaves room for the axes' labels: width per run, and height.
const MIN_COLUMN_WIDTH: u32 = 320;
const MIN_HEIGHT: u32 = 360;

/// The PNG is drawn this many times larger, then each block of pixels averaged into one.
const SUPERSAMPLING: u32 = 2;

/// One run to plot: its records and the title of its column.
#[derive(Clone, Debug, PartialEq)]
pub struct RunLog {
    pub label: String,
    pub records: Vec<StepRecord>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlotOptions {
    /// Moving-average window in steps (the raw data stays faint behind the average);
    /// `Some(1)` draws the raw data alone; `None` picks about 2% of each run's steps.
    pub smooth: Option<usize>,
    /// Image size in pixels (the SVG's too); `None`: [`DEFAULT_COLUMN_WIDTH`] per run by
    /// [`DEFAULT_HEIGHT`].
    pub size: Option<(u32, u32)>,
}

/// Draws the runs as `OUT_STEM.svg` and `OUT_STEM.png` and returns their paths.
pub fn plot_training_logs(runs: &[RunLog], out_stem: &Path, options: &PlotOptions) -> Result<Vec<PathBuf>> {
    font::register()?;
    let figure = Figure::new(runs, options.smooth)?;
    let columns = figure.columns() as u32;
    let size = options.size.unwrap_or((DEFAULT_COLUMN_WIDTH * columns, DEFAULT_HEIGHT));
    if size.0 < MIN_COLUMN_WIDTH * columns || size.1 < MIN_HEIGHT {
        return Err(Error::invalid(
            "plot size",
            format!(
                "{}×{} is too small for {columns} run(s): at least {}×{MIN_HEIGHT}",
                size.0,
                size.1,
                MIN_COLUMN_WIDTH * columns
            ),
        ));
    }
    write_svg_and_png(&figure, size, out_stem)
}

/// What [`plot_log_files`] wrote, and what it noticed in the logs.
#[derive(Clone, Debug, PartialEq)]
pub struct PlotReport {
    pub files: Vec<PathBuf>,
    /// One line per log whose torn last line was left out.
    pub warnings: Vec<String>,
}

/// `cari plot`: reads the logs and plots them, one column each. `labels` is empty (each
/// column is titled by its file's stem) or has one label per log. `out_stem` defaults to
/// [`default_out_stem`].
pub fn plot_log_files(
    logs: &[PathBuf],
    labels: &[String],
    out_stem: Option<&Path>,
    options: &PlotOptions,
) -> Result<PlotReport> {
    if logs.is_empty() {
        return Err(Error::invalid("LOG", "give at least one training log to plot"));
    }
    if !labels.is_empty() && labels.len() != logs.len() {
        return Err(Error::invalid(
            "labels",
            format!("{} label(s) for {} log(s): give one per log, in order", labels.len(), logs.len()),
        ));
    }
    let mut runs = Vec::with_capacity(logs.len());
    let mut warnings = Vec::new();
    for (i, path) in logs.iter().enumerate() {
        let contents = read_training_log(path)?;
        if let Some(line) = contents.torn_line {
            warnings.push(format!(
                "{}: line {line} is an incomplete record (a run killed or still writing); left out",
                path.display()
            ));
        }
        if contents.records.is_empty() {
            return Err(Error::format(path, "no step records: nothing to plot"));
        }
        let label = labels.get(i).cloned().unwrap_or_else(|| file_stem(path));
        runs.push(RunLog { label, records: contents.records });
    }
    let out_stem = out_stem.map_or_else(|| default_out_stem(logs), Path::to_path_buf);
    let files = plot_training_logs(&runs, &out_stem, options)?;
    Ok(PlotReport { files, warnings })
}

/// Beside the first log: `run.jsonl` → `run`; several logs → `a_vs_b`.
pub fn default_out_stem(logs: &[PathBuf]) -> PathBuf {
    let name = logs.iter().map(|path| file_stem(path)).collect::<Vec<_>>().join("_vs_");
    match logs.first() {
        Some(first) => first.with_file_name(name),
        None => PathBuf::from(name),
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned())
}

/// `out/run` + `svg` → `out/run.svg`, keeping any dot already in the stem (`run.v2.svg`).
fn with_extension_added(stem: &Path, extension: &str) -> PathBuf {
    let mut path = OsString::from(stem.as_os_str());
    path.push(".");
    path.push(extension);
    PathBuf::from(path)
}

/// What a drawing backend returns.
type Drawn<DB> = std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A chart that draws itself on any backend: the SVG and the PNG come from the same code.
trait Drawing {
    /// `scale` multiplies every size (fonts, lines, margins); `raster`: the backend is a bitmap.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, scale: f64, raster: bool) -> Drawn<DB>;
}

/// Writes `figure` as `STEM.svg` and `STEM.png` and returns their paths.
fn write_svg_and_png(figure: &impl Drawing, size: (u32, u32), out_stem: &Path) -> Result<Vec<PathBuf>> {
    let svg = with_extension_added(out_stem, "svg");
    let png = with_extension_added(out_stem, "png");
    write_svg(figure, size, &svg)?;
    write_png(figure, size, &png)?;
    Ok(vec![svg, png])
}

fn write_svg(figure: &impl Drawing, size: (u32, u32), path: &Path) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        figure.draw(&root, 1.0, false).map_err(|e| drawing_error(path, e))?;
        root.present().map_err(|e| drawing_error(path, e))?;
    }
    std::fs::write(path, svg).map_err(|e| Error::io(path, e))
}

/// Drawn [`SUPERSAMPLING`] times larger, then averaged down: smooth lines and text.
fn write_png(figure: &impl Drawing, (width, height): (u32, u32), path: &Path) -> Result<()> {
    let large = (width * SUPERSAMPLING, height * SUPERSAMPLING);
    let mut pixels = vec![0u8; large.0 as usize * large.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, large).into_drawing_area();
        figure.draw(&root, f64::from(SUPERSAMPLING), true).map_err(|e| drawing_error(path, e))?;
        root.present().map_err(|e| drawing_error(path, e))?;
    }
    let pixels = downsample(&pixels, large.0 as usize, SUPERSAMPLING as usize);
    image::save_buffer(path, &pixels, width, height, ExtendedColorType::Rgb8).map_err(|e| match e {
        image::ImageError::IoError(e) => Error::io(path, e),
        e => Error::format(path, e.to_string()),
    })
}

/// Averages each `factor`×`factor` block of an RGB image `width` pixels wide into one pixel.
fn downsample(pixels: &[u8], width: usize, factor: usize) -> Vec<u8> {
    let height = pixels.len() / (width * 3);
    let (small_width, small_height) = (width / factor, height / factor);
    let mut small = Vec::with_capacity(small_width * small_height * 3);
    for y in 0..small_height {
        for x in 0..small_width {
            for channel in 0..3 {
                let mut sum = 0u32;
                for dy in 0..factor {
                    let row = (y * factor + dy) * width;
                    for dx in 0..factor {
                        sum += u32::from(pixels[(row + x * factor + dx) * 3 + channel]);
                    }
                }
                let count = (factor * factor) as u32;
                small.push(((sum + count / 2) / count) as u8);
            }
        }
    }
    small
}

fn drawing_error<E: std::error::Error + Send + Sync>(path: &Path, e: DrawingAreaErrorKind<E>) -> Error {
    Error::io(path, std::io::Error::other(format!("drawing the plot: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsample_averages_blocks() {
        // 2×2 image, one white and three black pixels: one grey pixel (255/4 rounded).
        let pixels = [255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(downsample(&pixels, 2, 2), vec![64, 64, 64]);
    }

    #[test]
    fn extension_is_added_not_replaced() {
        assert_eq!(with_extension_added(Path::new("out/run.v2"), "svg"), Path::new("out/run.v2.svg"));
    }

    #[test]
    fn default_stem_sits_beside_the_first_log() {
        let one = [PathBuf::from("runs/dynamic.jsonl")];
        assert_eq!(default_out_stem(&one), Path::new("runs/dynamic"));
        let two = [PathBuf::from("runs/dynamic.jsonl"), PathBuf::from("other/naive.jsonl")];
        assert_eq!(default_out_stem(&two), Path::new("runs/dynamic_vs_naive"));
    }
}
