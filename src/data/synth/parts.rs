//! The shapes of a face's parts, built from its measurements (face units, y down, the eye
//! line at y = 0, the face's axis at x = 0). Styles decide how each part is painted.

use super::face::{Beard, Geometry, Glasses, HairStyle, Identity, Param as P};
use super::shape::{closed_spline, ellipse_points, open_spline, pt, quad, Point, Rect, Shape};

pub struct Eye {
    pub white: Shape,
    pub iris: Shape,
    pub pupil: Shape,
    pub highlight: Shape,
    pub lash: Shape,
    pub lower_lid: Shape,
    pub crease: Shape,
}

pub struct Nose {
    pub tip: Shape,
    pub bridge: Shape,
    pub wings: [Shape; 2],
    pub nostrils: [Shape; 2],
    pub base: Shape,
}

pub struct Mouth {
    pub upper_lip: Shape,
    pub lower_lip: Shape,
    pub line: Shape,
}

pub struct GlassesParts {
    pub lenses: [Shape; 2],
    pub rims: [Shape; 2],
    pub bridge: Shape,
    pub arms: [Shape; 2],
}

/// An ellipsoid a part is shaded as (its normals come from here).
#[derive(Clone, Copy, Debug)]
pub struct Dome {
    pub center: Point,
    pub radii: Point,
}

/// Every part of one face, back to front in the order styles usually paint them.
pub struct Parts {
    pub shoulders: Shape,
    pub neck: Shape,
    pub hair_back: Option<Shape>,
    pub ears: [Shape; 2],
    pub ear_folds: [Shape; 2],
    pub head: Shape,
    pub head_dome: Dome,
    pub folds: [Shape; 2],
    /// Full beard or stubble region (drawn with the beard's opacity).
    pub beard: Option<Shape>,
    pub eyes: [Eye; 2],
    pub brows: [Shape; 2],
    pub nose: Nose,
    pub mouth: Mouth,
    pub moustache: Option<Shape>,
    pub hair: Vec<Shape>,
    /// Pen lines inside the hair (already clipped to it).
    pub strands: Vec<Shape>,
    pub glasses: Option<GlassesParts>,
    /// The box the framing centres and scales: the head with its ears.
    pub frame_box: Rect,
}

/// Lays out `who`'s face with the measurements `g` (the identity's own, or exaggerated),
/// the eyes looking towards `gaze` (each coordinate in −1..1) and the neck and shoulders
/// `body` times their natural width (caricatures put big heads on small bodies).
pub fn build(who: &Identity, g: &Geometry, gaze: Point, body: f32) -> Parts {
    let w = g[P::HeadWidth];
    let top = -g[P::CraniumHeight];
    let chin = g[P::ChinDepth];
    let outline = head_outline(g);
    let head = Shape::polygon(outline.clone());
    let head_dome = Dome { center: pt(0.0, (top + chin) * 0.5), radii: pt(w * 1.05, (chin - top) * 0.55) };
    let ears = ears(g);
    let nose = nose(g);
    let mouth_y = g[P::NoseLength] + g[P::MouthGap];
    let mouth = mouth(g, mouth_y);
    let (hair_back, hair, strands) = hair(who, g, &outline);
    let (beard, moustache) = beard(who.beard, g, &outline, mouth_y);
    let frame_box = head.bounds().union(ears.0[0].bounds()).union(ears.0[1].bounds());
    Parts {
        shoulders: shoulders(g, body),
        neck: neck(g, body),
        hair_back,
        ears: ears.0,
        ear_folds: ears.1,
        head,
        head_dome,
        folds: [-1.0, 1.0].map(|s| fold(g, s, mouth_y)),
        beard,
        eyes: [-1.0, 1.0].map(|s| eye(g, s, gaze)),
        brows: [-1.0, 1.0].map(|s| brow(g, s)),
        nose,
        mouth,
        moustache,
        hair,
        strands,
        glasses: glasses(who.glasses, g),
        frame_box,
    }
}

