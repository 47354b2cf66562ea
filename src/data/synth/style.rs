//! How a face is drawn: as a photo (lit, blurred, noisy) or as a caricature in one of three
//! drawing styles, each with an artist's own choices (colours, pen, exaggeration, pose).

use super::face::{mix, Beard, Geometry, Identity, Rgb};
use super::parts::{self, Dome, Parts};
use super::render::{Canvas, Fill, Frame, Layer, Light, Pen};
use super::shape::pt;
use crate::data::RgbImage;
use crate::rng::Rng;

/// A caricaturist's drawing style.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Ink outlines on paper, little or no colour.
    LineArt,
    /// Posterised flat fills with bold outlines.
    FlatColour,
    /// Painted: cel-shaded fills with thin outlines.
    Shaded,
}

impl Style {
    pub const ALL: [Style; 3] = [Style::LineArt, Style::FlatColour, Style::Shaded];

    pub fn name(self) -> &'static str {
        match self {
            Style::LineArt => "line art",
            Style::FlatColour => "flat colour",
            Style::Shaded => "shaded",
        }
    }
}

/// How one caricature is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Drawing {
    pub style: Style,
    /// Each measurement's deviation from the mean face is multiplied by this.
    pub exaggeration: f32,
}

/// Range of the per-drawing exaggeration factor.
pub const EXAGGERATION: (f32, f32) = (1.5, 3.0);
/// How far (in spreads of the population) an artist misjudges each measurement before
/// exaggerating it.
const ARTIST_JITTER: f32 = 0.5;
/// How much a measurement changes between photos (expression, small head turns).
const PHOTO_JITTER: f32 = 0.15;

/// Picks a style and an exaggeration factor for one caricature.
pub fn choose_drawing(rng: &mut Rng) -> Drawing {
    let style = Style::ALL[rng.below(Style::ALL.len())];
    Drawing { style, exaggeration: rng.uniform_in(EXAGGERATION.0, EXAGGERATION.1) }
}

/// The colours and pen of one image.
struct Look {
    skin: Rgb,
    hair: Rgb,
    iris: Rgb,
    lips: Rgb,
    shirt: Rgb,
    frames: Rgb,
    ink: Rgb,
    paper: Rgb,
    /// Outline half-width in face units (0: no outlines).
    pen: f32,
    /// Opacity of the skin colour wash in line art.
    wash: f32,
    style: Option<Style>,
}

impl Look {
    fn photo(who: &Identity, rng: &mut Rng) -> Look {
        Look {
            skin: who.skin,
            hair: who.hair,
            iris: who.iris,
            lips: lips(who.skin),
            shirt: random_colour(0.15, 0.85, 0.5, rng),
            frames: who.frames,
            ink: [0.0; 3],
            paper: [1.0; 3],
            pen: 0.0,
            wash: 0.0,
            style: None,
        }
    }

    fn drawing(who: &Identity, style: Style, rng: &mut Rng) -> Look {
        let ink = match rng.below(4) {
            0 => [0.23, 0.13, 0.08],
            1 => [0.08, 0.09, 0.16],
            _ => [0.05, 0.05, 0.05],
        };
        let (mut skin, mut hair) = (shade(who.skin, 0.15, 0.06, rng), shade(who.hair, 0.15, 0.12, rng));
        let (mut iris, mut shirt) = (who.iris, random_colour(0.25, 0.9, 0.8, rng));
        if style == Style::FlatColour {
            [skin, hair, iris, shirt] = [skin, hair, iris, shirt].map(posterise);
        }
        let pen = match style {
            Style::LineArt => rng.uniform_in(0.0035, 0.006),
            Style::FlatColour => rng.uniform_in(0.004, 0.0065),
            Style::Shaded => rng.uniform_in(0.002, 0.0035),
        };
        let paper = [0.97, 0.95, 0.9].map(|c: f32| c - rng.uniform_in(0.0, 0.05));
        Look {
            skin,
            hair,
            iris,
            lips: lips(skin),
            shirt,
            frames: if style == Style::LineArt { ink } else { who.frames },
            ink: if style == Style::Shaded { mix(ink, hair.map(|c| c * 0.4), 0.5) } else { ink },
            paper,
            pen,
            wash: if rng.uniform() < 0.5 { rng.uniform_in(0.15, 0.45) } else { 0.0 },
            style: Some(style),
        }
    }
}

