//! A small procedural face-like dataset, generated on the fly from a seed: each identity
//! is a shared base layout of coloured Gaussian "features" plus its own offsets; photos
//! render the identity with small jitter and noise, caricatures exaggerate the identity's
//! deviation from the base (×1.5–3) and posterise the colours, so the two modalities look
//! alike but not the same.

use super::standardize;
use crate::backend::Device;
use crate::error::{Error, Result};
use crate::model::{Batch, Modality};
use crate::rng::Rng;
use crate::tensor::Tensor;

const FEATURES: usize = 7;

#[derive(Clone, Copy)]
struct Feature {
    x: f32,
    y: f32,
    radius: f32,
    color: [f32; 3],
}

pub struct SyntheticFaces {
    image_size: usize,
    seed: u64,
    base: [Feature; FEATURES],
    identities: Vec<[Feature; FEATURES]>,
}

impl SyntheticFaces {
    pub fn new(identities: usize, image_size: usize, seed: u64) -> Result<SyntheticFaces> {
        if identities == 0 {
            return Err(Error::invalid("--identities", "must be at least 1"));
        }
        let mut rng = Rng::derive(seed, 1);
        let feature = |rng: &mut Rng| Feature {
            x: rng.uniform_in(0.25, 0.75),
            y: rng.uniform_in(0.25, 0.75),
            radius: rng.uniform_in(0.06, 0.14),
            color: [rng.uniform(), rng.uniform(), rng.uniform()],
        };
        let base: [Feature; FEATURES] = std::array::from_fn(|_| feature(&mut rng));
        let identities = (0..identities)
            .map(|_| {
                base.map(|b| Feature {
                    x: b.x + rng.uniform_in(-0.06, 0.06),
                    y: b.y + rng.uniform_in(-0.06, 0.06),
                    radius: b.radius * rng.uniform_in(0.75, 1.3),
                    color: b.color.map(|c| (c + rng.uniform_in(-0.25, 0.25)).clamp(0.0, 1.0)),
                })
            })
            .collect();
        Ok(SyntheticFaces { image_size, seed, base, identities })
    }

    pub fn num_identities(&self) -> usize {
        self.identities.len()
    }

    fn render(&self, identity: usize, modality: Modality, rng: &mut Rng) -> Vec<f32> {
        let s = self.image_size;
        let exaggeration = rng.uniform_in(1.5, 3.0);
        let (dx, dy) = (rng.uniform_in(-0.03, 0.03), rng.uniform_in(-0.03, 0.03));
        let features: Vec<Feature> = self.identities[identity]
            .iter()
            .zip(&self.base)
            .map(|(f, b)| match modality {
                Modality::Photo => Feature { x: f.x + dx, y: f.y + dy, ..*f },
                Modality::Caricature => Feature {
                    x: b.x + exaggeration * (f.x - b.x) + dx,
                    y: b.y + exaggeration * (f.y - b.y) + dy,
                    radius: b.radius + exaggeration * (f.radius - b.radius),
                    color: f.color.map(|c| (c * 3.0).round() / 3.0),
                },
            })
            .collect();
        let noise = if modality == Modality::Photo { 0.08 } else { 0.02 };
        let mut px = vec![0.5f32; s * s * 3];
        for y in 0..s {
            for x in 0..s {
                let (u, v) = (x as f32 / s as f32, y as f32 / s as f32);
                let p = &mut px[(y * s + x) * 3..][..3];
                for f in &features {
                    let d2 = (u - f.x).powi(2) + (v - f.y).powi(2);
                    let a = (-d2 / (2.0 * f.radius * f.radius)).exp();
                    p.iter_mut().zip(f.color).for_each(|(c, fc)| *c += a * (fc - 0.5));
                }
                p.iter_mut().for_each(|c| *c += noise * rng.normal());
            }
        }
        standardize(&mut px);
        px
    }

    /// Batch `index` of size `n`: random identities, photos and caricatures alternating.
    pub fn batch(&self, index: u64, n: usize, device: &Device) -> Result<Batch> {
        let mut rng = Rng::derive(self.seed, index.wrapping_add(2));
        let s = self.image_size;
        let mut pixels = Vec::with_capacity(n * s * s * 3);
        let mut labels = Vec::with_capacity(n);
        let mut modalities = Vec::with_capacity(n);
        for i in 0..n {
            let id = rng.below(self.identities.len());
            let m = if i % 2 == 0 { Modality::Photo } else { Modality::Caricature };
            pixels.extend(self.render(id, m, &mut rng));
            labels.push(id);
            modalities.push(m);
        }
        Batch::new(Tensor::from_vec(pixels, [n, s, s, 3], device)?, labels, modalities)
    }
}
