//! 2-D shapes as signed distance functions (negative inside), the curves that build them,
//! and their bounding boxes. Distances are in face units; the rasteriser turns them into
//! anti-aliased coverage.

use std::ops::{Add, Mul, Sub};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

pub const fn pt(x: f32, y: f32) -> Point {
    Point { x, y }
}

impl Point {
    pub fn dot(self, o: Point) -> f32 {
        self.x * o.x + self.y * o.y
    }

    pub fn length(self) -> f32 {
        self.dot(self).sqrt()
    }

    /// The point mirrored across the vertical axis (left ↔ right of the face).
    pub fn mirror(self) -> Point {
        pt(-self.x, self.y)
    }
}

impl Add for Point {
    type Output = Point;
    fn add(self, o: Point) -> Point {
        pt(self.x + o.x, self.y + o.y)
    }
}

impl Sub for Point {
    type Output = Point;
    fn sub(self, o: Point) -> Point {
        pt(self.x - o.x, self.y - o.y)
    }
}

impl Mul<f32> for Point {
    type Output = Point;
    fn mul(self, s: f32) -> Point {
        pt(self.x * s, self.y * s)
    }
}

/// An axis-aligned box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub min: Point,
    pub max: Point,
}

impl Rect {
    pub fn around(points: impl IntoIterator<Item = Point>) -> Rect {
        let mut r = Rect { min: pt(f32::INFINITY, f32::INFINITY), max: pt(f32::NEG_INFINITY, f32::NEG_INFINITY) };
        for p in points {
            r.min = pt(r.min.x.min(p.x), r.min.y.min(p.y));
            r.max = pt(r.max.x.max(p.x), r.max.y.max(p.y));
        }
        r
    }

    pub fn grow(self, by: f32) -> Rect {
        Rect { min: pt(self.min.x - by, self.min.y - by), max: pt(self.max.x + by, self.max.y + by) }
    }

    pub fn union(self, o: Rect) -> Rect {
        Rect::around([self.min, self.max, o.min, o.max])
    }

    pub fn intersect(self, o: Rect) -> Rect {
        Rect {
            min: pt(self.min.x.max(o.min.x), self.min.y.max(o.min.y)),
            max: pt(self.max.x.min(o.max.x), self.max.y.min(o.max.y)),
        }
    }

    pub fn corners(self) -> [Point; 4] {
        [self.min, pt(self.max.x, self.min.y), self.max, pt(self.min.x, self.max.y)]
    }
}

#[derive(Clone, Debug)]
pub enum Shape {
    /// A rotated ellipse (Quílez's first-order distance estimate: exact on the boundary,
    /// close to it nearby, which is all anti-aliasing needs).
    Ellipse { center: Point, radii: Point, cos: f32, sin: f32 },
    /// A closed polygon (exact distance; the sign follows the even-odd rule).
    Polygon { points: Vec<Point> },
    /// An open polyline thickened by a half-width given at each point (a tapered pen line).
    Stroke { points: Vec<Point>, half_widths: Vec<f32> },
    /// The part of the first shape inside the second (an iris inside the eye's opening).
    Intersection(Box<Shape>, Box<Shape>),
}

impl Shape {
    pub fn ellipse(center: Point, radii: Point, angle: f32) -> Shape {
        Shape::Ellipse { center, radii, cos: angle.cos(), sin: angle.sin() }
    }

    pub fn circle(center: Point, radius: f32) -> Shape {
        Shape::ellipse(center, pt(radius, radius), 0.0)
    }

    pub fn polygon(points: Vec<Point>) -> Shape {
        Shape::Polygon { points }
    }

    /// A pen line whose half-width goes linearly from `start` to `end` along the points.
    pub fn stroke(points: Vec<Point>, start: f32, end: f32) -> Shape {
        let n = points.len().max(2) - 1;
        let half_widths = (0..points.len()).map(|i| start + (end - start) * i as f32 / n as f32).collect();
        Shape::Stroke { points, half_widths }
    }

    /// A pen line with a half-width per point.
    pub fn stroke_with(points: Vec<Point>, half_widths: Vec<f32>) -> Shape {
        debug_assert_eq!(points.len(), half_widths.len());
        Shape::Stroke { points, half_widths }
    }

