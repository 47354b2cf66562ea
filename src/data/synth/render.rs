//! The rasteriser: layers of shapes painted back to front onto a float RGB canvas, with
//! analytic anti-aliasing (coverage from the signed distance over one pixel), simple
//! lighting, and the photographic touches (blur, sensor noise, a lighting gradient).

use super::face::Rgb;
use super::parts::Dome;
use super::shape::{pt, Point, Rect, Shape};
use crate::data::RgbImage;
use crate::rng::Rng;

/// Where the face sits in the image: pixel = offset + scale · R(angle) · (face − anchor).
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    pub size: usize,
    anchor: Point,
    /// Pixels per face unit.
    scale: f32,
    cos: f32,
    sin: f32,
    offset: Point,
}

impl Frame {
    pub fn new(size: usize, anchor: Point, scale: f32, angle: f32, offset: Point) -> Frame {
        Frame { size, anchor, scale, cos: angle.cos(), sin: angle.sin(), offset }
    }

    /// The face point under pixel coordinates `(x, y)` (pixel centres at `i + 0.5`).
    fn to_face(self, x: f32, y: f32) -> Point {
        let d = pt(x - self.offset.x, y - self.offset.y) * (1.0 / self.scale);
        pt(d.x * self.cos + d.y * self.sin, -d.x * self.sin + d.y * self.cos) + self.anchor
    }

    fn to_pixel(self, p: Point) -> Point {
        let d = (p - self.anchor) * self.scale;
        pt(d.x * self.cos - d.y * self.sin, d.x * self.sin + d.y * self.cos) + self.offset
    }

    /// One pixel's width in face units.
    pub fn pixel(&self) -> f32 {
        1.0 / self.scale
    }

    /// The pixels (half-open ranges of columns and rows) that `r` can touch.
    fn pixel_box(&self, r: Rect) -> Option<(usize, usize, usize, usize)> {
        let b = Rect::around(r.corners().map(|c| self.to_pixel(c)));
        let s = self.size as f32;
        let (x0, y0) = (b.min.x.floor().max(0.0), b.min.y.floor().max(0.0));
        let (x1, y1) = (b.max.x.ceil().min(s), b.max.y.ceil().min(s));
        (x0 < x1 && y0 < y1).then_some((x0 as usize, x1 as usize, y0 as usize, y1 as usize))
    }
}

/// Light from a direction (x right, y down, z towards the viewer). A part facing the
/// viewer keeps its colour; `bands > 0` quantises the shading into that many tones (cel
/// shading).
#[derive(Clone, Copy, Debug)]
pub struct Light {
    pub direction: [f32; 3],
    pub ambient: f32,
    pub diffuse: f32,
    pub specular: f32,
    pub bands: u32,
}

impl Light {
    fn shade(&self, normal: [f32; 3]) -> (f32, f32) {
        let d = self.direction;
        let lambert = (normal[0] * d[0] + normal[1] * d[1] + normal[2] * d[2]).max(0.0);
        let lambert = if self.bands > 0 {
            let b = self.bands as f32;
            ((lambert * b).floor() + 0.5).min(b) / b
        } else {
            lambert
        };
        let front = self.ambient + self.diffuse * d[2].max(0.0);
        // Blinn–Phong highlight with the viewer on +z.
        let half = [d[0], d[1], d[2] + 1.0];
        let hl = (half[0] * half[0] + half[1] * half[1] + half[2] * half[2]).sqrt().max(1e-6);
        let nh = ((normal[0] * half[0] + normal[1] * half[1] + normal[2] * half[2]) / hl).max(0.0);
        ((self.ambient + self.diffuse * lambert) / front.max(1e-3), self.specular * nh.powi(24))
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Fill {
    Flat(Rgb),
    /// Shaded by the light as if it were the surface of `Dome`.
    Lit(Rgb, Dome),
}

/// An outline: half its width in face units, and its colour.
#[derive(Clone, Copy, Debug)]
pub struct Pen {
    pub half_width: f32,
    pub colour: Rgb,
}

/// One shape to paint: fill, then outline, both at `opacity`.
pub struct Layer<'a> {
    pub shape: &'a Shape,
    pub fill: Option<Fill>,
    pub outline: Option<Pen>,
    pub opacity: f32,
}

/// Side of the pixel blocks a layer is first split into.
const BLOCK: usize = 16;

pub struct Canvas {
    pub size: usize,
    rgb: Vec<Rgb>,
}

impl Canvas {
    pub fn new(size: usize, colour: Rgb) -> Canvas {
        Canvas { size, rgb: vec![colour; size * size] }
    }

