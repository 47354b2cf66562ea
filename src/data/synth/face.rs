//! An identity: face geometry (a vector of named measurements around a fixed mean face),
//! colours and a few discrete attributes (hair style, beard, glasses). Caricatures scale an
//! identity's deviation from the mean face.

use crate::rng::Rng;
use std::ops::{Index, IndexMut};

/// One measurement of the face, in face units (the skull is about 0.47 wide) or radians.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// Half-width of the head at the cheekbones.
    HeadWidth,
    /// Top of the skull above the eye line.
    CraniumHeight,
    /// Chin below the eye line.
    ChinDepth,
    /// Half-width at the jaw's corner, as a fraction of `HeadWidth`.
    JawWidth,
    /// Height of the jaw's corner, as a fraction of `ChinDepth`.
    JawHeight,
    /// Half-width of the chin, as a fraction of `HeadWidth`.
    ChinWidth,
    /// Vertical offset of the eyes from the eye line.
    EyeHeight,
    /// Half the distance between the eyes' centres.
    EyeSpacing,
    /// Half-width of one eye.
    EyeWidth,
    /// Half-height of the eye's opening.
    EyeOpening,
    /// Rise of the outer corner (radians).
    EyeTilt,
    /// Iris radius as a fraction of the eye's full width.
    IrisSize,
    /// Height of the brow above the eye's centre.
    BrowGap,
    /// Half-thickness of the brow.
    BrowThickness,
    /// Rise of the brow's outer end (radians).
    BrowAngle,
    /// Height of the brow's arch.
    BrowArch,
    /// Nose tip below the eye line.
    NoseLength,
    /// Half-width of the nostrils' wings.
    NoseWidth,
    /// Radius of the nose's tip.
    NoseTip,
    /// Mouth below the nose tip.
    MouthGap,
    /// Half-width of the mouth.
    MouthWidth,
    /// Thickness of the lips.
    LipThickness,
    /// Rise of the mouth's corners (a smile).
    MouthCurve,
    /// Height of the hairline above the eye line.
    Hairline,
    /// How far the hair stands out from the skull.
    HairVolume,
    /// Half-height of an ear.
    EarSize,
    /// How far the ears stand out from the head.
    EarOut,
    /// Half-width of the neck.
    NeckWidth,
}

/// Mean, spread among people, and the drawable range of a measurement.
pub struct ParamSpec {
    pub param: Param,
    pub mean: f32,
    pub spread: f32,
    pub min: f32,
    pub max: f32,
}

const fn spec(param: Param, mean: f32, spread: f32, min: f32, max: f32) -> ParamSpec {
    ParamSpec { param, mean, spread, min, max }
}

/// Every measurement, in `Param` order.
pub const PARAMS: [ParamSpec; 28] = [
    spec(Param::HeadWidth, 0.235, 0.0135, 0.16, 0.33),
    spec(Param::CraniumHeight, 0.31, 0.015, 0.22, 0.42),
    spec(Param::ChinDepth, 0.31, 0.019, 0.22, 0.46),
    spec(Param::JawWidth, 0.80, 0.045, 0.45, 1.08),
    spec(Param::JawHeight, 0.62, 0.0375, 0.38, 0.86),
    spec(Param::ChinWidth, 0.30, 0.045, 0.05, 0.6),
    spec(Param::EyeHeight, 0.0, 0.009, -0.05, 0.05),
    spec(Param::EyeSpacing, 0.098, 0.006, 0.062, 0.14),
    spec(Param::EyeWidth, 0.045, 0.004, 0.024, 0.068),
    spec(Param::EyeOpening, 0.017, 0.0026, 0.004, 0.034),
    spec(Param::EyeTilt, 0.04, 0.05, -0.3, 0.4),
    spec(Param::IrisSize, 0.40, 0.03, 0.24, 0.58),
    spec(Param::BrowGap, 0.052, 0.007, 0.022, 0.095),
    spec(Param::BrowThickness, 0.009, 0.002, 0.0025, 0.022),
    spec(Param::BrowAngle, 0.08, 0.09, -0.5, 0.6),
    spec(Param::BrowArch, 0.009, 0.0045, -0.014, 0.032),
    spec(Param::NoseLength, 0.115, 0.01, 0.07, 0.18),
    spec(Param::NoseWidth, 0.036, 0.0045, 0.016, 0.068),
    spec(Param::NoseTip, 0.016, 0.0026, 0.006, 0.036),
    spec(Param::MouthGap, 0.062, 0.007, 0.032, 0.1),
    spec(Param::MouthWidth, 0.072, 0.007, 0.042, 0.115),
    spec(Param::LipThickness, 0.013, 0.0026, 0.003, 0.032),
    spec(Param::MouthCurve, 0.004, 0.005, -0.022, 0.03),
    spec(Param::Hairline, 0.17, 0.0225, 0.07, 0.29),
    spec(Param::HairVolume, 0.035, 0.01, 0.0, 0.09),
    spec(Param::EarSize, 0.052, 0.006, 0.026, 0.082),
    spec(Param::EarOut, 0.02, 0.006, 0.0, 0.052),
    spec(Param::NeckWidth, 0.10, 0.009, 0.06, 0.145),
];