    pub fn clipped_to(self, clip: Shape) -> Shape {
        Shape::Intersection(Box::new(self), Box::new(clip))
    }

    /// Signed distance from `p` to the shape's edge: negative inside.
    pub fn distance(&self, p: Point) -> f32 {
        match self {
            Shape::Ellipse { center, radii, cos, sin } => {
                let d = p - *center;
                let q = pt(d.x * cos + d.y * sin, -d.x * sin + d.y * cos);
                let k0 = pt(q.x / radii.x, q.y / radii.y).length();
                let k1 = pt(q.x / (radii.x * radii.x), q.y / (radii.y * radii.y)).length();
                if k1 == 0.0 {
                    -radii.x.min(radii.y)
                } else {
                    k0 * (k0 - 1.0) / k1
                }
            }
            Shape::Polygon { points } => polygon_distance(points, p),
            Shape::Stroke { points, half_widths } => stroke_distance(points, half_widths, p),
            Shape::Intersection(a, b) => a.distance(p).max(b.distance(p)),
        }
    }

    pub fn bounds(&self) -> Rect {
        match self {
            Shape::Ellipse { center, radii, .. } => {
                let r = radii.x.max(radii.y);
                Rect { min: pt(center.x - r, center.y - r), max: pt(center.x + r, center.y + r) }
            }
            Shape::Polygon { points } => Rect::around(points.iter().copied()),
            Shape::Stroke { points, half_widths } => {
                let w = half_widths.iter().fold(0.0f32, |a, &b| a.max(b));
                Rect::around(points.iter().copied()).grow(w)
            }
            Shape::Intersection(a, b) => a.bounds().intersect(b.bounds()),
        }
    }
}

fn polygon_distance(points: &[Point], p: Point) -> f32 {
    let n = points.len();
    let mut d2 = f32::INFINITY;
    let mut inside = false;
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (points[i], points[j]);
        let e = b - a;
        let w = p - a;
        let t = (w.dot(e) / e.dot(e).max(1e-12)).clamp(0.0, 1.0);
        let r = w - e * t;
        d2 = d2.min(r.dot(r));
        if (a.y > p.y) != (b.y > p.y) && p.x < a.x + (p.y - a.y) * e.x / e.y {
            inside = !inside;
        }
        j = i;
    }
    if inside {
        -d2.sqrt()
    } else {
        d2.sqrt()
    }
}

fn stroke_distance(points: &[Point], half_widths: &[f32], p: Point) -> f32 {
    let mut best = f32::INFINITY;
    for i in 1..points.len() {
        let (a, b) = (points[i - 1], points[i]);
        let e = b - a;
        let w = p - a;
        let t = (w.dot(e) / e.dot(e).max(1e-12)).clamp(0.0, 1.0);
        let hw = half_widths[i - 1] + (half_widths[i] - half_widths[i - 1]) * t;
        best = best.min((w - e * t).length() - hw);
    }
    best
}

/// `n + 1` points on the quadratic Bézier curve from `a` to `b` pulled towards `c`.
pub fn quad(a: Point, c: Point, b: Point, n: usize) -> Vec<Point> {
    (0..=n)
        .map(|i| {
            let t = i as f32 / n as f32;
            a * ((1.0 - t) * (1.0 - t)) + c * (2.0 * t * (1.0 - t)) + b * (t * t)
        })
        .collect()
}

/// A closed Catmull–Rom curve through `keys`, `per_segment` points per key.
pub fn closed_spline(keys: &[Point], per_segment: usize) -> Vec<Point> {
    let n = keys.len();
    let mut out = Vec::with_capacity(n * per_segment);
    for i in 0..n {
        let (p0, p1, p2, p3) = (keys[(i + n - 1) % n], keys[i], keys[(i + 1) % n], keys[(i + 2) % n]);
        for s in 0..per_segment {
            out.push(catmull_rom(p0, p1, p2, p3, s as f32 / per_segment as f32));
        }
    }
    out
}