    /// A linear gradient from `from` to `to` along `angle` (radians, 0 = left to right).
    pub fn gradient(&mut self, from: Rgb, to: Rgb, angle: f32) {
        let (c, s) = (angle.cos(), angle.sin());
        let n = self.size as f32;
        for y in 0..self.size {
            for x in 0..self.size {
                let u = ((x as f32 + 0.5) / n - 0.5) * c + ((y as f32 + 0.5) / n - 0.5) * s;
                let t = (u * std::f32::consts::FRAC_1_SQRT_2 + 0.5).clamp(0.0, 1.0);
                self.rgb[y * self.size + x] = std::array::from_fn(|i| from[i] + (to[i] - from[i]) * t);
            }
        }
    }

    pub fn draw(&mut self, frame: &Frame, light: &Light, layer: &Layer) {
        let reach = layer.outline.map_or(0.0, |p| p.half_width);
        let Some((x0, x1, y0, y1)) = frame.pixel_box(layer.shape.bounds().grow(reach + frame.pixel())) else { return };
        for y in (y0..y1).step_by(BLOCK) {
            for x in (x0..x1).step_by(BLOCK) {
                self.draw_block(frame, light, layer, [x, y, (x + BLOCK).min(x1), (y + BLOCK).min(y1)]);
            }
        }
    }

    /// Paints the pixels `[x0, x1) × [y0, y1)`: skips the block when the distance at its
    /// centre shows it wholly outside the shape and its outline, fills it without further
    /// distances when wholly inside, and otherwise splits it in four, down to pixels.
    fn draw_block(&mut self, frame: &Frame, light: &Light, layer: &Layer, [x0, y0, x1, y1]: [usize; 4]) {
        let px = frame.pixel();
        let reach = layer.outline.map_or(0.0, |p| p.half_width);
        let (w, h) = (x1 - x0, y1 - y0);
        let d = layer.shape.distance(frame.to_face((x0 + x1) as f32 * 0.5, (y0 + y1) as f32 * 0.5));
        if w == 1 && h == 1 {
            let d = d / px;
            let fill = (0.5 - d).clamp(0.0, 1.0);
            let outline = (0.5 - (d.abs() - reach / px)).clamp(0.0, 1.0);
            let p = frame.to_face(x0 as f32 + 0.5, y0 as f32 + 0.5);
            self.paint(y0 * self.size + x0, p, fill, outline, light, layer);
            return;
        }
        // The distance changes by at most one unit per unit moved (1.25 covers the
        // ellipse's estimate); coverage is zero half a pixel outside an edge.
        let margin = (0.5 * ((w * w + h * h) as f32).sqrt() * 1.25 + 0.5) * px;
        if d - margin > reach {
            return;
        }
        if d + margin < -reach {
            for y in y0..y1 {
                for x in x0..x1 {
                    let p = frame.to_face(x as f32 + 0.5, y as f32 + 0.5);
                    self.paint(y * self.size + x, p, 1.0, 0.0, light, layer);
                }
            }
            return;
        }
        let (xm, ym) = (x0 + w.div_ceil(2), y0 + h.div_ceil(2));
        for [a, b, c, e] in [[x0, y0, xm, ym], [xm, y0, x1, ym], [x0, ym, xm, y1], [xm, ym, x1, y1]] {
            if a < c && b < e {
                self.draw_block(frame, light, layer, [a, b, c, e]);
            }
        }
    }

    /// Paints `layer` at one pixel (face point `p`) with the given coverages.
    fn paint(
        &mut self,
        index: usize,
        p: Point,
        fill_coverage: f32,
        outline_coverage: f32,
        light: &Light,
        layer: &Layer,
    ) {
        let dst = &mut self.rgb[index];
        if let (Some(fill), true) = (layer.fill, fill_coverage > 0.0) {
            let colour = match fill {
                Fill::Flat(c) => c,
                Fill::Lit(c, dome) => {
                    let (shade, highlight) = light.shade(dome_normal(dome, p));
                    c.map(|v| v * shade + highlight)
                }
            };
            blend(dst, colour, fill_coverage * layer.opacity);
        }
        if let (Some(pen), true) = (layer.outline, outline_coverage > 0.0) {
            blend(dst, pen.colour, outline_coverage * layer.opacity);
        }
    }