/// `c` made up to `brightness` lighter or darker and each channel then scaled by up to
/// `1 ± hue` (an artist's own idea of a skin or hair colour; relative, so that black hair
/// stays black).
fn shade(c: Rgb, brightness: f32, hue: f32, rng: &mut Rng) -> Rgb {
    let k = 1.0 + rng.uniform_in(-brightness, brightness);
    c.map(|v| (v * k * (1.0 + rng.uniform_in(-hue, hue))).clamp(0.0, 1.0))
}

fn lips(skin: Rgb) -> Rgb {
    mix(skin.map(|c| c * 0.8), [0.7, 0.28, 0.3], 0.45)
}

/// A random colour: value in `lo..hi`, saturation up to `saturation`.
fn random_colour(lo: f32, hi: f32, saturation: f32, rng: &mut Rng) -> Rgb {
    let value = rng.uniform_in(lo, hi);
    let s = rng.uniform() * saturation;
    let hue = rng.uniform() * 6.0;
    std::array::from_fn(|i| {
        let k = (hue + [5.0, 3.0, 1.0][i]) % 6.0;
        value * (1.0 - s * (k.min(4.0 - k).clamp(0.0, 1.0)))
    })
}

/// Few flat tones: a little more saturated, brightness quantised to sixths (the darkest
/// tones kept as they are), hue kept.
fn posterise(c: Rgb) -> Rgb {
    let l = (c[0] + c[1] + c[2]) / 3.0;
    let c = c.map(|v| (l + (v - l) * 1.2).clamp(0.0, 1.0));
    let value = c.iter().fold(0.0f32, |a, &b| a.max(b));
    let stepped = (value * 6.0).round() / 6.0;
    if stepped == 0.0 {
        return c;
    }
    c.map(|v| (v * stepped / value).min(1.0))
}

fn darker(c: Rgb, k: f32) -> Rgb {
    c.map(|v| v * k)
}

fn luminance(c: Rgb) -> f32 {
    0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2]
}

/// A photo of `who` at `size` pixels.
pub fn photo(who: &Identity, size: usize, rng: &mut Rng) -> RgbImage {
    let look = Look::photo(who, rng);
    let geometry = who.geometry.jittered(PHOTO_JITTER, rng);
    let gaze = pt(rng.uniform_in(-1.0, 1.0), rng.uniform_in(-0.6, 0.6));
    let parts = parts::build(who, &geometry, gaze, 1.0);
    let frame = framing(&parts, size, 0.08, 0.05, 0.025, rng);
    let light = photo_light(rng);
    let mut canvas = Canvas::new(size, [0.5; 3]);
    canvas.gradient(random_colour(0.45, 0.8, 0.15, rng), random_colour(0.4, 0.75, 0.15, rng), rng.uniform() * 6.3);
    paint(&mut canvas, &frame, &light, &parts, who, &look);
    let px = size as f32 / 112.0;
    canvas.light_gradient(rng.uniform_in(0.0, 0.4), rng.uniform() * 6.3);
    canvas.tint([0; 3].map(|_| rng.uniform_in(0.9, 1.06)));
    canvas.blur(rng.uniform_in(0.2, 0.75) * px);
    canvas.noise(rng.uniform_in(0.005, 0.025), rng);
    canvas.to_image()
}

fn photo_light(rng: &mut Rng) -> Light {
    // From the side or above, never from below.
    let azimuth = rng.uniform_in(-1.4, 1.4) - std::f32::consts::FRAC_PI_2;
    let z = rng.uniform_in(0.55, 0.9);
    let r = (1.0 - z * z).sqrt();
    Light {
        direction: [r * azimuth.cos(), r * azimuth.sin(), z],
        ambient: rng.uniform_in(0.5, 0.65),
        diffuse: 0.45,
        specular: rng.uniform_in(0.0, 0.04),
        bands: 0,
    }
}

