//! Verification pairs drawn from labelled images when no protocol lists them (a plain
//! folder of faces, serving calibration): every same-identity pair and as many
//! different-identity pairs drawn with a fixed seed.

use super::dataset::{Dataset, Pair};
use crate::batch::Modality;
use crate::rng::Rng;
use std::collections::HashMap;

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
    // Positions in `right` by identity, so same pairs cost their number, not |left|·|right|.
    let mut by_identity: HashMap<usize, Vec<usize>> = HashMap::new();
    for (position, &b) in right.iter().enumerate() {
        by_identity.entry(identity(b)).or_default().push(position);
    }
    let mut pairs = Vec::new();
    for (k, &a) in left.iter().enumerate() {
        let partners = by_identity.get(&identity(a)).map_or(&[][..], Vec::as_slice);
        // With one modality on both sides `left` is `right`: each unordered pair once.
        let after = |&&position: &&usize| first != second || position > k;
        pairs.extend(partners.iter().filter(after).map(|&position| Pair {
            caricature: a,
            photo: right[position],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{SynthConfig, SynthFaces};

    #[test]
    fn every_same_pair_once_and_as_many_different_ones() {
        let config =
            SynthConfig { seed: 1, identities: 5, photos_per_identity: 3, caricatures_per_identity: 2, size: 32 };
        let faces = SynthFaces::new(config).unwrap();
        let all: Vec<usize> = (0..faces.len()).collect();
        let identity = |i: usize| faces.info(i).identity;

        let cross = balanced_pairs(&faces, &all, (Modality::Caricature, Modality::Photo), 0);
        let same: Vec<&Pair> = cross.iter().filter(|p| p.same).collect();
        assert_eq!(same.len(), 5 * 2 * 3);
        assert_eq!(cross.len(), 2 * same.len());
        for p in &cross {
            assert_eq!(faces.info(p.caricature).modality, Modality::Caricature);
            assert_eq!(faces.info(p.photo).modality, Modality::Photo);
            assert_eq!(p.same, identity(p.caricature) == identity(p.photo));
        }

        let photos = balanced_pairs(&faces, &all, (Modality::Photo, Modality::Photo), 0);
        assert_eq!(photos.iter().filter(|p| p.same).count(), 5 * 3, "C(3, 2) unordered pairs per identity");
        assert!(photos.iter().all(|p| p.caricature != p.photo));
        assert_eq!(photos, balanced_pairs(&faces, &all, (Modality::Photo, Modality::Photo), 0), "seeded");
    }

    #[test]
    fn one_identity_gives_no_different_pair() {
        let config =
            SynthConfig { seed: 1, identities: 2, photos_per_identity: 2, caricatures_per_identity: 2, size: 32 };
        let faces = SynthFaces::new(config).unwrap();
        let first: Vec<usize> = (0..faces.len()).filter(|&i| faces.info(i).identity == 0).collect();
        let pairs = balanced_pairs(&faces, &first, (Modality::Caricature, Modality::Photo), 0);
        assert_eq!((pairs.len(), pairs.iter().all(|p| p.same)), (4, true));
    }
}
