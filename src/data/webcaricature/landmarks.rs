//! WebCaricature's 17 facial points per image and the reference face crop they give.
//!
//! A landmark file holds one point per line, `x y` in pixels of the original image
//! (floats, possibly in 1e-notation; blank lines are ignored). Order: 1–4 contour
//! (hairline top, left ear, chin, right ear), 5–8 brows, 9–12 eye corners, 13 nose tip,
//! 14 upper lip, 15 left mouth corner, 16 lower lip, 17 right mouth corner.

use super::super::dataset::RgbImage;
use crate::error::{Error, Result};
use std::fs;
use std::path::Path;

const LANDMARK_COUNT: usize = 17;
/// The reference crop widens the landmarks' bounding box by half about its centre…
const CROP_WIDTH_SCALE: f64 = 1.5;
/// …and makes it a fifth taller.
const CROP_HEIGHT_SCALE: f64 = 1.2;

/// Reads a landmark file: exactly 17 points `[x, y]`.
pub fn read_landmarks(path: &Path) -> Result<Vec<[f64; 2]>> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_landmarks(path, &text)
}

/// Parses a landmark file's text (`path` names it in errors). Coordinates are separated by
/// spaces, TABs or a comma.
pub fn parse_landmarks(path: &Path, text: &str) -> Result<Vec<[f64; 2]>> {
    let mut points = Vec::with_capacity(LANDMARK_COUNT);
    let mut last_line = 0;
    for (i, line) in text.lines().enumerate() {
        last_line = i + 1;
        let at_line = |msg: String| Error::format(path, format!("line {}: {msg}", i + 1));
        let tokens: Vec<&str> = line.split(|c: char| c.is_whitespace() || c == ',').filter(|t| !t.is_empty()).collect();
        if tokens.is_empty() {
            continue;
        }
        if points.len() == LANDMARK_COUNT {
            return Err(at_line(format!("more than {LANDMARK_COUNT} points")));
        }
        let [x, y] = tokens[..] else {
            return Err(at_line(format!("expected two numbers `x y`, found `{}`", line.trim())));
        };
        let coordinate = |t: &str| match t.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(at_line(format!("`{t}` is not a finite number"))),
        };
        points.push([coordinate(x)?, coordinate(y)?]);
    }
    if points.len() != LANDMARK_COUNT {
        return Err(Error::format(
            path,
            format!("after line {last_line}: expected {LANDMARK_COUNT} points, found {}", points.len()),
        ));
    }
    Ok(points)
}

/// A rectangle of whole pixels inside an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaceBox {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

impl FaceBox {
    /// The reference crop: the points' bounding box scaled about its centre, width ×1.5
    /// and height ×1.2, widened to whole pixels (left and top rounded down, right and
    /// bottom up) and clipped to the `width × height` image. `None` when no pixel is left
    /// (no points, points outside the image, or all on one pixel edge).
    pub fn around(points: &[[f64; 2]], width: usize, height: usize) -> Option<FaceBox> {
        if points.is_empty() {
            return None;
        }
        let span = |axis: usize, scale: f64, size: usize| {
            let lo = points.iter().map(|p| p[axis]).fold(f64::INFINITY, f64::min);
            let hi = points.iter().map(|p| p[axis]).fold(f64::NEG_INFINITY, f64::max);
            let (centre, half) = ((lo + hi) / 2.0, (hi - lo) * scale / 2.0);
            let start = (centre - half).floor().max(0.0);
            let end = (centre + half).ceil().min(size as f64);
            (end > start).then_some((start as usize, (end - start) as usize))
        };
        let (x, w) = span(0, CROP_WIDTH_SCALE, width)?;
        let (y, h) = span(1, CROP_HEIGHT_SCALE, height)?;
        Some(FaceBox { x, y, width: w, height: h })
    }

    /// The pixels of `image` inside the box (which must lie within it).
    pub fn cut(&self, image: &RgbImage) -> RgbImage {
        let row = image.width * 3;
        let mut pixels = Vec::with_capacity(self.width * self.height * 3);
        for y in self.y..self.y + self.height {
            pixels.extend_from_slice(&image.pixels[y * row + self.x * 3..][..self.width * 3]);
        }
        RgbImage { width: self.width, height: self.height, pixels }
    }
}
