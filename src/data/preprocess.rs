//! Image preprocessing for the network: bilinear resize, crop, horizontal flip and
//! per-image standardisation, written as HWC f32 (`[size, size, 3]`).

use super::dataset::RgbImage;
use super::standardize;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// How images become network inputs. Training resizes to `image_size + crop_margin`
/// square, crops `image_size` at a random offset and flips half of the images; evaluation
/// resizes the same way and takes the centre crop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Preprocess {
    pub image_size: usize,
    pub crop_margin: usize,
    pub flip: bool,
}

/// Where to cut the `image_size` square out of the resized image, and whether to mirror it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crop {
    pub x: usize,
    pub y: usize,
    pub flip: bool,
}

impl Preprocess {
    /// `image_size` with the default margin, a tenth of the size rounded to nearest
    /// (16 px at 160: a 176 px resize cropped to 160), and flips on.
    pub fn new(image_size: usize) -> Result<Preprocess> {
        if image_size == 0 {
            return Err(Error::invalid("image size", "must be at least 1"));
        }
        Ok(Preprocess { image_size, crop_margin: (image_size + 5) / 10, flip: true })
    }

    /// The side the image is resized to before cropping.
    pub fn resized_size(&self) -> usize {
        self.image_size + self.crop_margin
    }

    /// Values in one preprocessed image.
    pub fn output_len(&self) -> usize {
        self.image_size * self.image_size * 3
    }

    /// A uniformly random offset in `0..=crop_margin` on each axis, and a flip with
    /// probability ½ when flips are on.
    pub fn random_crop(&self, rng: &mut Rng) -> Crop {
        let x = rng.below(self.crop_margin + 1);
        let y = rng.below(self.crop_margin + 1);
        let flip = self.flip && rng.uniform() < 0.5;
        Crop { x, y, flip }
    }

    /// The centred crop (offset `crop_margin / 2`, rounded down), unflipped.
    pub fn centre_crop(&self) -> Crop {
        Crop { x: self.crop_margin / 2, y: self.crop_margin / 2, flip: false }
    }

    /// Resizes `image`, cuts `crop` out of it, mirrors it if asked and standardises it into
    /// `out` (`output_len()` values). Only the cropped window is interpolated: the result
    /// equals resizing the whole image and then cropping.
    pub fn apply(&self, image: &RgbImage, crop: Crop, out: &mut [f32]) -> Result<()> {
        check_image(image)?;
        let (size, full) = (self.image_size, self.resized_size());
        if crop.x + size > full || crop.y + size > full {
            return Err(Error::invalid("crop", format!("{crop:?} leaves the {full}×{full} resized image")));
        }
        if out.len() != self.output_len() {
            return Err(Error::invalid("preprocess output", format!("{} values for {size}×{size}×3", out.len())));
        }
        let mut xs = taps(image.width, full)[crop.x..crop.x + size].to_vec();
        if crop.flip {
            xs.reverse();
        }
        let ys = &taps(image.height, full)[crop.y..crop.y + size];
        resample(image, &xs, ys, out);
        standardize(out);
        Ok(())
    }
}

/// Bilinear resize to `width × height` with pixel centres aligned (TensorFlow 2's
/// `resize(bilinear)`, PyTorch's `align_corners=False`, no antialiasing), HWC f32 in
/// `0..=255`.
pub fn resize_bilinear(image: &RgbImage, width: usize, height: usize) -> Result<Vec<f32>> {
    check_image(image)?;
    let mut out = vec![0.0; width * height * 3];
    resample(image, &taps(image.width, width), &taps(image.height, height), &mut out);
    Ok(out)
}

fn check_image(image: &RgbImage) -> Result<()> {
    if image.width == 0 || image.height == 0 || image.pixels.len() != image.width * image.height * 3 {
        return Err(Error::invalid(
            "image",
            format!(
                "{}×{} with {} bytes (expected a non-empty RGB image)",
                image.width,
                image.height,
                image.pixels.len()
            ),
        ));
    }
    Ok(())
}

/// The two source pixels one output pixel reads along an axis, and the weight of the second.
#[derive(Clone, Copy)]
struct Tap {
    lo: usize,
    hi: usize,
    frac: f32,
}

/// Output position `d` samples source position `(d + ½)·src/dst − ½`, clamped to the edge.
fn taps(src: usize, dst: usize) -> Vec<Tap> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let s = ((d as f64 + 0.5) * scale - 0.5).clamp(0.0, (src - 1) as f64);
            let lo = s.floor() as usize;
            Tap { lo, hi: (lo + 1).min(src - 1), frac: (s - lo as f64) as f32 }
        })
        .collect()
}

/// `out[y][x] = bilinear(image, xs[x], ys[y])`, HWC: each source row the output reads is
/// interpolated along x once, then neighbouring rows are blended along y.
fn resample(image: &RgbImage, xs: &[Tap], ys: &[Tap], out: &mut [f32]) {
    let src_row = image.width * 3;
    let interpolate_row = |y: usize, dst: &mut [f32]| {
        let src = &image.pixels[y * src_row..][..src_row];
        for (d, t) in dst.chunks_exact_mut(3).zip(xs) {
            let (a, b) = (&src[t.lo * 3..][..3], &src[t.hi * 3..][..3]);
            for c in 0..3 {
                d[c] = f32::from(a[c]) + t.frac * (f32::from(b[c]) - f32::from(a[c]));
            }
        }
    };
    let row_len = xs.len() * 3;
    let (mut top, mut bottom) = (vec![0.0f32; row_len], vec![0.0f32; row_len]);
    let (mut top_y, mut bottom_y) = (usize::MAX, usize::MAX);
    for (out_row, ty) in out.chunks_exact_mut(row_len).zip(ys) {
        if ty.lo == bottom_y && ty.lo != top_y {
            std::mem::swap(&mut top, &mut bottom);
            std::mem::swap(&mut top_y, &mut bottom_y);
        }
        if top_y != ty.lo {
            interpolate_row(ty.lo, &mut top);
            top_y = ty.lo;
        }
        if bottom_y != ty.hi {
            interpolate_row(ty.hi, &mut bottom);
            bottom_y = ty.hi;
        }
        for ((o, t), b) in out_row.iter_mut().zip(&top).zip(&bottom) {
            *o = t + ty.frac * (b - t);
        }
    }
}
