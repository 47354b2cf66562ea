//! ROC and CMC plots: the PNG decodes at the requested size with every curve's colour drawn,
//! the SVG has one line per curve and the legend's figures; bad input is refused by name.

use cari::eval::{roc_curve, RocCurve};
use cari::plot::{plot_cmc, plot_roc, CmcSeries, RocSeries, CURVE_COLORS, DEFAULT_CURVE_SIZE};
use cari::rng::Rng;
use std::fs;
use std::path::{Path, PathBuf};

/// A fresh, empty folder for one test.
fn folder(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("curve_plots").join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The ROC of 3,000 seeded pairs whose same and different distances are `separation` apart.
fn roc(seed: u64, separation: f32) -> RocCurve {
    let mut rng = Rng::derive(seed, 0);
    let pairs: Vec<(f32, bool)> = (0..3000)
        .map(|i| {
            let same = i % 2 == 0;
            let centre = if same { 1.6 - separation } else { 1.6 };
            ((centre + 0.3 * rng.normal()).clamp(0.0, 4.0), same)
        })
        .collect();
    roc_curve(&pairs).unwrap()
}

fn hex(color: [u8; 3]) -> String {
    format!("#{:02X}{:02X}{:02X}", color[0], color[1], color[2])
}

/// Pixels of the image that have `color`, give or take the blending of a line's edges.
fn pixels_of(image: &image::RgbImage, color: [u8; 3]) -> usize {
    image.pixels().filter(|p| p.0.iter().zip(color).all(|(&v, c)| v.abs_diff(c) <= 24)).count()
}

fn polylines(svg: &str, color: [u8; 3]) -> usize {
    let stroke = format!("stroke=\"{}\"", hex(color));
    svg.split('<').filter(|tag| tag.starts_with("polyline") && tag.contains(&stroke)).count()
}

fn read_png(path: &Path) -> image::RgbImage {
    image::open(path).unwrap().to_rgb8()
}

#[test]
fn roc_plot_draws_every_curve_with_its_auc() {
    let dir = folder("roc");
    let curves = [roc(1, 0.9), roc(2, 0.6), roc(3, 0.3)];
    let labels = ["dynamic", "naive dynamic", "single task"];
    let series: Vec<RocSeries> = labels.iter().zip(&curves).map(|(&label, roc)| RocSeries { label, roc }).collect();
    let files = plot_roc(&series, &dir.join("roc"), Some((640, 480))).unwrap();
    assert_eq!(files, [dir.join("roc.svg"), dir.join("roc.png")]);

    let png = read_png(&files[1]);
    assert_eq!(png.dimensions(), (640, 480));
    let svg = fs::read_to_string(&files[0]).unwrap();
    for (i, (label, roc)) in labels.iter().zip(&curves).enumerate() {
        let drawn = pixels_of(&png, CURVE_COLORS[i]);
        // A 2-pixel line across most of a ~540-pixel-wide plot, plus its legend swatch.
        assert!(drawn > 400, "curve {i} ({label}): {drawn} pixels of its colour");
        assert_eq!(polylines(&svg, CURVE_COLORS[i]), 1, "curve {i}: one SVG line");
        let legend = format!("{label} (AUC {:.4}, EER {:.2}%)", roc.auc, 100.0 * roc.eer);
        assert!(svg.contains(&legend), "legend `{legend}` missing");
    }
    // No fourth colour: nothing drawn beyond the curves given.
    assert_eq!(pixels_of(&png, CURVE_COLORS[3]), 0);
    assert!(svg.contains("1e-4") && svg.contains("0.01"), "log FAR axis labels");
}

#[test]
fn cmc_plot_draws_every_curve_at_the_default_size() {
    let dir = folder("cmc");
    let photo: Vec<f64> = (1..=10).map(|k| 1.0 - 0.4 / k as f64).collect();
    let caricature: Vec<f64> = (1..=10).map(|k| 1.0 - 0.6 / k as f64).collect();
    let series = [CmcSeries { label: "C2P", rates: &photo }, CmcSeries { label: "P2C", rates: &caricature }];
    let files = plot_cmc(&series, &dir.join("cmc"), None).unwrap();
    let png = read_png(&files[1]);
    assert_eq!(png.dimensions(), DEFAULT_CURVE_SIZE);
    let svg = fs::read_to_string(&files[0]).unwrap();
    for (i, s) in series.iter().enumerate() {
        let drawn = pixels_of(&png, CURVE_COLORS[i]);
        assert!(drawn > 400, "curve {i}: {drawn} pixels of its colour");
        assert_eq!(polylines(&svg, CURVE_COLORS[i]), 1, "curve {i}: one SVG line");
        assert!(svg.contains(&format!("{} (Rank-1 {:.2}%)", s.label, 100.0 * s.rates[0])));
    }
    // Ten ranks, each marked on each curve: circles filled with the curves' colours.
    let markers = svg.split('<').filter(|tag| tag.starts_with("circle") && tag.contains(&hex(CURVE_COLORS[0]))).count();
    assert_eq!(markers, 10);
}

#[test]
fn curve_plots_refuse_bad_input_by_name() {
    let dir = folder("bad");
    let stem = dir.join("x");
    let error = |r: cari::Result<Vec<PathBuf>>| r.unwrap_err().to_string();
    assert!(error(plot_roc(&[], &stem, None)).contains("none given"));
    let curve = roc(1, 0.5);
    let one = [RocSeries { label: "a", roc: &curve }];
    assert!(error(plot_roc(&one, &stem, Some((100, 100)))).contains("plot size"));
    let eleven = vec![one[0]; CURVE_COLORS.len() + 1];
    assert!(error(plot_roc(&eleven, &stem, None)).contains("at most 10"));
    let empty = [CmcSeries { label: "empty", rates: &[] }];
    assert!(error(plot_cmc(&empty, &stem, None)).contains("CMC curve `empty`"));
    let missing = [CmcSeries { label: "a", rates: &[0.5] }];
    let e = error(plot_cmc(&missing, &dir.join("no_such_folder").join("x"), None));
    assert!(e.contains("no_such_folder"), "{e}");
}
