//! The curves of `cari eval`, several labelled ones per chart, written as an SVG and a PNG:
//! - ROC: TAR against FAR on a log axis from 1e-4 to 1, each curve's AUC and EER in the legend;
//! - CMC: identification rate against rank 1..K, each curve's Rank-1 in the legend.

use super::font::FAMILY;
use super::{write_svg_and_png, Drawing, Drawn};
use crate::eval::{EvalReport, RocCurve};
use crate::{Error, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The curves' colours, in order (matplotlib's "tab10"); one chart holds at most this many.
pub const CURVE_COLORS: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// Image size when none is asked for, and the smallest that leaves room for the axes.
pub const DEFAULT_CURVE_SIZE: (u32, u32) = (800, 600);
const MIN_CURVE_SIZE: (u32, u32) = (320, 240);

/// The ROC's FAR axis: 10^-4 .. 1, drawn as log10(FAR).
const MIN_FAR: f64 = 1e-4;
/// Most a straight piece of the ROC may span on the log FAR axis (decades): the ROC's
/// segments are straight in linear FAR, so long ones are drawn as many short pieces.
const LOG_STEP: f64 = 0.01;
/// Rank markers are drawn when the CMC has at most this many ranks.
const MAX_MARKED_RANKS: usize = 25;

const TITLE_FONT: f64 = 20.0;
const TICK_FONT: f64 = 14.0;
const AXIS_FONT: f64 = 15.0;
const LEGEND_FONT: f64 = 14.0;
const LINE_WIDTH: f64 = 2.0;
const GRID: RGBColor = RGBColor(225, 225, 225);
const MINOR_GRID: RGBColor = RGBColor(242, 242, 242);
const CHANCE: RGBColor = RGBColor(190, 190, 190);

/// One ROC curve and its legend label.
#[derive(Clone, Copy, Debug)]
pub struct RocSeries<'a> {
    pub label: &'a str,
    pub roc: &'a RocCurve,
}

/// One CMC curve (`rates[k − 1]` = Rank-k, as [`Cmc::rates`](crate::eval::Cmc)) and its label.
#[derive(Clone, Copy, Debug)]
pub struct CmcSeries<'a> {
    pub label: &'a str,
    pub rates: &'a [f64],
}

/// Draws the ROC curves as `OUT_STEM.svg` and `OUT_STEM.png` and returns their paths.
pub fn plot_roc(series: &[RocSeries], out_stem: &Path, size: Option<(u32, u32)>) -> Result<Vec<PathBuf>> {
    check_count(series.len(), "ROC curves to plot")?;
    let lines = series
        .iter()
        .map(|s| Line {
            legend: format!("{} (AUC {:.4}, EER {:.2}%)", s.label, s.roc.auc, 100.0 * s.roc.eer),
            points: roc_points(s.roc),
            markers: false,
        })
        .collect();
    let chart = LineChart {
        title: "Verification ROC",
        x_desc: "FAR (false accept rate)",
        y_desc: "TAR (true accept rate)",
        x_range: MIN_FAR.log10()..0.0,
        y_range: 0.0..1.02,
        x_axis: XAxis::Log10,
        lines,
    };
    chart.write(out_stem, size)
}

