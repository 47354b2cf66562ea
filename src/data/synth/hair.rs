//! Hair styles and beards, shaped around the head's outline.

use super::face::{Beard, Geometry, HairStyle, Identity, Param as P};
use super::shape::{closed_spline, mirror_keys, offset, open_spline, pt, quad, Point, Shape};

/// The part of the closed outline above `y` (starting at its top point), from the left
/// end through the top to the right end.
fn upper_arc(outline: &[Point], y: f32) -> Vec<Point> {
    let right: Vec<Point> = outline.iter().copied().take_while(|p| p.y < y && p.x >= 0.0).collect();
    let left: Vec<Point> = outline.iter().rev().copied().take_while(|p| p.y < y && p.x < 0.0).collect();
    left.into_iter().rev().chain(right).collect()
}

/// The hair behind the head (long styles), the hair in front of it, and pen lines inside
/// the front hair.
pub fn hair(who: &Identity, g: &Geometry, outline: &[Point]) -> (Option<Shape>, Vec<Shape>, Vec<Shape>) {
    let (w, t, c) = (g[P::HeadWidth], g[P::CraniumHeight], g[P::ChinDepth]);
    let volume = g[P::HairVolume];
    // However high the hairline is drawn, it stays below the top of the skull.
    let line = g[P::Hairline].min(0.78 * t);
    let brow_top = g[P::EyeHeight] - g[P::BrowGap] - g[P::BrowThickness] - 0.015;
    let centre = pt(0.0, -0.3 * t);
    let p = who.parting;
    let cap = |bottom: f32, grow: &dyn Fn(usize, Point) -> f32, hairline: &[Point]| {
        let arc = upper_arc(outline, bottom);
        let outer = offset(&arc, centre, grow);
        let mut points = outer;
        points.extend(open_spline(hairline, 4).into_iter().rev());
        Shape::polygon(points)
    };
    let plain = |_: usize, _: Point| volume;
    let short_line =
        mirror_keys(&[pt(0.0, -line), pt(0.5 * w, -0.93 * line), pt(0.8 * w, -0.55 * line), pt(0.9 * w, 0.02)]);
    let (back, front): (Option<Shape>, Vec<Shape>) = match who.hair_style {
        HairStyle::Bald => {
            let side = |s: f32| {
                let arc: Vec<Point> =
                    outline.iter().copied().filter(|q| q.x * s > 0.0 && q.y > -0.4 * t && q.y < 0.03).collect();
                let outer = offset(&arc, centre, |_, _| volume * 0.4);
                let inner = offset(&arc, centre, |_, _| -0.03);
                let mut points = outer;
                points.extend(inner.into_iter().rev());
                Shape::polygon(points)
            };
            (None, vec![side(-1.0), side(1.0)])
        }
        HairStyle::Receding => {
            // A tuft in the middle, bare temples either side (kept inside the skull).
            let high = (line + 0.06).min(0.85 * t);
            let keys = mirror_keys(&[
                pt(0.0, -high),
                pt(0.2 * w, -high - 0.015),
                pt(0.5 * w, -0.72 * t),
                pt(0.78 * w, -0.45 * line),
                pt(0.9 * w, 0.02),
            ]);
            (None, vec![cap(0.02, &|_, _| volume * 0.5, &keys)])
        }
        HairStyle::Short => (None, vec![cap(0.02, &plain, &short_line)]),
        HairStyle::SidePart => {
            // From the parted side's temple, over the parting, across the forehead.
            let mut keys = vec![
                pt(p * 0.9 * w, 0.02),
                pt(p * 0.8 * w, -0.7 * line),
                pt(p * 0.4 * w, -1.08 * line),
                pt(0.0, -0.86 * line),
                pt(-p * 0.45 * w, -0.62 * line),
                pt(-p * 0.8 * w, -0.4 * line),
                pt(-p * 0.9 * w, 0.02),
            ];
            if p > 0.0 {
                keys.reverse();
            }
            let swept = |_: usize, q: Point| volume * (1.0 + 0.35 * (q.x * p / w).max(0.0));
            (None, vec![cap(0.02, &swept, &keys)])
        }
        HairStyle::Long | HairStyle::Bob => {
            let long = who.hair_style == HairStyle::Long;
            let reach = if long { c + 0.2 } else { 0.72 * c };
            let spread = w + volume + if long { 0.05 } else { 0.03 };
            let back = closed_spline(
                &mirror_keys(&[
                    pt(0.0, -t - volume),
                    pt(0.75 * (w + volume), -0.86 * t - volume * 0.6),
                    pt(w + volume, -0.2 * t),
                    pt(spread, 0.45 * c),
                    pt(spread * 0.98, reach),
                    pt(0.55 * w, reach + 0.01),
                ]),
                4,
            );
            let fringe = if long {
                mirror_keys(&[
                    pt(0.0, -1.05 * line),
                    pt(0.6 * w, -0.8 * line),
                    pt(0.9 * w, -0.1),
                    pt(0.97 * w, 0.35 * c),
                ])
            } else {
                mirror_keys(&[
                    pt(0.0, brow_top),
                    pt(0.6 * w, brow_top - 0.004),
                    pt(0.86 * w, brow_top + 0.02),
                    pt(0.92 * w, 0.3 * c),
                ])
            };
            let front = {
                let arc = upper_arc(outline, 0.1);
                let mut points = offset(&arc, centre, plain);
                points.insert(0, pt(-spread * 0.96, 0.35 * c));
                points.push(pt(spread * 0.96, 0.35 * c));
                points.extend(open_spline(&fringe, 4).into_iter().rev());
                Shape::polygon(points)
            };
            (Some(Shape::polygon(back)), vec![front])
        }
        HairStyle::Curly => {
            let n = outline.len() as f32;
            let bumps = move |i: usize, _: Point| {
                volume * 1.6 + 0.025 + 0.02 * ((i as f32 / n) * 2.0 * std::f32::consts::PI * 14.0).sin().abs()
            };
            (None, vec![cap(0.04, &bumps, &short_line)])
        }
        HairStyle::Spiky => {
            let spikes = move |i: usize, q: Point| volume + if i % 2 == 0 && q.y < -0.3 * t { 0.045 } else { 0.0 };
            (None, vec![cap(0.02, &spikes, &short_line)])
        }
    };
    let strands = strands(who.hair_style, &front, w, t, line);
    (back, front, strands)
}

