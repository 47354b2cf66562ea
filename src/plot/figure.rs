//! Figure 3 of the paper drawn on any plotters backend: a title and legend across the top,
//! then one column per run, task weights above task losses on a shared step axis.

use super::font::FAMILY;
use super::series::{default_window, thin, Curve};
use super::{Drawing, Drawn};
use super::{RunLog, TASK_COLORS};
use crate::batch::Task;
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;

const TITLE: &str = "Task weights and task losses during training";

/// Sizes in pixels at scale 1.
const HEADER_HEIGHT: f64 = 78.0;
const CAPTION_HEIGHT: f64 = 30.0;
const TITLE_FONT: f64 = 22.0;
const CAPTION_FONT: f64 = 18.0;
const LEGEND_FONT: f64 = 16.0;
const TICK_FONT: f64 = 14.0;
const AXIS_FONT: f64 = 15.0;
const Y_LABEL_AREA: f64 = 64.0;
/// Below the bottom panel: tick marks, tick labels and the axis name.
const X_LABEL_AREA: f64 = 50.0;
/// Below the top panel: its step axis's tick marks only.
const X_TICK_AREA: f64 = 12.0;
const PANEL_MARGIN: f64 = 8.0;
const LINE_WIDTH: f64 = 2.0;
/// Opacity of the raw data drawn behind the smoothed line.
const RAW_OPACITY: f64 = 0.3;
const GRID: RGBColor = RGBColor(225, 225, 225);

/// One column of the figure: a run's curves and its smoothing window.
struct Column {
    label: String,
    window: usize,
    weights: Vec<Curve>,
    losses: Vec<Curve>,
}

/// The runs' curves and the axis ranges that all columns share, so runs compare at a glance.
pub(crate) struct Figure {
    columns: Vec<Column>,
    steps: Range<u64>,
    weight_range: Range<f64>,
    loss_range: Range<f64>,
}

impl Figure {
    /// `smooth`: the moving-average window; `None` picks one per run from its length.
    pub fn new(runs: &[RunLog], smooth: Option<usize>) -> Result<Figure> {
        if runs.is_empty() {
            return Err(Error::invalid("training logs to plot", "none given"));
        }
        let mut columns = Vec::with_capacity(runs.len());
        for run in runs {
            if run.records.is_empty() {
                return Err(Error::invalid(format!("training log `{}`", run.label), "it has no step to plot"));
            }
            columns.push(Column {
                label: run.label.clone(),
                window: smooth.unwrap_or_else(|| default_window(run.records.len())).max(1),
                weights: Task::ALL.iter().map(|t| Curve::weight(&run.records, t.index())).collect(),
                losses: Task::ALL.iter().map(|t| Curve::loss(&run.records, t.index())).collect(),
            });
        }

        let first = runs.iter().filter_map(|run| run.records.iter().map(|r| r.step).min()).min();
        let last = runs.iter().filter_map(|run| run.records.iter().map(|r| r.step).max()).max();
        let (first, last) = (first.unwrap_or(0), last.unwrap_or(0));
        let weights = columns.iter().flat_map(|column| &column.weights);
        let losses = columns.iter().flat_map(|column| &column.losses);
        Ok(Figure {
            steps: first..last.max(first + 1),
            // Softmax weights lie in [0, 1]: show all of it, more if a strategy goes beyond.
            weight_range: padded_range(value_range(weights), (0.0, 1.0)),
            loss_range: padded_range(value_range(losses), (0.0, 0.0)),
            columns,
        })
    }

    pub fn columns(&self) -> usize {
        self.columns.len()
    }