/// The head's outline: a closed spline through key points of the skull, cheekbones, jaw
/// and chin, symmetric about x = 0, starting at the top and going right first.
fn head_outline(g: &Geometry) -> Vec<Point> {
    let (w, t, c) = (g[P::HeadWidth], g[P::CraniumHeight], g[P::ChinDepth]);
    let right = [
        pt(0.62 * w, -0.87 * t),
        pt(0.93 * w, -0.45 * t),
        pt(w, 0.12 * c),
        pt(g[P::JawWidth] * w, g[P::JawHeight] * c),
        pt(g[P::ChinWidth] * w, 0.95 * c),
    ];
    let mut keys = vec![pt(0.0, -t)];
    keys.extend(right);
    keys.push(pt(0.0, c));
    keys.extend(right.iter().rev().map(|p| p.mirror()));
    closed_spline(&keys, 4)
}

/// The open polyline `points` moved outwards (away from `center`, along its normals) by
/// `by(index, point)`.
fn offset(points: &[Point], center: Point, by: impl Fn(usize, Point) -> f32) -> Vec<Point> {
    let n = points.len();
    (0..n)
        .map(|i| {
            let (a, b) = (points[i.saturating_sub(1)], points[(i + 1).min(n - 1)]);
            let tangent = b - a;
            let mut normal = pt(tangent.y, -tangent.x) * (1.0 / tangent.length().max(1e-9));
            if normal.dot(points[i] - center) < 0.0 {
                normal = normal * -1.0;
            }
            points[i] + normal * by(i, points[i])
        })
        .collect()
}

/// The part of the closed outline above `y` (starting at its top point), from the left
/// end through the top to the right end.
fn upper_arc(outline: &[Point], y: f32) -> Vec<Point> {
    let right: Vec<Point> = outline.iter().copied().take_while(|p| p.y < y && p.x >= 0.0).collect();
    let left: Vec<Point> = outline.iter().rev().copied().take_while(|p| p.y < y && p.x < 0.0).collect();
    left.into_iter().rev().chain(right).collect()
}

fn shoulders(g: &Geometry, body: f32) -> Shape {
    let (c, n) = (g[P::ChinDepth], g[P::NeckWidth] * body);
    let right = [pt(n + 0.012, c + 0.09), pt(0.36 * body, c + 0.2), pt(0.56 * body, c + 0.34), pt(0.62 * body, 1.2)];
    let mut points: Vec<Point> = right.iter().rev().map(|p| p.mirror()).collect();
    points.extend(right);
    points = open_spline(&points, 4);
    points.push(pt(0.0, c + 0.19));
    Shape::polygon(points)
}

fn neck(g: &Geometry, body: f32) -> Shape {
    let (c, n) = (g[P::ChinDepth], g[P::NeckWidth] * body);
    Shape::polygon(vec![pt(-n, 0.4 * c), pt(n, 0.4 * c), pt(n * 1.08, c + 0.3), pt(-n * 1.08, c + 0.3)])
}

fn ears(g: &Geometry) -> ([Shape; 2], [Shape; 2]) {
    let (w, size, out) = (g[P::HeadWidth], g[P::EarSize], g[P::EarOut]);
    let rx = 0.02 + 0.55 * out;
    let cx = w + out - rx + 0.008;
    let cy = 0.045;
    let shape = |s: f32| Shape::ellipse(pt(s * cx, cy), pt(rx, size), s * 0.12);
    let fold = |s: f32| {
        let arc = ellipse_points(pt(0.0, 0.0), pt(rx * 0.55, size * 0.62), -1.2, 1.4, 8);
        let points = arc.into_iter().map(|p| pt(s * (cx + p.x), cy + p.y)).collect();
        Shape::stroke(points, 0.0025, 0.0015)
    };
    ([shape(-1.0), shape(1.0)], [fold(-1.0), fold(1.0)])
}