/// Draws the CMC curves as `OUT_STEM.svg` and `OUT_STEM.png` and returns their paths.
pub fn plot_cmc(series: &[CmcSeries], out_stem: &Path, size: Option<(u32, u32)>) -> Result<Vec<PathBuf>> {
    check_count(series.len(), "CMC curves to plot")?;
    if let Some(s) = series.iter().find(|s| s.rates.is_empty() || s.rates.iter().any(|r| !r.is_finite())) {
        return Err(Error::invalid(format!("CMC curve `{}`", s.label), "it needs finite rates from rank 1"));
    }
    let max_rank = series.iter().map(|s| s.rates.len()).max().unwrap_or(1);
    let lowest = series.iter().flat_map(|s| s.rates.iter().copied()).fold(1.0, f64::min);
    // Zoom on the rates (they are often all high), on tenths, always keeping 1 in view.
    let floor = ((lowest * 10.0).floor() / 10.0).clamp(0.0, 0.9);
    let pad = (0.02 * (max_rank - 1) as f64).max(0.25);
    let lines = series
        .iter()
        .map(|s| Line {
            legend: format!("{} (Rank-1 {:.2}%)", s.label, 100.0 * s.rates[0]),
            points: s.rates.iter().enumerate().map(|(i, &r)| ((i + 1) as f64, r)).collect(),
            markers: max_rank <= MAX_MARKED_RANKS,
        })
        .collect();
    let chart = LineChart {
        title: "Identification CMC",
        x_desc: "rank",
        y_desc: "identification rate",
        x_range: 1.0 - pad..max_rank as f64 + pad,
        y_range: floor - 0.02 * (1.0 - floor)..1.0 + 0.02 * (1.0 - floor),
        x_axis: XAxis::Rank,
        lines,
    };
    chart.write(out_stem, size)
}

fn check_count(count: usize, what: &str) -> Result<()> {
    match count {
        0 => Err(Error::invalid(what, "none given")),
        n if n > CURVE_COLORS.len() => {
            Err(Error::invalid(what, format!("{n} curves: at most {} fit on one chart", CURVE_COLORS.len())))
        }
        _ => Ok(()),
    }
}

/// The ROC as (log10 FAR, TAR) from FAR = 1e-4 on: the point at 1e-4 read off the segment
/// crossing it, and each segment cut into pieces at most [`LOG_STEP`] long.
fn roc_points(roc: &RocCurve) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    for k in 0..roc.far.len().saturating_sub(1) {
        let (f0, t0, f1, t1) = (roc.far[k], roc.tar[k], roc.far[k + 1], roc.tar[k + 1]);
        if f1 < MIN_FAR {
            continue;
        }
        let tar_at = |far: f64| if f1 > f0 { t0 + (far - f0) / (f1 - f0) * (t1 - t0) } else { t1 };
        let start = f0.max(MIN_FAR);
        if points.is_empty() {
            points.push((start.log10(), tar_at(start)));
        }
        let (from, to) = (start.log10(), f1.log10());
        let pieces = ((to - from) / LOG_STEP).ceil().max(1.0) as usize;
        for piece in 1..=pieces {
            let x = from + (to - from) * piece as f64 / pieces as f64;
            let far = if piece == pieces { f1 } else { 10f64.powf(x) };
            points.push((x, tar_at(far)));
        }
    }
    points
}

/// How the x axis is labelled.
#[derive(Clone, Copy)]
enum XAxis {
    /// Values are log10(FAR): ticks at the decades, labelled as FARs, with a minor grid.
    Log10,
    /// Values are ranks: integer ticks only.
    Rank,
}

struct Line {
    legend: String,
    points: Vec<(f64, f64)>,
    markers: bool,
}