    /// Multiplies the image by a ramp of slope `strength` along `angle` (uneven lighting).
    pub fn light_gradient(&mut self, strength: f32, angle: f32) {
        let (c, s) = (angle.cos(), angle.sin());
        let n = self.size as f32;
        for y in 0..self.size {
            for x in 0..self.size {
                let u = ((x as f32 + 0.5) / n - 0.5) * c + ((y as f32 + 0.5) / n - 0.5) * s;
                let k = 1.0 + strength * u;
                let v = &mut self.rgb[y * self.size + x];
                *v = v.map(|c| c * k);
            }
        }
    }

    /// Multiplies each channel (white balance, exposure).
    pub fn tint(&mut self, gains: Rgb) {
        self.rgb.iter_mut().for_each(|v| *v = std::array::from_fn(|i| v[i] * gains[i]));
    }

    /// Gaussian blur with standard deviation `sigma` pixels (separable; edges clamp).
    pub fn blur(&mut self, sigma: f32) {
        if sigma < 0.05 {
            return;
        }
        let radius = (sigma * 2.5).ceil() as isize;
        let weights: Vec<f32> = (-radius..=radius).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
        let total: f32 = weights.iter().sum();
        let weights: Vec<f32> = weights.iter().map(|w| w / total).collect();
        let n = self.size as isize;
        for horizontal in [true, false] {
            let src = self.rgb.clone();
            for y in 0..n {
                for x in 0..n {
                    let mut acc = [0.0f32; 3];
                    for (k, w) in weights.iter().enumerate() {
                        let o = k as isize - radius;
                        let (sx, sy) =
                            if horizontal { ((x + o).clamp(0, n - 1), y) } else { (x, (y + o).clamp(0, n - 1)) };
                        let v = src[(sy * n + sx) as usize];
                        acc.iter_mut().zip(v).for_each(|(a, v)| *a += w * v);
                    }
                    self.rgb[(y * n + x) as usize] = acc;
                }
            }
        }
    }

    /// Sensor noise: about Gaussian, `sigma` in units of full scale, partly shared by the
    /// channels.
    pub fn noise(&mut self, sigma: f32, rng: &mut Rng) {
        for v in &mut self.rgb {
            let luma = bell(rng) * sigma * 0.7;
            *v = v.map(|c| c + luma + bell(rng) * sigma * 0.5);
        }
    }

    pub fn to_image(&self) -> RgbImage {
        let pixels = self.rgb.iter().flat_map(|v| v.map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8)).collect();
        RgbImage { width: self.size, height: self.size, pixels }
    }
}

/// A cheap, nearly standard normal draw: the sum of four 16-bit uniforms from one 64-bit
/// draw, centred and scaled to unit variance (Box–Muller's log and cos cost more than the
/// rest of a noisy photo).
fn bell(rng: &mut Rng) -> f32 {
    let r = rng.next_u64();
    let sum: u64 = (0..4).map(|i| (r >> (16 * i)) & 0xFFFF).sum();
    (sum as f32 / 65536.0 - 2.0) * 3f32.sqrt()
}

fn blend(dst: &mut Rgb, colour: Rgb, alpha: f32) {
    *dst = std::array::from_fn(|i| dst[i] + (colour[i] - dst[i]) * alpha);
}

/// How much flatter than a hemisphere a dome is (faces are not balls).
const DOME_FLATNESS: f32 = 1.6;

/// The outward normal of the ellipsoid `dome` above face point `p` (edge-on outside it).
fn dome_normal(dome: Dome, p: Point) -> [f32; 3] {
    let u = pt((p.x - dome.center.x) / dome.radii.x, (p.y - dome.center.y) / dome.radii.y);
    let r2 = u.dot(u);
    let (x, y, z) = if r2 >= 1.0 {
        let r = r2.sqrt();
        (u.x / r, u.y / r, 0.0)
    } else {
        (u.x, u.y, (1.0 - r2).sqrt() * DOME_FLATNESS)
    };
    let len = (x * x + y * y + z * z).sqrt().max(1e-6);
    [x / len, y / len, z / len]
}
