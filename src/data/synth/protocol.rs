//! The synthetic data's CaVI-like split. Per identity and modality, the last quarter of
//! the images (at least one) is held out for testing; the quarter before it (at least
//! one image, still trained on) forms the validation pairs. Pairs are caricature–photo:
//! every same-identity pair first, then as many different-identity pairs, each caricature
//! meeting one photo of another (seeded) identity per photo rank.

use super::{stream, SynthFaces};
use crate::batch::Modality;
use crate::data::{Dataset, Pair, Protocol};
use crate::rng::Rng;

/// How many of `n` images (n ≥ 2) are held out for testing.
fn held_out(n: usize) -> usize {
    (n / 4).max(1)
}

/// The images used for validation pairs: the last `held_out(n)` training images (fewer
/// if training has fewer).
fn validation_range(n: usize) -> std::ops::Range<usize> {
    let train = n - held_out(n);
    train - held_out(n).min(train)..train
}

pub fn protocol(faces: &SynthFaces) -> Protocol {
    let c = faces.config();
    let (p, k) = (c.photos_per_identity, c.caricatures_per_identity);
    let ranks = |n: usize, test: bool| if test { n - held_out(n)..n } else { validation_range(n) };
    let pick = |modality: Modality, n: usize, test: bool| -> Vec<Vec<usize>> {
        (0..c.identities).map(|id| ranks(n, test).map(|r| faces.index_of(id, modality, r)).collect()).collect()
    };
    let test_photos = pick(Modality::Photo, p, true);
    let test_caricatures = pick(Modality::Caricature, k, true);
    let mut test: Vec<usize> = test_photos.iter().chain(&test_caricatures).flatten().copied().collect();
    test.sort_unstable();
    let mut is_test = vec![false; faces.len()];
    test.iter().for_each(|&i| is_test[i] = true);
    let train = (0..faces.len()).filter(|&i| !is_test[i]).collect();
    let mut test_rng = Rng::derive(c.seed, stream("synth/test-pairs", 0));
    let mut validation_rng = Rng::derive(c.seed, stream("synth/validation-pairs", 0));
    Protocol {
        name: "synth".to_string(),
        train,
        validation_pairs: pairs(
            &pick(Modality::Caricature, k, false),
            &pick(Modality::Photo, p, false),
            &mut validation_rng,
        ),
        test,
        test_pairs: pairs(&test_caricatures, &test_photos, &mut test_rng),
    }
}

/// Same-identity pairs, then one different-identity pair per same-identity pair.
/// `caricatures[id]` and `photos[id]` list each identity's images; every identity has as
/// many photos as the others.
fn pairs(caricatures: &[Vec<usize>], photos: &[Vec<usize>], rng: &mut Rng) -> Vec<Pair> {
    let n = caricatures.len();
    let mut out = Vec::new();
    for (cs, ps) in caricatures.iter().zip(photos) {
        for &c in cs {
            out.extend(ps.iter().map(|&p| Pair { caricature: c, photo: p, same: true }));
        }
    }
    for (id, cs) in caricatures.iter().enumerate() {
        for &c in cs {
            let negatives = (0..photos[id].len()).map(|rank| {
                let other = (id + 1 + rng.below(n - 1)) % n;
                Pair { caricature: c, photo: photos[other][rank], same: false }
            });
            out.extend(negatives);
        }
    }
    out
}