/// Every measurement of one face.
#[derive(Clone, Debug, PartialEq)]
pub struct Geometry(pub [f32; PARAMS.len()]);

impl Geometry {
    /// The mean face.
    pub fn mean() -> Geometry {
        Geometry(PARAMS.map(|s| s.mean))
    }

    /// `mean + factor · (self − mean)`, kept in each measurement's drawable range.
    pub fn exaggerated(&self, factor: f32) -> Geometry {
        let mut g = self.clone();
        for (v, s) in g.0.iter_mut().zip(&PARAMS) {
            *v = (s.mean + factor * (*v - s.mean)).clamp(s.min, s.max);
        }
        g
    }

    /// Each measurement moved by `scale` spreads times a standard normal draw (expression
    /// changes between photos, an artist's misjudgement).
    pub fn jittered(&self, scale: f32, rng: &mut Rng) -> Geometry {
        let mut g = self.clone();
        for (v, s) in g.0.iter_mut().zip(&PARAMS) {
            *v = (*v + scale * s.spread * rng.normal()).clamp(s.min, s.max);
        }
        g
    }

    /// Deviation from the mean face in spreads (z-scores), one per measurement.
    pub fn z_scores(&self) -> [f32; PARAMS.len()] {
        std::array::from_fn(|i| (self.0[i] - PARAMS[i].mean) / PARAMS[i].spread)
    }
}

impl Index<Param> for Geometry {
    type Output = f32;
    fn index(&self, p: Param) -> &f32 {
        &self.0[p as usize]
    }
}

impl IndexMut<Param> for Geometry {
    fn index_mut(&mut self, p: Param) -> &mut f32 {
        &mut self.0[p as usize]
    }
}

/// Linear RGB in `[0, 1]`.
pub type Rgb = [f32; 3];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HairStyle {
    Bald,
    Receding,
    Short,
    SidePart,
    Long,
    Bob,
    Curly,
    Spiky,
}

impl HairStyle {
    const ALL: [HairStyle; 8] = [
        HairStyle::Bald,
        HairStyle::Receding,
        HairStyle::Short,
        HairStyle::SidePart,
        HairStyle::Long,
        HairStyle::Bob,
        HairStyle::Curly,
        HairStyle::Spiky,
    ];
    /// How common each style is (relative), in `ALL` order.
    const WEIGHTS: [f32; 8] = [0.5, 1.0, 2.0, 1.6, 1.3, 1.0, 0.9, 0.7];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beard {
    None,
    Stubble,
    Moustache,
    Goatee,
    Full,
}

impl Beard {
    const ALL: [Beard; 5] = [Beard::None, Beard::Stubble, Beard::Moustache, Beard::Goatee, Beard::Full];
    const WEIGHTS: [f32; 5] = [5.0, 1.0, 0.8, 0.8, 1.0];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Glasses {
    None,
    Round,
    Square,
}

/// One person: geometry, colours and attributes, fixed across all their images.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    pub geometry: Geometry,
    pub skin: Rgb,
    pub hair: Rgb,
    pub iris: Rgb,
    pub hair_style: HairStyle,
    pub beard: Beard,
    pub glasses: Glasses,
    /// Colour of the glasses' frames.
    pub frames: Rgb,
    /// Which side the hair is parted on (±1).
    pub parting: f32,
}

/// Skin tones from light to dark; an identity interpolates between neighbours.
const SKIN_RAMP: [Rgb; 5] =
    [[0.97, 0.82, 0.72], [0.91, 0.72, 0.58], [0.78, 0.57, 0.42], [0.58, 0.40, 0.28], [0.36, 0.24, 0.17]];
const HAIR_COLOURS: [(Rgb, f32); 7] = [
    ([0.07, 0.06, 0.06], 3.0),
    ([0.24, 0.15, 0.09], 3.0),
    ([0.45, 0.30, 0.17], 2.0),
    ([0.56, 0.26, 0.12], 0.8),
    ([0.86, 0.71, 0.42], 1.2),
    ([0.60, 0.59, 0.57], 1.0),
    ([0.90, 0.89, 0.86], 0.5),
];
const IRIS_COLOURS: [(Rgb, f32); 6] = [
    ([0.30, 0.18, 0.09], 3.0),
    ([0.16, 0.10, 0.06], 2.0),
    ([0.45, 0.38, 0.18], 1.0),
    ([0.28, 0.45, 0.25], 0.7),
    ([0.30, 0.48, 0.72], 1.2),
    ([0.48, 0.54, 0.58], 0.7),
];
const FRAME_COLOURS: [(Rgb, f32); 4] =
    [([0.05, 0.05, 0.05], 3.0), ([0.35, 0.2, 0.1], 1.0), ([0.7, 0.68, 0.62], 1.0), ([0.55, 0.1, 0.12], 0.5)];

/// How far (in spreads) an identity's measurements may stray, and how many of them are
/// made more distinctive (the big nose or wide mouth a caricaturist seizes on).
const MAX_Z: f32 = 2.0;
const SALIENT: usize = 3;
const SALIENT_BOOST: f32 = 1.4;

impl Identity {
    /// A random person: the mean face plus a deviation drawn from `rng`.
    pub fn draw(rng: &mut Rng) -> Identity {
        let mut z: [f32; PARAMS.len()] = std::array::from_fn(|_| rng.normal().clamp(-MAX_Z, MAX_Z));
        for _ in 0..SALIENT {
            let i = rng.below(PARAMS.len());
            z[i] = (z[i].abs().max(0.8) * SALIENT_BOOST).copysign(if z[i] == 0.0 { 1.0 } else { z[i] });
        }
        let mut geometry = Geometry::mean();
        for ((v, s), z) in geometry.0.iter_mut().zip(&PARAMS).zip(z) {
            *v = (s.mean + z * s.spread).clamp(s.min, s.max);
        }
        let tone = rng.uniform() * (SKIN_RAMP.len() - 1) as f32;
        let (i, f) = (tone.floor() as usize, tone.fract());
        let base = mix(SKIN_RAMP[i], SKIN_RAMP[(i + 1).min(SKIN_RAMP.len() - 1)], f);
        let skin = vary(base, 0.03, rng);
        let hair = vary(pick(&HAIR_COLOURS, rng), 0.04, rng);
        let iris = vary(pick(&IRIS_COLOURS, rng), 0.04, rng);
        let hair_style = HairStyle::ALL[pick_index(&HairStyle::WEIGHTS, rng)];
        let beard = Beard::ALL[pick_index(&Beard::WEIGHTS, rng)];
        let glasses = match rng.uniform() {
            u if u < 0.12 => Glasses::Round,
            u if u < 0.24 => Glasses::Square,
            _ => Glasses::None,
        };
        let frames = pick(&FRAME_COLOURS, rng);
        let parting = if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
        Identity { geometry, skin, hair, iris, hair_style, beard, glasses, frames, parting }
    }
}

pub fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    std::array::from_fn(|i| a[i] + (b[i] - a[i]) * t)
}

