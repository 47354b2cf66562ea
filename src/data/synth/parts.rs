//! The shapes of a face's parts, built from its measurements (face units, y down, the eye
//! line at y = 0, the face's axis at x = 0). Styles decide how each part is painted.

use super::face::{Geometry, Glasses, Identity, Param as P};
use super::hair;
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
    pub tip: Surface,
    pub bridge: Shape,
    pub wings: [Shape; 2],
    pub nostrils: [Shape; 2],
    pub base: Shape,
}

pub struct Mouth {
    pub upper_lip: Shape,
    pub lower_lip: Shape,
    /// The ellipsoid both lips are shaded as.
    pub dome: Dome,
    pub line: Shape,
}

pub struct Ear {
    pub surface: Surface,
    pub fold: Shape,
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

/// A part with volume: its shape and the ellipsoid it is shaded as.
pub struct Surface {
    pub shape: Shape,
    pub dome: Dome,
}

/// Every part of one face, back to front in the order styles usually paint them.
pub struct Parts {
    pub shoulders: Surface,
    pub neck: Surface,
    pub hair_back: Option<Shape>,
    pub ears: [Ear; 2],
    pub head: Surface,
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
    let head = Surface {
        shape: Shape::polygon(outline.clone()),
        dome: Dome { center: pt(0.0, (top + chin) * 0.5), radii: pt(w * 1.05, (chin - top) * 0.55) },
    };
    let ears = [-1.0, 1.0].map(|s| ear(g, s));
    let mouth_y = g[P::NoseLength] + g[P::MouthGap];
    let (hair_back, hair, strands) = hair::hair(who, g, &outline);
    let (beard, moustache) = hair::beard(who.beard, g, &outline, mouth_y);
    let frame_box = ears.iter().fold(head.shape.bounds(), |b, ear| b.union(ear.surface.shape.bounds()));
    Parts {
        shoulders: shoulders(g, body),
        neck: neck(g, body),
        hair_back,
        ears,
        head,
        folds: [-1.0, 1.0].map(|s| fold(g, s, mouth_y)),
        beard,
        eyes: [-1.0, 1.0].map(|s| eye(g, s, gaze)),
        brows: [-1.0, 1.0].map(|s| brow(g, s)),
        nose: nose(g),
        mouth: mouth(g, mouth_y),
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

fn shoulders(g: &Geometry, body: f32) -> Surface {
    let (c, n) = (g[P::ChinDepth], g[P::NeckWidth] * body);
    let right = [pt(n + 0.012, c + 0.09), pt(0.36 * body, c + 0.2), pt(0.56 * body, c + 0.34), pt(0.62 * body, 1.2)];
    let mut points: Vec<Point> = right.iter().rev().map(|p| p.mirror()).collect();
    points.extend(right);
    points = open_spline(&points, 4);
    points.push(pt(0.0, c + 0.19));
    Surface { shape: Shape::polygon(points), dome: Dome { center: pt(0.0, c + 0.55), radii: pt(0.8 * body, 0.55) } }
}

fn neck(g: &Geometry, body: f32) -> Surface {
    let (c, n) = (g[P::ChinDepth], g[P::NeckWidth] * body);
    let shape = Shape::polygon(vec![pt(-n, 0.4 * c), pt(n, 0.4 * c), pt(n * 1.08, c + 0.3), pt(-n * 1.08, c + 0.3)]);
    Surface { shape, dome: Dome { center: pt(0.0, c), radii: pt(n * 1.2, 0.5) } }
}

fn ear(g: &Geometry, s: f32) -> Ear {
    let (w, size, out) = (g[P::HeadWidth], g[P::EarSize], g[P::EarOut]);
    let rx = 0.02 + 0.55 * out;
    let center = pt(s * (w + out - rx + 0.008), 0.045);
    let radii = pt(rx, size);
    let arc = ellipse_points(pt(0.0, 0.0), radii * 0.6, -1.2, 1.4, 8);
    let fold = arc.into_iter().map(|p| pt(center.x + s * p.x, center.y + p.y)).collect();
    Ear {
        surface: Surface { shape: Shape::ellipse(center, radii, s * 0.12), dome: Dome { center, radii: radii * 1.3 } },
        fold: Shape::stroke(fold, 0.0025, 0.0015),
    }
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
    let tip = pt(0.0, len - tip_r * 0.2);
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
        tip: Surface {
            shape: Shape::ellipse(tip, pt(tip_r * 1.15, tip_r), 0.0),
            dome: Dome { center: tip, radii: pt(tip_r * 1.15, tip_r) * 1.6 },
        },
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
        dome: Dome { center: pt(0.0, y - 0.02), radii: pt(0.12, 0.1) },
        line: Shape::stroke(line.clone(), mw * 0.02, mw * 0.02),
    }
}

fn fold(g: &Geometry, s: f32, mouth_y: f32) -> Shape {
    let (nw, mw) = (g[P::NoseWidth], g[P::MouthWidth]);
    let start = pt(s * nw * 1.35, g[P::NoseLength] - g[P::NoseTip]);
    let end = pt(s * (mw * 1.18).max(nw * 1.5), mouth_y + 0.012);
    Shape::stroke(quad(start, pt(s * (mw * 1.3).max(nw * 1.7), mouth_y - 0.02), end, 8), 0.0012, 0.0004)
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