fn eye(g: &Geometry, s: f32, gaze: Point) -> Eye {
    let ew = g[P::EyeWidth];
    // Eyes may not overlap or leave the face however far they are exaggerated.
    let spacing = g[P::EyeSpacing].max(ew * 1.15).min(g[P::HeadWidth] - ew * 1.1);
    let open = g[P::EyeOpening];
    let c = pt(s * spacing, g[P::EyeHeight]);
    let rise = ew * g[P::EyeTilt].tan() * 0.5;
    let inner = c + pt(-s * ew, rise);
    let outer = c + pt(s * ew, -rise);
    let upper = quad(inner, c + pt(s * 0.12 * ew, -2.1 * open), outer, 10);
    let lower = quad(outer, c + pt(-s * 0.05 * ew, 1.5 * open), inner, 8);
    let mut opening = upper.clone();
    opening.extend(&lower[1..lower.len() - 1]);
    let white = Shape::polygon(opening);
    let iris_r = g[P::IrisSize] * ew;
    let iris_c = c + pt(gaze.x * ew * 0.3, gaze.y * open * 0.3 + 0.15 * open);
    let iris = Shape::circle(iris_c, iris_r).clipped_to(white.clone());
    let pupil = Shape::circle(iris_c, iris_r * 0.42).clipped_to(white.clone());
    let highlight = Shape::circle(iris_c + pt(-0.35, -0.35) * iris_r, iris_r * 0.2).clipped_to(white.clone());
    let lash_widths = (0..upper.len()).map(|i| {
        let t = i as f32 / (upper.len() - 1) as f32;
        ew * (0.05 + 0.07 * t)
    });
    let lash = Shape::stroke_with(upper.clone(), lash_widths.collect());
    let lower_lid = Shape::stroke(lower, ew * 0.02, ew * 0.02);
    let crease = Shape::stroke(
        quad(
            inner + pt(s * 0.25 * ew, -0.9 * open),
            c + pt(s * 0.1 * ew, -3.1 * open),
            outer + pt(0.0, -0.9 * open),
            8,
        ),
        ew * 0.012,
        ew * 0.03,
    );
    Eye { white, iris, pupil, highlight, lash, lower_lid, crease }
}

fn brow(g: &Geometry, s: f32) -> Shape {
    let (ew, th) = (g[P::EyeWidth], g[P::BrowThickness]);
    let spacing = g[P::EyeSpacing].max(ew * 1.15);
    let y = g[P::EyeHeight] - g[P::BrowGap];
    let inner = pt(s * (spacing - 0.95 * ew).max(0.012), y + 0.004);
    let outer = pt(s * (spacing + 1.2 * ew), y - g[P::BrowAngle].tan() * ew * 1.1);
    let middle = pt(s * (spacing + 0.15 * ew), (inner.y + outer.y) * 0.5 - 2.0 * g[P::BrowArch] - 0.004);
    let points = quad(inner, middle, outer, 10);
    let widths = (0..points.len())
        .map(|i| {
            let t = i as f32 / (points.len() - 1) as f32;
            th * if t < 0.3 { 0.9 + 0.5 * t } else { 1.05 - 0.9 * (t - 0.3) / 0.7 }
        })
        .collect();
    Shape::stroke_with(points, widths)
}

fn nose(g: &Geometry) -> Nose {
    let (len, nw, tip_r) = (g[P::NoseLength], g[P::NoseWidth], g[P::NoseTip]);
    let wing = |s: f32| {
        Shape::stroke(
            quad(
                pt(s * nw * 0.55, len - tip_r * 1.7),
                pt(s * nw * 1.3, len - tip_r * 0.1),
                pt(s * nw * 0.5, len + tip_r * 0.55),
                8,
            ),
            0.0012,
            0.0028,
        )
    };
    let nostril = |s: f32| Shape::ellipse(pt(s * nw * 0.42, len + tip_r * 0.3), pt(nw * 0.24, tip_r * 0.36), s * 0.35);
    let bridge = Shape::stroke(
        quad(pt(-0.02, 0.02), pt(-0.026, len * 0.6), pt(-nw * 0.55, len - tip_r * 1.6), 8),
        0.001,
        0.0022,
    );
    let base = Shape::stroke(
        quad(pt(-nw * 0.3, len + tip_r * 0.6), pt(0.0, len + tip_r * 1.15), pt(nw * 0.3, len + tip_r * 0.6), 6),
        0.0015,
        0.0015,
    );
    Nose {
        tip: Shape::ellipse(pt(0.0, len - tip_r * 0.2), pt(tip_r * 1.15, tip_r), 0.0),
        bridge,
        wings: [wing(-1.0), wing(1.0)],
        nostrils: [nostril(-1.0), nostril(1.0)],
        base,
    }
}