/// `c` with each channel moved by up to `amount`.
fn vary(c: Rgb, amount: f32, rng: &mut Rng) -> Rgb {
    c.map(|v| (v + rng.uniform_in(-amount, amount)).clamp(0.0, 1.0))
}

fn pick(options: &[(Rgb, f32)], rng: &mut Rng) -> Rgb {
    let weights: Vec<f32> = options.iter().map(|o| o.1).collect();
    options[pick_index(&weights, rng)].0
}

fn pick_index(weights: &[f32], rng: &mut Rng) -> usize {
    let mut u = rng.uniform() * weights.iter().sum::<f32>();
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_listed_in_enum_order_and_means_are_drawable() {
        for (i, s) in PARAMS.iter().enumerate() {
            assert_eq!(s.param as usize, i, "{:?}", s.param);
            assert!(s.min < s.mean && s.mean < s.max, "{:?}", s.param);
        }
    }

    #[test]
    fn exaggeration_scales_the_deviation_from_the_mean_face() {
        let mean = Geometry::mean();
        let people: Vec<Geometry> = (0..40).map(|i| Identity::draw(&mut Rng::new(i)).geometry).collect();
        let norm = |g: &Geometry| g.z_scores().iter().map(|z| z * z).sum::<f32>().sqrt();
        for factor in [1.5f32, 2.0, 3.0] {
            let (mut clamped, mut ratio) = (0, 0.0);
            for person in &people {
                let cari = person.exaggerated(factor);
                for (i, s) in PARAMS.iter().enumerate() {
                    let want = s.mean + factor * (person.0[i] - s.mean);
                    if want > s.min && want < s.max {
                        let got = cari.0[i] - mean.0[i];
                        assert!((got - factor * (person.0[i] - mean.0[i])).abs() < 1e-6, "{:?} ×{factor}", s.param);
                    } else {
                        assert!(cari.0[i] == s.min || cari.0[i] == s.max, "{:?} ×{factor}", s.param);
                        clamped += 1;
                    }
                }
                ratio += norm(&cari) / norm(person) / people.len() as f32;
            }
            // Only the most extreme measurements reach the edge of what can be drawn.
            let share = clamped as f32 / (people.len() * PARAMS.len()) as f32;
            assert!(share < 0.04 * factor, "×{factor}: {share} of the measurements clamped");
            assert!(ratio > 0.9 * factor && ratio <= factor + 1e-4, "×{factor}: deviation grew {ratio}× on average");
        }
        let person = &people[0];
        assert_eq!(person.exaggerated(0.0), mean);
        let same = person.exaggerated(1.0);
        assert!(same.0.iter().zip(&person.0).all(|(a, b)| (a - b).abs() < 1e-6));
    }
}