/// One chart: title, axes, labelled lines in [`CURVE_COLORS`] order, legend lower right.
struct LineChart {
    title: &'static str,
    x_desc: &'static str,
    y_desc: &'static str,
    x_range: Range<f64>,
    y_range: Range<f64>,
    x_axis: XAxis,
    lines: Vec<Line>,
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

impl LineChart {
    fn write(&self, out_stem: &Path, size: Option<(u32, u32)>) -> Result<Vec<PathBuf>> {
        super::font::register()?;
        let size = size.unwrap_or(DEFAULT_CURVE_SIZE);
        if size.0 < MIN_CURVE_SIZE.0 || size.1 < MIN_CURVE_SIZE.1 {
            return Err(Error::invalid(
                "plot size",
                format!("{}×{} is too small: at least {}×{}", size.0, size.1, MIN_CURVE_SIZE.0, MIN_CURVE_SIZE.1),
            ));
        }
        write_svg_and_png(self, size, out_stem)
    }
}

impl Drawing for LineChart {
    /// `scale` multiplies every size; `raster`: the backend is a bitmap.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, scale: f64, raster: bool) -> Drawn<DB> {
        let px = |at_one: f64| (at_one * scale).round() as i32;
        let line = |at_one: f64| px(at_one).max(1) as u32;
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FAMILY, TITLE_FONT * scale, FontStyle::Bold))
            .margin(px(12.0))
            .margin_right(px(24.0))
            .x_label_area_size(px(48.0))
            .y_label_area_size(px(64.0))
            .build_cartesian_2d(self.x_range.clone(), self.y_range.clone())?;

        let x_label = |v: &f64| match self.x_axis {
            XAxis::Log10 => far_label(*v),
            XAxis::Rank => rank_label(*v),
        };
        let y_label = |v: &f64| format!("{v:.1}");
        chart
            .configure_mesh()
            .x_labels(match self.x_axis {
                XAxis::Log10 => 5,
                XAxis::Rank => 12,
            })
            .y_labels(6)
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID.stroke_width(line(1.0)))
            .axis_style(BLACK.stroke_width(line(1.0)))
            .set_all_tick_mark_size(px(5.0))
            .label_style((FAMILY, TICK_FONT * scale))
            .axis_desc_style((FAMILY, AXIS_FONT * scale))
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .x_desc(self.x_desc)
            .y_desc(self.y_desc)
            .draw()?;

        if let XAxis::Log10 = self.x_axis {
            self.draw_log_background(&mut chart, line(1.0))?;
        }
        let frame = [(self.x_range.start, self.y_range.start), (self.x_range.end, self.y_range.end)];
        chart.draw_series([Rectangle::new(frame, BLACK.stroke_width(line(1.0)))])?;

        let width = line(LINE_WIDTH);
        for (line_data, &[r, g, b]) in self.lines.iter().zip(&CURVE_COLORS) {
            let color = RGBColor(r, g, b);
            draw_line(&mut chart, &line_data.points, color, width, raster)?;
            if line_data.markers {
                let radius = px(3.5);
                chart.draw_series(line_data.points.iter().map(|&p| Circle::new(p, radius, color.filled())))?;
            }
            let (swatch, half) = (px(24.0), px(LINE_WIDTH).max(1));
            chart
                .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
                .label(line_data.legend.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - half), (x + swatch, y + half)], color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .margin(px(12.0))
            .legend_area_size(px(30.0))
            .label_font((FAMILY, LEGEND_FONT * scale))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.stroke_width(line(1.0)))
            .draw()
    }
}

impl LineChart {
    /// The minor grid at 2..9 × each decade, and the chance line TAR = FAR.
    fn draw_log_background<DB: DrawingBackend>(&self, chart: &mut Chart<'_, DB>, width: u32) -> Drawn<DB> {
        let (y0, y1) = (self.y_range.start, self.y_range.end);
        let decades = self.x_range.start.round() as i32..0;
        let minor = decades.flat_map(|e| (2..10).map(move |j| (f64::from(j) * 10f64.powi(e)).log10()));
        chart.draw_series(minor.map(|x| PathElement::new(vec![(x, y0), (x, y1)], MINOR_GRID.stroke_width(width))))?;
        let steps = ((self.x_range.end - self.x_range.start) / LOG_STEP).ceil() as usize;
        let chance = (0..=steps).map(|i| {
            let x = self.x_range.start + i as f64 * LOG_STEP;
            (x, 10f64.powf(x))
        });
        chart.draw_series([PathElement::new(chance.collect::<Vec<_>>(), CHANCE.stroke_width(width))])?;
        Ok(())
    }
}

/// A line wider than a pixel on a raster, stamped as one-pixel lines offset across a disc:
/// round joins (plotters' wide lines have mitred joins that spike at sharp turns).
fn draw_line<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    points: &[(f64, f64)],
    color: RGBColor,
    width: u32,
    raster: bool,
) -> Drawn<DB> {
    if !raster || width <= 1 {
        chart.draw_series([PathElement::new(points.to_vec(), color.stroke_width(width))])?;
        return Ok(());
    }
    let (base_x, base_y) = chart.plotting_area().get_base_pixel();
    let pixels: Vec<(i32, i32)> = points
        .iter()
        .map(|p| {
            let (x, y) = chart.backend_coord(p);
            (x - base_x, y - base_y)
        })
        .collect();
    let area = chart.plotting_area().strip_coord_spec();
    let radius = width as i32 / 2;
    for dy in -radius..=radius {
        for dx in -radius..=radius {
            if dx * dx + dy * dy <= radius * radius {
                let shifted: Vec<(i32, i32)> = pixels.iter().map(|&(x, y)| (x + dx, y + dy)).collect();
                area.draw(&PathElement::new(shifted, color))?;
            }
        }
    }
    Ok(())
}