/// A caricature of `who` drawn as `drawing` at `size` pixels.
pub fn caricature(who: &Identity, drawing: Drawing, size: usize, rng: &mut Rng) -> RgbImage {
    let look = Look::drawing(who, drawing.style, rng);
    let geometry: Geometry = who.geometry.jittered(ARTIST_JITTER, rng).exaggerated(drawing.exaggeration);
    let gaze = pt(rng.uniform_in(-0.6, 0.6), rng.uniform_in(-0.4, 0.4));
    let parts = parts::build(who, &geometry, gaze, rng.uniform_in(0.7, 0.9));
    let frame = framing(&parts, size, 0.22, 0.12, 0.06, rng);
    let mut canvas = Canvas::new(size, look.paper);
    let light = match drawing.style {
        Style::LineArt => Light { direction: [0.0, 0.0, 1.0], ambient: 1.0, diffuse: 0.0, specular: 0.0, bands: 0 },
        Style::FlatColour => {
            canvas = Canvas::new(size, random_colour(0.5, 1.0, 0.7, rng));
            Light { direction: [0.0, 0.0, 1.0], ambient: 1.0, diffuse: 0.0, specular: 0.0, bands: 0 }
        }
        Style::Shaded => {
            canvas.gradient(random_colour(0.4, 1.0, 0.6, rng), random_colour(0.3, 0.9, 0.6, rng), rng.uniform() * 6.3);
            let a = rng.uniform_in(-0.8, 0.8) + if rng.uniform() < 0.5 { 0.0 } else { std::f32::consts::PI };
            Light { direction: [0.6 * a.cos(), -0.35, 0.72], ambient: 0.5, diffuse: 0.6, specular: 0.0, bands: 3 }
        }
    };
    paint(&mut canvas, &frame, &light, &parts, who, &look);
    let px = size as f32 / 112.0;
    canvas.blur(0.3 * px);
    canvas.noise(0.01, rng);
    canvas.to_image()
}

/// Scales the head to a fixed share of the image, then turns, scales and shifts it by up
/// to `angle` radians, `scale` (relative) and `shift` (share of the image).
fn framing(parts: &Parts, size: usize, angle: f32, scale: f32, shift: f32, rng: &mut Rng) -> Frame {
    let b = parts.frame_box;
    let (w, h) = (b.max.x - b.min.x, b.max.y - b.min.y);
    let s = size as f32;
    let fit = (0.7 * s / h).min(0.9 * s / w) * (1.0 + rng.uniform_in(-scale, scale));
    let anchor = pt((b.min.x + b.max.x) * 0.5, (b.min.y + b.max.y) * 0.5);
    let offset = pt(s * (0.5 + rng.uniform_in(-shift, shift)), s * (0.54 + rng.uniform_in(-shift, shift)));
    Frame::new(size, anchor, fit, rng.uniform_in(-angle, angle), offset)
}