    fn draw_column<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        column: &Column,
        canvas: Canvas,
    ) -> Drawn<DB> {
        let (caption, panels) = area.split_vertically(canvas.px(CAPTION_HEIGHT));
        draw_caption(&caption, column, canvas)?;

        // The bottom panel also holds the step axis's labels: give it their extra height on
        // top of an equal share, so both plotting areas are the same height.
        let (_, panels_height) = panels.dim_in_pixel();
        let top_height = (panels_height as i32 - canvas.px(X_LABEL_AREA - X_TICK_AREA)) / 2;
        let (top, bottom) = panels.split_vertically(top_height);
        let weights = Panel { y_range: self.weight_range.clone(), y_desc: "task weight", step_labels: false };
        let losses = Panel { y_range: self.loss_range.clone(), y_desc: "task loss", step_labels: true };
        self.draw_panel(&top, &weights, &column.weights, column.window, canvas)?;
        self.draw_panel(&bottom, &losses, &column.losses, column.window, canvas)
    }

    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        panel: &Panel,
        curves: &[Curve],
        window: usize,
        canvas: Canvas,
    ) -> Drawn<DB> {
        let mut chart = ChartBuilder::on(area)
            .margin_left(canvas.px(6.0))
            .margin_right(canvas.px(22.0))
            .margin_top(canvas.px(PANEL_MARGIN))
            .margin_bottom(canvas.px(PANEL_MARGIN))
            .y_label_area_size(canvas.px(Y_LABEL_AREA))
            .x_label_area_size(canvas.px(if panel.step_labels { X_LABEL_AREA } else { X_TICK_AREA }))
            .build_cartesian_2d(self.steps.clone(), panel.y_range.clone())?;

        let no_label = |_: &u64| String::new();
        let value_label = |value: &f64| format_tick(*value);
        let mut mesh = chart.configure_mesh();
        mesh.x_labels(8)
            .y_labels(6)
            // Grid lines at the labelled ticks only. (Not `max_light_lines(0)`: plotters
            // never finishes laying out an integer axis asked for zero lines.)
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID.stroke_width(canvas.line(1.0)))
            .axis_style(BLACK.stroke_width(canvas.line(1.0)))
            .set_all_tick_mark_size(canvas.px(5.0))
            .label_style((FAMILY, canvas.font(TICK_FONT)))
            .axis_desc_style((FAMILY, canvas.font(AXIS_FONT)))
            .y_label_formatter(&value_label)
            .y_desc(panel.y_desc);
        if panel.step_labels {
            mesh.x_desc("step");
        } else {
            mesh.x_label_formatter(&no_label);
        }
        mesh.draw()?;

        let frame = [(self.steps.start, panel.y_range.start), (self.steps.end, panel.y_range.end)];
        chart.draw_series([Rectangle::new(frame, BLACK.stroke_width(canvas.line(1.0)))])?;

        let line_width = canvas.line(LINE_WIDTH);
        for (task, curve) in curves.iter().enumerate() {
            let [r, g, b] = TASK_COLORS[task];
            let color = RGBColor(r, g, b);
            if window > 1 {
                // The raw data behind: faint, and one pixel wide at any scale.
                draw_curve(&mut chart, curve, color.mix(RAW_OPACITY), 1, canvas)?;
                draw_curve(&mut chart, &curve.moving_average(window), color.to_rgba(), line_width, canvas)?;
            } else {
                draw_curve(&mut chart, curve, color.to_rgba(), line_width, canvas)?;
            }
        }
        Ok(())
    }
}

impl Drawing for Figure {
    /// Draws the whole figure; `scale` multiplies every size (fonts, lines, margins);
    /// `raster`: the backend is a bitmap.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, scale: f64, raster: bool) -> Drawn<DB> {
        let canvas = Canvas { scale, raster };
        root.fill(&WHITE)?;
        let (header, body) = root.split_vertically(canvas.px(HEADER_HEIGHT));
        draw_header(&header, canvas)?;
        for (area, column) in body.split_evenly((1, self.columns.len())).iter().zip(&self.columns) {
            self.draw_column(area, column, canvas)?;
        }
        Ok(())
    }
}

/// What differs between the two panels.
struct Panel {
    y_range: Range<f64>,
    y_desc: &'static str,
    /// Whether the step axis is labelled here (the bottom panel) or only ticked (the top).
    step_labels: bool,
}

type Chart<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordu64, plotters::coord::types::RangedCoordf64>>;

/// A curve as one line per gap-free segment; a segment of one step becomes a dot.
fn draw_curve<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    curve: &Curve,
    color: RGBAColor,
    width: u32,
    canvas: Canvas,
) -> Drawn<DB> {
    let columns = chart.plotting_area().dim_in_pixel().0 as usize;
    for segment in curve.segments() {
        let segment = thin(&segment, columns);
        if let [point] = segment[..] {
            let dot = Circle::new(point, width.div_ceil(2).max(1), color.filled());
            chart.draw_series([dot])?;
        } else if canvas.raster && width > 1 {
            draw_wide_raster_line(chart, &segment, color, width)?;
        } else {
            chart.draw_series([PathElement::new(segment, color.stroke_width(width))])?;
        }
    }
    Ok(())
}

/// A line wider than a pixel on a raster, stamped as one-pixel lines offset across a disc:
/// round joins. (plotters draws wide lines with mitred joins, which shoot far out of the
/// plot where a noisy curve turns sharply.)
fn draw_wide_raster_line<DB: DrawingBackend>(
    chart: &Chart<'_, DB>,
    points: &[(u64, f64)],
    color: RGBAColor,
    width: u32,
) -> Drawn<DB> {
    let plot_area = chart.plotting_area().strip_coord_spec();
    let (base_x, base_y) = chart.plotting_area().get_base_pixel();
    let pixels: Vec<(i32, i32)> = points
        .iter()
        .map(|point| {
            let (x, y) = chart.backend_coord(point);
            (x - base_x, y - base_y)
        })
        .collect();
    let radius = width as i32 / 2;
    for dy in -radius..=radius {
        for dx in -radius..=radius {
            if dx * dx + dy * dy <= radius * radius {
                let shifted = pixels.iter().map(|&(x, y)| (x + dx, y + dy));
                plot_area.draw(&PathElement::new(shifted.collect::<Vec<_>>(), color))?;
            }
        }
    }
    Ok(())
}