fn mouth(g: &Geometry, y: f32) -> Mouth {
    let (mw, lip, curve) = (g[P::MouthWidth], g[P::LipThickness], g[P::MouthCurve]);
    // The line between the lips: corners raised by `curve` above its middle.
    let line_y = |x: f32| y - curve * (x / mw).powi(2);
    let n = 16;
    let xs: Vec<f32> = (0..=n).map(|i| -mw + 2.0 * mw * i as f32 / n as f32).collect();
    let line: Vec<Point> = xs.iter().map(|&x| pt(x, line_y(x))).collect();
    let upper_top: Vec<Point> = xs
        .iter()
        .map(|&x| {
            let u = (x / mw).abs();
            // Highest a third of the way out, dipping at the middle (the Cupid's bow).
            let profile = (1.0 - u).powf(0.6) * (0.8 + 0.45 * (u * std::f32::consts::PI * 1.4).sin().max(0.0));
            pt(x, line_y(x) - lip * 0.95 * profile)
        })
        .collect();
    let lower_bottom: Vec<Point> =
        xs.iter().map(|&x| pt(x, line_y(x) + lip * 1.25 * (1.0 - (x / mw).powi(2)).max(0.0).sqrt())).collect();
    let lip_shape = |edge: &[Point]| {
        let mut points = line.clone();
        points.extend(edge.iter().rev().skip(1).take(n - 1));
        Shape::polygon(points)
    };
    Mouth {
        upper_lip: lip_shape(&upper_top),
        lower_lip: lip_shape(&lower_bottom),
        line: Shape::stroke(line.clone(), mw * 0.02, mw * 0.02),
    }
}

fn fold(g: &Geometry, s: f32, mouth_y: f32) -> Shape {
    let (nw, mw) = (g[P::NoseWidth], g[P::MouthWidth]);
    let start = pt(s * nw * 1.35, g[P::NoseLength] - g[P::NoseTip]);
    let end = pt(s * (mw * 1.18).max(nw * 1.5), mouth_y + 0.012);
    Shape::stroke(quad(start, pt(s * (mw * 1.3).max(nw * 1.7), mouth_y - 0.02), end, 8), 0.0012, 0.0004)
}

fn hair(who: &Identity, g: &Geometry, outline: &[Point]) -> (Option<Shape>, Vec<Shape>, Vec<Shape>) {
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

fn beard(kind: Beard, g: &Geometry, outline: &[Point], mouth_y: f32) -> (Option<Shape>, Option<Shape>) {
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

/// `[m0, m1, …]` → `[mirror(m_last) … mirror(m1), m0, m1 … m_last]`: keys from the left
/// side through the middle (`m0`, on the axis) to the right.
fn mirror_keys(right: &[Point]) -> Vec<Point> {
    let mut keys: Vec<Point> = right[1..].iter().rev().map(|q| q.mirror()).collect();
    keys.extend(right);
    keys
}

fn glasses(kind: Glasses, g: &Geometry) -> Option<GlassesParts> {
    let ew = g[P::EyeWidth];
    let spacing = g[P::EyeSpacing].max(ew * 1.15);
    let y = g[P::EyeHeight] + 0.004;
    let (rx, ry, power) = match kind {
        Glasses::None => return None,
        Glasses::Round => (ew * 1.35, ew * 1.15, 2.0),
        Glasses::Square => (ew * 1.45, ew * 0.95, 5.0),
    };
    let rim_points = |s: f32| -> Vec<Point> {
        (0..=28)
            .map(|i| {
                let a = i as f32 / 28.0 * std::f32::consts::TAU;
                let (c, sn) = (a.cos(), a.sin());
                let e = 2.0 / power;
                pt(s * spacing + rx * c.signum() * c.abs().powf(e), y + ry * sn.signum() * sn.abs().powf(e))
            })
            .collect()
    };
    let lens = |s: f32| Shape::polygon(rim_points(s)[..28].to_vec());
    let rim = |s: f32| Shape::stroke(rim_points(s), 0.0032, 0.0032);
    let inner_x = spacing - rx;
    let bridge =
        Shape::stroke(quad(pt(-inner_x, y - 0.004), pt(0.0, y - 0.016), pt(inner_x, y - 0.004), 6), 0.0028, 0.0028);
    let arm = |s: f32| {
        Shape::stroke(
            vec![pt(s * (spacing + rx), y - 0.005), pt(s * (g[P::HeadWidth] + 0.004), y + 0.012)],
            0.003,
            0.0025,
        )
    };
    Some(GlassesParts {
        lenses: [lens(-1.0), lens(1.0)],
        rims: [rim(-1.0), rim(1.0)],
        bridge,
        arms: [arm(-1.0), arm(1.0)],
    })
}