/// Builds the layers of `parts` in `look`'s style and draws them.
fn paint(canvas: &mut Canvas, frame: &Frame, light: &Light, parts: &Parts, who: &Identity, look: &Look) {
    let mut layers: Vec<Layer> = Vec::with_capacity(64);
    let style = look.style;
    let photo = style.is_none();
    let line_art = style == Some(Style::LineArt);
    // Outlines `scale` times the look's pen width (none in photos).
    let pen = |scale: f32| (look.pen > 0.0).then_some(Pen { half_width: look.pen * scale, colour: look.ink });
    // A surface: lit in photos and shaded drawings, flat in flat colour, paper (with an
    // optional wash of `wash_colour`) in line art.
    let fill = |c: Rgb, dome: Dome, wash_colour: Rgb| match style {
        None | Some(Style::Shaded) => Fill::Lit(c, dome),
        Some(Style::FlatColour) => Fill::Flat(c),
        Some(Style::LineArt) => Fill::Flat(mix(look.paper, wash_colour, look.wash)),
    };
    let solid = |shape, fill: Fill, outline: Option<Pen>| Layer { shape, fill: Some(fill), outline, opacity: 1.0 };
    let line =
        |shape, colour: Rgb, opacity: f32| Layer { shape, fill: Some(Fill::Flat(colour)), outline: None, opacity };
    // Fine lines: a darker shade of the skin in photos, the pen in drawings.
    let skin_line = |k: f32| if photo { darker(look.skin, k) } else { look.ink };
    // Ink drawings render dark hair as solid ink.
    let inked_hair = line_art && luminance(who.hair) < 0.4;
    let head = &parts.head;
    let hair_fill = if inked_hair {
        Fill::Flat(mix(look.paper, look.ink, 0.85))
    } else {
        fill(look.hair, Dome { center: head.dome.center, radii: head.dome.radii * 1.15 }, look.paper)
    };

    layers.push(solid(&parts.neck.shape, fill(darker(look.skin, 0.85), parts.neck.dome, look.skin), pen(1.0)));
    layers.push(solid(&parts.shoulders.shape, fill(look.shirt, parts.shoulders.dome, look.shirt), pen(1.0)));
    if let Some(back) = &parts.hair_back {
        layers.push(solid(back, darken_fill(hair_fill, 0.8), pen(1.0)));
    }
    for ear in &parts.ears {
        layers.push(solid(&ear.surface.shape, fill(look.skin, ear.surface.dome, look.skin), pen(1.0)));
        layers.push(line(&ear.fold, skin_line(0.7), if photo { 0.5 } else { 0.8 }));
    }
    layers.push(solid(&head.shape, fill(look.skin, head.dome, look.skin), pen(1.0)));
    for fold in &parts.folds {
        layers.push(line(fold, skin_line(0.78), if photo { 0.35 } else { 0.55 }));
    }
    match (&parts.beard, who.beard) {
        (Some(_), Beard::Stubble) if line_art => {}
        (Some(stubble), Beard::Stubble) => layers.push(Layer {
            shape: stubble,
            fill: Some(Fill::Flat(darker(look.hair, 0.8))),
            outline: None,
            opacity: 0.3,
        }),
        (Some(beard), _) => layers.push(solid(beard, darken_fill(hair_fill, 0.85), pen(1.0))),
        (None, _) => {}
    }
    let white = if line_art { look.paper } else { [0.93, 0.91, 0.88] };
    let iris = if line_art { mix(look.paper, look.iris, look.wash) } else { look.iris };
    let lashes = if photo { mix(look.hair, [0.03, 0.02, 0.02], 0.7) } else { look.ink };
    for eye in &parts.eyes {
        layers.push(solid(&eye.white, Fill::Flat(white), pen(0.5)));
        layers.push(solid(&eye.iris, Fill::Flat(iris), pen(0.4)));
        layers.push(line(&eye.pupil, [0.03; 3], 1.0));
        layers.push(line(&eye.highlight, [1.0; 3], 0.9));
        layers.push(line(&eye.lash, lashes, 0.95));
        layers.push(line(&eye.lower_lid, skin_line(0.7), 0.5));
        layers.push(line(&eye.crease, skin_line(0.75), 0.45));
    }
    for brow in &parts.brows {
        layers.push(match style {
            None => line(brow, darker(look.hair, 0.8), 0.92),
            Some(Style::LineArt) => line(brow, look.ink, 0.95),
            Some(_) => solid(brow, Fill::Flat(darker(look.hair, 0.85)), pen(0.5)),
        });
    }
    let nose = &parts.nose;
    if matches!(style, None | Some(Style::Shaded)) {
        let tip = Fill::Lit(look.skin, nose.tip.dome);
        layers.push(Layer { shape: &nose.tip.shape, fill: Some(tip), outline: None, opacity: 0.5 });
    }
    layers.push(line(&nose.bridge, skin_line(0.65), if photo { 0.3 } else { 0.6 }));
    for wing in &nose.wings {
        layers.push(line(wing, skin_line(0.65), 0.7));
    }
    for nostril in &nose.nostrils {
        layers.push(line(nostril, skin_line(0.3), 0.85));
    }
    if !photo {
        layers.push(line(&nose.base, look.ink, 0.6));
    }
    let mouth = &parts.mouth;
    layers.push(solid(&mouth.upper_lip, fill(darker(look.lips, 0.9), mouth.dome, look.lips), pen(0.6)));
    layers.push(solid(&mouth.lower_lip, fill(look.lips, mouth.dome, look.lips), pen(0.6)));
    layers.push(line(&mouth.line, if photo { darker(look.lips, 0.45) } else { look.ink }, 0.9));
    if let Some(moustache) = &parts.moustache {
        layers.push(solid(moustache, darken_fill(hair_fill, 0.85), pen(1.0)));
    }
    for piece in &parts.hair {
        layers.push(solid(piece, hair_fill, pen(1.0)));
    }
    let strands = match style {
        Some(Style::LineArt) if inked_hair => look.paper,
        Some(Style::LineArt) => look.ink,
        _ => darker(look.hair, 0.6),
    };
    for strand in &parts.strands {
        layers.push(line(strand, strands, if photo { 0.25 } else { 0.45 }));
    }
    if let Some(glasses) = &parts.glasses {
        if photo {
            for lens in &glasses.lenses {
                layers.push(line(lens, [1.0; 3], 0.12));
            }
        }
        for rim in glasses.rims.iter().chain(&glasses.arms).chain([&glasses.bridge]) {
            layers.push(line(rim, look.frames, 1.0));
        }
    }
    for layer in &layers {
        canvas.draw(frame, light, layer);
    }
}

fn darken_fill(fill: Fill, k: f32) -> Fill {
    match fill {
        Fill::Flat(c) => Fill::Flat(darker(c, k)),
        Fill::Lit(c, d) => Fill::Lit(darker(c, k), d),
    }
}