/// An open Catmull–Rom curve through `keys` (end tangents from the end segments).
pub fn open_spline(keys: &[Point], per_segment: usize) -> Vec<Point> {
    let n = keys.len();
    let at = |i: isize| -> Point {
        if i < 0 {
            keys[0] * 2.0 - keys[1]
        } else if i as usize >= n {
            keys[n - 1] * 2.0 - keys[n - 2]
        } else {
            keys[i as usize]
        }
    };
    let mut out = Vec::with_capacity((n - 1) * per_segment + 1);
    for i in 0..n as isize - 1 {
        for s in 0..per_segment {
            out.push(catmull_rom(at(i - 1), at(i), at(i + 1), at(i + 2), s as f32 / per_segment as f32));
        }
    }
    out.push(keys[n - 1]);
    out
}

fn catmull_rom(p0: Point, p1: Point, p2: Point, p3: Point, t: f32) -> Point {
    let (t2, t3) = (t * t, t * t * t);
    (p1 * 2.0 + (p2 - p0) * t + (p0 * 2.0 - p1 * 5.0 + p2 * 4.0 - p3) * t2 + (p1 * 3.0 - p0 - p2 * 3.0 + p3) * t3) * 0.5
}

/// `n` points evenly spaced in angle on an ellipse, starting at angle `from` (radians,
/// 0 = +x, counter-clockwise towards −y since y points down).
pub fn ellipse_points(center: Point, radii: Point, from: f32, to: f32, n: usize) -> Vec<Point> {
    (0..n)
        .map(|i| {
            let a = from + (to - from) * i as f32 / (n - 1).max(1) as f32;
            pt(center.x + radii.x * a.cos(), center.y - radii.y * a.sin())
        })
        .collect()
}

/// The open polyline `points` moved outwards (away from `center`, along its normals) by
/// `by(index, point)`.
pub fn offset(points: &[Point], center: Point, by: impl Fn(usize, Point) -> f32) -> Vec<Point> {
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

/// `[m0, m1, …]` → `[mirror(m_last) … mirror(m1), m0, m1 … m_last]`: keys from the left
/// side through the middle (`m0`, on the axis) to the right.
pub fn mirror_keys(right: &[Point]) -> Vec<Point> {
    let mut keys: Vec<Point> = right[1..].iter().rev().map(|q| q.mirror()).collect();
    keys.extend(right);
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polygon_distance_is_signed_and_exact_for_a_square() {
        let sq = Shape::polygon(vec![pt(0.0, 0.0), pt(1.0, 0.0), pt(1.0, 1.0), pt(0.0, 1.0)]);
        assert!((sq.distance(pt(0.5, 0.5)) + 0.5).abs() < 1e-6);
        assert!((sq.distance(pt(2.0, 0.5)) - 1.0).abs() < 1e-6);
        assert!((sq.distance(pt(2.0, 2.0)) - 2f32.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn ellipse_distance_is_zero_on_the_boundary_and_signed() {
        let e = Shape::ellipse(pt(1.0, 2.0), pt(3.0, 1.0), 0.3);
        let on = pt(1.0 + 3.0 * 0.3f32.cos(), 2.0 + 3.0 * 0.3f32.sin());
        assert!(e.distance(on).abs() < 1e-5);
        assert!(e.distance(pt(1.0, 2.0)) < 0.0);
        assert!(e.distance(pt(9.0, 2.0)) > 0.0);
    }

    #[test]
    fn tapered_stroke_is_thick_at_the_start_and_thin_at_the_end() {
        let s = Shape::stroke(vec![pt(0.0, 0.0), pt(10.0, 0.0)], 1.0, 0.0);
        assert!((s.distance(pt(0.0, 0.5)) + 0.5).abs() < 1e-6);
        assert!((s.distance(pt(10.0, 0.5)) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn splines_pass_through_their_keys() {
        let keys = [pt(0.0, 0.0), pt(1.0, 0.5), pt(2.0, 0.0), pt(1.0, -1.0)];
        let closed = closed_spline(&keys, 4);
        assert_eq!(closed.len(), 16);
        assert_eq!(closed[4], keys[1]);
        let open = open_spline(&keys, 3);
        assert_eq!(open.len(), 10);
        assert_eq!(open[3], keys[1]);
        assert_eq!(*open.last().unwrap(), keys[3]);
    }
}