/// A few pen lines running from the hairline towards the crown, clipped to the hair.
fn strands(style: HairStyle, hair: &[Shape], w: f32, t: f32, line: f32) -> Vec<Shape> {
    let Some(region) = hair.first() else { return Vec::new() };
    if style == HairStyle::Bald {
        return Vec::new();
    }
    (0..7)
        .map(|i| {
            let u = (i as f32 - 3.0) / 3.0;
            let start = pt(u * 0.75 * w, -line * (1.0 - 0.35 * u * u) + 0.01);
            let end = pt(u * 0.35 * w, -t - 0.05);
            let mid = pt(u * 0.7 * w, (start.y + end.y) * 0.5);
            Shape::stroke(quad(start, mid, end, 6), 0.0022, 0.0006).clipped_to(region.clone())
        })
        .collect()
}

/// The beard (or stubble) region and the moustache, if `kind` has them.
pub fn beard(kind: Beard, g: &Geometry, outline: &[Point], mouth_y: f32) -> (Option<Shape>, Option<Shape>) {
    let (w, c) = (g[P::HeadWidth], g[P::ChinDepth]);
    let (len, tip, mw) = (g[P::NoseLength], g[P::NoseTip], g[P::MouthWidth]);
    let lower_face = || {
        // The outline starts at the top and runs down the right side, so its points below
        // the cheeks go from the right cheek round the chin to the left cheek.
        let jaw: Vec<Point> = outline.iter().copied().filter(|q| q.y > 0.2 * c).collect();
        let mut jaw = offset(&jaw, pt(0.0, 0.2 * c), |_, _| 0.01);
        let under_nose = len + tip + 0.008;
        let cheek = mirror_keys(&[pt(0.0, under_nose), pt(mw * 1.25, len + 0.01), pt(0.8 * w, 0.2 * c)]);
        jaw.extend(open_spline(&cheek, 4));
        Shape::polygon(jaw)
    };
    let moustache = || {
        let y = mouth_y - g[P::LipThickness] * 0.9 - 0.006;
        let points = quad(pt(-mw * 1.1, mouth_y + 0.004), pt(0.0, y - 0.02), pt(mw * 1.1, mouth_y + 0.004), 12);
        let n = points.len();
        let widths = (0..n).map(|i| {
            let t = i as f32 / (n - 1) as f32;
            0.003 + 0.008 * (1.0 - (2.0 * t - 1.0).powi(2))
        });
        Shape::stroke_with(points, widths.collect())
    };
    match kind {
        Beard::None => (None, None),
        Beard::Stubble | Beard::Full => {
            (Some(lower_face()), if kind == Beard::Full { Some(moustache()) } else { None })
        }
        Beard::Moustache => (None, Some(moustache())),
        Beard::Goatee => {
            // A chin patch from just under the lower lip, reaching up to the mouth's
            // corners to meet the moustache.
            let under_lip = mouth_y + g[P::LipThickness] * 1.3 + 0.004;
            let keys =
                mirror_keys(&[pt(0.0, c + 0.012), pt(mw * 0.95, c - 0.03), pt(mw * 1.15, mouth_y), pt(0.0, under_lip)]);
            (Some(Shape::polygon(closed_spline(&keys[..keys.len() - 1], 4))), Some(moustache()))
        }
    }
}