/// log10(FAR) at a decade → the FAR: `1e-4`, `1e-3`, `0.01`, `0.1`, `1`; nothing elsewhere.
fn far_label(log_far: f64) -> String {
    let decade = log_far.round();
    if (log_far - decade).abs() > 1e-9 {
        return String::new();
    }
    match decade as i32 {
        e if e >= -2 => format!("{}", 10f64.powi(e)),
        e => format!("1e{e}"),
    }
}

/// Whole ranks only.
fn rank_label(rank: f64) -> String {
    if (rank - rank.round()).abs() < 1e-9 && rank >= 1.0 {
        format!("{}", rank.round() as i64)
    } else {
        String::new()
    }
}

/// The ROC and CMC charts of an evaluation report beside `stem` (`runs/x` →
/// `runs/x_roc.svg`/`.png`, `runs/x_cmc.svg`/`.png`), each only where the report has its
/// figures; the files written.
pub fn plot_report(report: &EvalReport, stem: &Path) -> Result<Vec<PathBuf>> {
    let name = stem.file_name().map_or_else(|| "eval".into(), |n| n.to_string_lossy().into_owned());
    let mut files = Vec::new();
    if let Some(roc) = report.verification.as_ref().and_then(|v| v.roc.as_ref()) {
        files.extend(plot_roc(
            &[RocSeries { label: &report.protocol, roc }],
            &stem.with_file_name(format!("{name}_roc")),
            None,
        )?);
    }
    let mean_rates: Vec<(&str, Vec<f64>)> =
        report.cmcs().into_iter().map(|(label, c)| (label, c.mean_rates())).collect();
    let cmcs: Vec<CmcSeries> = mean_rates.iter().map(|(label, rates)| CmcSeries { label, rates }).collect();
    if !cmcs.is_empty() {
        files.extend(plot_cmc(&cmcs, &stem.with_file_name(format!("{name}_cmc")), None)?);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_ticks_read_as_rates() {
        let labels: Vec<String> = [-4.0, -3.0, -2.0, -1.0, 0.0, -2.5].into_iter().map(far_label).collect();
        assert_eq!(labels, ["1e-4", "1e-3", "0.01", "0.1", "1", ""]);
    }

    #[test]
    fn rank_ticks_are_whole() {
        assert_eq!(rank_label(3.0), "3");
        assert_eq!(rank_label(2.5), "");
        assert_eq!(rank_label(0.0), "");
    }

    #[test]
    fn roc_starts_at_the_far_floor_and_is_cut_finely() {
        // (0, 0) → (1e-5, 0.5) → (1, 1): the first segment ends below 1e-4 and is skipped;
        // the second starts at 1e-4 with TAR read off it.
        let roc = RocCurve {
            thresholds: vec![0.0, 1.0, 2.0],
            far: vec![0.0, 1e-5, 1.0],
            tar: vec![0.0, 0.5, 1.0],
            auc: 0.0,
            eer: 0.0,
            eer_threshold: 0.0,
            same_pairs: 2,
            different_pairs: 2,
        };
        let points = roc_points(&roc);
        let (x0, y0) = points[0];
        assert!((x0 + 4.0).abs() < 1e-12);
        assert!((y0 - (0.5 + (1e-4 - 1e-5) / (1.0 - 1e-5) * 0.5)).abs() < 1e-12);
        assert_eq!(*points.last().unwrap(), (0.0, 1.0));
        assert_eq!(points.len(), 1 + 400);
        assert!(points.windows(2).all(|w| w[1].0 - w[0].0 <= LOG_STEP + 1e-12));
    }
}
