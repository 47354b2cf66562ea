//! `synth`: the built-in procedural caricature dataset. Each identity is a mean face plus
//! its own deviation (face shape, eyes, brows, nose, mouth, hair, ears, colours, beard,
//! glasses). Photos render the identity with small changes of pose, expression, lighting,
//! background, blur and noise; caricatures exaggerate its deviation from the mean face
//! 1.5–3× and draw it as line art, flat colour or shaded, each with an artist's own
//! choices. Images are rendered on the fly, deterministically from (seed, index).

mod export;
mod export_webcaricature;
mod face;
mod hair;
mod names;
mod parts;
mod protocol;
mod render;
mod shape;
mod staging;
mod style;

pub use export::{cavi_file_name, cavi_path, export_cavi, ExportSummary};
pub use export_webcaricature::{export_webcaricature, WebCaricatureExportSummary};
pub use face::{Beard, Geometry, Glasses, HairStyle, Identity, Param, ParamSpec, PARAMS};
pub use style::{Drawing, Style, EXAGGERATION};

use super::{Dataset, RgbImage, SampleInfo};
use crate::batch::Modality;
use crate::error::{Error, Result};
use crate::rng::{fnv1a, Rng};

/// What to generate. Every image depends only on these and its index.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SynthConfig {
    pub seed: u64,
    pub identities: usize,
    pub photos_per_identity: usize,
    pub caricatures_per_identity: usize,
    /// Width and height of every image, in pixels.
    pub size: usize,
}

impl Default for SynthConfig {
    fn default() -> SynthConfig {
        SynthConfig { seed: 0, identities: 20, photos_per_identity: 12, caricatures_per_identity: 12, size: 112 }
    }
}

/// The smallest image size the faces stay recognisable at.
pub const MIN_SIZE: usize = 32;
const MAX_SIZE: usize = 4096;
const MAX_IDENTITIES: usize = 100_000;

impl SynthConfig {
    fn check(&self) -> Result<()> {
        if self.identities < 2 || self.identities > MAX_IDENTITIES {
            return Err(Error::invalid(
                "identities",
                format!("{} is outside 2..={MAX_IDENTITIES} (negative pairs need two people)", self.identities),
            ));
        }
        for (field, n) in [
            ("photos_per_identity", self.photos_per_identity),
            ("caricatures_per_identity", self.caricatures_per_identity),
        ] {
            if n < 2 {
                return Err(Error::invalid(
                    field,
                    format!("{n} per identity: need at least 2 (one to train, one to test)"),
                ));
            }
        }
        if !(MIN_SIZE..=MAX_SIZE).contains(&self.size) {
            return Err(Error::invalid("size", format!("{} px is outside {MIN_SIZE}..={MAX_SIZE}", self.size)));
        }
        Ok(())
    }
}

/// The procedural caricature dataset: samples ordered by identity, each identity's photos
/// first, then its caricatures.
pub struct SynthFaces {
    config: SynthConfig,
    names: Vec<String>,
    people: Vec<Identity>,
    samples: Vec<SampleInfo>,
}

/// Random streams, so that identities, names and images draw independent numbers.
fn stream(purpose: &str, index: u64) -> u64 {
    fnv1a(purpose.as_bytes()).wrapping_add(index)
}

impl SynthFaces {
    pub fn new(config: SynthConfig) -> Result<SynthFaces> {
        config.check()?;
        let names = names::names(config.identities, &mut Rng::derive(config.seed, stream("synth/names", 0)));
        let people = (0..config.identities)
            .map(|i| Identity::draw(&mut Rng::derive(config.seed, stream("synth/identity", i as u64))))
            .collect();
        let per = config.photos_per_identity + config.caricatures_per_identity;
        let samples = (0..config.identities * per)
            .map(|i| {
                let modality =
                    if i % per < config.photos_per_identity { Modality::Photo } else { Modality::Caricature };
                SampleInfo { identity: i / per, modality, path: None }
            })
            .collect();
        Ok(SynthFaces { config, names, people, samples })
    }

    pub fn config(&self) -> &SynthConfig {
        &self.config
    }

    /// Identity `identity`'s face (geometry, colours, attributes).
    pub fn person(&self, identity: usize) -> &Identity {
        &self.people[identity]
    }

    /// The sample index of an identity's `k`-th photo or caricature.
    pub fn index_of(&self, identity: usize, modality: Modality, k: usize) -> usize {
        let c = &self.config;
        let start = identity * (c.photos_per_identity + c.caricatures_per_identity);
        match modality {
            Modality::Photo => start + k,
            Modality::Caricature => start + c.photos_per_identity + k,
        }
    }

    /// Which of its identity's photos (or caricatures) sample `index` is, from 0.
    pub fn rank(&self, index: usize) -> usize {
        let c = &self.config;
        let k = index % (c.photos_per_identity + c.caricatures_per_identity);
        if k < c.photos_per_identity {
            k
        } else {
            k - c.photos_per_identity
        }
    }

    fn sample_rng(&self, index: usize) -> Rng {
        Rng::derive(self.config.seed, stream("synth/sample", index as u64))
    }

    /// How caricature `index` is drawn (`None` for a photo).
    pub fn drawing(&self, index: usize) -> Option<Drawing> {
        (self.samples[index].modality == Modality::Caricature)
            .then(|| style::choose_drawing(&mut self.sample_rng(index)))
    }

    /// A caricature of `identity` drawn as `drawing`, with artist choices from `variant`
    /// (for showing every style side by side; the dataset's own caricatures come from
    /// `load`).
    pub fn render_caricature(&self, identity: usize, drawing: Drawing, variant: u64) -> RgbImage {
        let mut rng = Rng::derive(self.config.seed, stream("synth/variant", variant));
        style::caricature(&self.people[identity], drawing, self.config.size, &mut rng)
    }

    /// The CaVI-like split (named `synth`): per identity and modality the last quarter of
    /// the images is the test part, the rest trains; test pairs are caricature–photo pairs
    /// among test images, same-identity pairs first, then as many others; validation pairs
    /// likewise on the training quarter just before the test part.
    pub fn protocol(&self) -> super::Protocol {
        protocol::protocol(self)
    }
}

impl Dataset for SynthFaces {
    fn describe(&self) -> String {
        let c = &self.config;
        format!(
            "synth:seed={},identities={},photos={},caricatures={},size={}",
            c.seed, c.identities, c.photos_per_identity, c.caricatures_per_identity, c.size
        )
    }

    fn identities(&self) -> &[String] {
        &self.names
    }

    fn samples(&self) -> &[SampleInfo] {
        &self.samples
    }

    fn load(&self, index: usize) -> Result<RgbImage> {
        let Some(info) = self.samples.get(index) else {
            return Err(Error::invalid(
                "sample index",
                format!("{index} ≥ {} samples in {}", self.len(), self.describe()),
            ));
        };
        let who = &self.people[info.identity];
        let mut rng = self.sample_rng(index);
        Ok(match info.modality {
            Modality::Photo => style::photo(who, self.config.size, &mut rng),
            Modality::Caricature => {
                let drawing = style::choose_drawing(&mut rng);
                style::caricature(who, drawing, self.config.size, &mut rng)
            }
        })
    }
}