/// The run's label in bold, then how its curves were smoothed, centred over its column.
fn draw_caption<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, column: &Column, canvas: Canvas) -> Drawn<DB> {
    let (width, height) = area.dim_in_pixel();
    let anchor = Pos::new(HPos::Left, VPos::Center);
    let label_style = TextStyle::from((FAMILY, canvas.font(CAPTION_FONT), FontStyle::Bold)).pos(anchor);
    let note_style = TextStyle::from((FAMILY, canvas.font(CAPTION_FONT))).pos(anchor);
    let note = match column.window {
        1 => String::new(),
        window => format!("(moving average over {window} steps)"),
    };
    let label_width = area.estimate_text_size(&column.label, &label_style)?.0 as i32;
    let (note_width, gap) = match note.is_empty() {
        true => (0, 0),
        false => (area.estimate_text_size(&note, &note_style)?.0 as i32, canvas.px(8.0)),
    };
    let x = (width as i32 - label_width - gap - note_width) / 2;
    let y = height as i32 / 2;
    area.draw_text(&column.label, &label_style, (x, y))?;
    if !note.is_empty() {
        area.draw_text(&note, &note_style, (x + label_width + gap, y))?;
    }
    Ok(())
}

/// The title, then the legend: one coloured swatch and name per task, centred.
fn draw_header<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, canvas: Canvas) -> Drawn<DB> {
    let (width, _) = area.dim_in_pixel();
    let centre = width as i32 / 2;
    let title_style =
        TextStyle::from((FAMILY, canvas.font(TITLE_FONT), FontStyle::Bold)).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text(TITLE, &title_style, (centre, canvas.px(24.0)))?;

    let legend_style = TextStyle::from((FAMILY, canvas.font(LEGEND_FONT))).pos(Pos::new(HPos::Left, VPos::Center));
    let (swatch, gap, spacing) = (canvas.px(30.0), canvas.px(8.0), canvas.px(32.0));
    let mut names = Vec::with_capacity(Task::ALL.len());
    for task in Task::ALL {
        let (text_width, _) = area.estimate_text_size(task.name(), &legend_style)?;
        names.push((task, text_width as i32));
    }
    let total: i32 =
        names.iter().map(|(_, text)| swatch + gap + text).sum::<i32>() + spacing * (names.len() as i32 - 1);
    let (mut x, y) = (centre - total / 2, canvas.px(58.0));
    let half_thickness = canvas.px(LINE_WIDTH).max(1);
    for (task, text_width) in names {
        let [r, g, b] = TASK_COLORS[task.index()];
        let line = [(x, y - half_thickness), (x + swatch, y + half_thickness)];
        area.draw(&Rectangle::new(line, RGBColor(r, g, b).filled()))?;
        area.draw_text(task.name(), &legend_style, (x + swatch + gap, y))?;
        x += swatch + gap + text_width + spacing;
    }
    Ok(())
}

/// How the figure is drawn: at what scale, on what kind of backend. Turns sizes given at
/// scale 1 into pixels.
#[derive(Clone, Copy)]
struct Canvas {
    scale: f64,
    /// Drawing pixels (a bitmap) rather than shapes (an SVG).
    raster: bool,
}

impl Canvas {
    fn px(self, at_one: f64) -> i32 {
        (at_one * self.scale).round() as i32
    }

    fn line(self, at_one: f64) -> u32 {
        self.px(at_one).max(1) as u32
    }

    fn font(self, at_one: f64) -> f64 {
        at_one * self.scale
    }
}

fn value_range<'a>(curves: impl Iterator<Item = &'a Curve>) -> Option<(f64, f64)> {
    curves.filter_map(Curve::value_range).reduce(|(lo, hi), (l, h)| (lo.min(l), hi.max(h)))
}

/// A value axis covering `values` and `always` (zero stays in sight), with 4% headroom.
fn padded_range(values: Option<(f64, f64)>, always: (f64, f64)) -> Range<f64> {
    let (lo, hi) = values.unwrap_or(always);
    let (lo, hi) = (lo.min(always.0), hi.max(always.1));
    let hi = if hi > lo { hi } else { lo + 1.0 };
    lo..hi + 0.04 * (hi - lo)
}

/// A tick value without trailing zeros: `0.2`, `10`, `0.05` (not `0.2000000001` or `10.0`).
fn format_tick(value: f64) -> String {
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_drop_trailing_zeros() {
        assert_eq!(format_tick(10.0), "10");
        assert_eq!(format_tick(0.30000000000000004), "0.3");
        assert_eq!(format_tick(0.05), "0.05");
        assert_eq!(format_tick(-0.0), "0");
    }

    #[test]
    fn value_axis_keeps_zero_and_the_always_shown_span() {
        assert_eq!(padded_range(Some((0.2, 0.5)), (0.0, 1.0)), 0.0..1.04);
        assert_eq!(padded_range(Some((1.0, 5.0)), (0.0, 0.0)), 0.0..5.2);
        assert_eq!(padded_range(None, (0.0, 0.0)), 0.0..1.04);
    }
}
