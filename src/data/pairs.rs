//! Verification pairs drawn from labelled images when no protocol lists them (a plain
//! folder of faces, serving calibration): every same-identity pair and as many
//! different-identity pairs drawn with a fixed seed.

use super::dataset::{Dataset, Pair};
use crate::model::Modality;
use crate::rng::Rng;

/// Pairs of an image of modality `first` (the pair's `caricature` side) with one of
/// `second` (its `photo` side) among `images`: every same-identity pair (each unordered pair
/// once when the modalities are equal), then as many different-identity pairs drawn with
/// `seed` (fewer when the images do not allow that many draws to succeed).
pub fn balanced_pairs(
    dataset: &dyn Dataset,
    images: &[usize],
    (first, second): (Modality, Modality),
    seed: u64,
) -> Vec<Pair> {
    let of =
        |modality| -> Vec<usize> { images.iter().copied().filter(|&i| dataset.info(i).modality == modality).collect() };
    let (left, right) = (of(first), of(second));
    let identity = |i: usize| dataset.info(i).identity;
    let mut pairs = Vec::new();
    for (k, &a) in left.iter().enumerate() {
        let partners = if first == second { &right[k + 1..] } else { &right[..] };
        pairs.extend(partners.iter().filter(|&&b| identity(a) == identity(b)).map(|&b| Pair {
            caricature: a,
            photo: b,
            same: true,
        }));
    }
    let wanted = pairs.len();
    let mut rng = Rng::derive(seed, 0xCA11_B8A7);
    let (mut drawn, mut tries) = (0, 0);
    while drawn < wanted && tries < 100 * (wanted + 1) && !left.is_empty() && !right.is_empty() {
        tries += 1;
        let (a, b) = (left[rng.below(left.len())], right[rng.below(right.len())]);
        if identity(a) != identity(b) {
            pairs.push(Pair { caricature: a, photo: b, same: false });
            drawn += 1;
        }
    }
    pairs
}
