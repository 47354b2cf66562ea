//! Comparing faces: the verdict on one pair, and the nearest gallery identities of a probe.

use super::Embeddings;
use crate::data::Pair;
use crate::distance::{dense_identities, distance_matrix, nearest_by_identity, squared_distance};
use crate::error::Result;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

/// The decision threshold on the squared distance and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Threshold {
    pub value: f32,
    pub source: String,
}

/// The distance every comparison uses: ‖a − b‖² of unit-length branch-1 embeddings, in [0, 4].
pub const METRIC: &str = "squared-euclidean";

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// ‖a − b‖² of the unit embeddings, in [0, 4].
    pub distance: f32,
    /// [`METRIC`].
    pub metric: &'static str,
    pub threshold: Threshold,
    /// `distance < threshold`.
    pub same: bool,
}

pub fn verify(a: &[f32], b: &[f32], threshold: Threshold) -> Verdict {
    let distance = squared_distance(a, b);
    Verdict { distance, metric: METRIC, same: distance < threshold.value, threshold }
}

/// `pairs` as `(distance, same)` in their order, from the embeddings by dataset index; a
/// pair with an image that has none (skipped as unreadable) is left out.
pub fn scored_pairs(pairs: &[Pair], embeddings: &HashMap<usize, Vec<f32>>) -> Vec<(f32, bool)> {
    pairs
        .iter()
        .filter_map(|p| Some((squared_distance(embeddings.get(&p.caricature)?, embeddings.get(&p.photo)?), p.same)))
        .collect()
}

/// A gallery identity and its nearest image's distance to the probe.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Match {
    pub label: String,
    pub distance: f32,
}

/// For each probe row (`[P, dim]`, the gallery's embedding size), the `k` gallery
/// identities nearest to it, each at the distance of its nearest image, nearest first (ties
/// in gallery order). All distances come from one GEMM ([`distance_matrix`]).
pub fn identify(gallery: &Embeddings, probes: &[f32], k: usize) -> Result<Vec<Vec<Match>>> {
    let distances = distance_matrix(probes, &gallery.values, gallery.dim)?;
    let (column_identity, labels) = dense_identities(&gallery.labels);
    let (g, p) = (gallery.len(), probes.len() / gallery.dim);
    Ok((0..p)
        .into_par_iter()
        .map(|i| {
            let row = &distances[i * g..(i + 1) * g];
            let nearest = nearest_by_identity(row, &column_identity, labels.len());
            let mut order: Vec<usize> = (0..labels.len()).collect();
            order.sort_by(|&a, &b| nearest[a].total_cmp(&nearest[b]));
            order.into_iter().take(k).map(|i| Match { label: labels[i].clone(), distance: nearest[i] }).collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gallery() -> Embeddings {
        let rows = [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0]];
        let labels = ["ann", "bob", "bob", "cy"].map(String::from).to_vec();
        let paths = (0..4).map(|i| format!("{i}.jpg")).collect();
        Embeddings::new(2, rows.concat(), labels, paths).unwrap()
    }

    #[test]
    fn identities_rank_by_their_nearest_image() {
        let all = identify(&gallery(), &[0.8, 0.6, -0.6, 0.8], 2).unwrap();
        assert_eq!(all.len(), 2);
        let names = |m: &[Match]| m.iter().map(|m| m.label.clone()).collect::<Vec<_>>();
        // bob's nearest image (0.6, 0.8) is at 0.08, ann's at 0.4.
        let m = &all[0];
        assert_eq!(names(m), ["bob", "ann"]);
        assert!((m[0].distance - 0.08).abs() < 1e-6 && (m[1].distance - 0.4).abs() < 1e-6, "{m:?}");
        // (−0.6, 0.8): bob's (0, 1) at 0.4, then cy at 0.8; ann at 3.2 is cut.
        assert_eq!(names(&all[1]), ["bob", "cy"]);
        assert_eq!(identify(&gallery(), &[0.8, 0.6], 10).unwrap()[0].len(), 3);
    }

    #[test]
    fn ties_keep_gallery_order_and_bad_rows_are_refused() {
        // (0, −1) is equally far from ann (1, 0) and cy (−1, 0).
        let m = identify(&gallery(), &[0.0, -1.0], 3).unwrap();
        assert_eq!(m[0][0].label, "ann");
        assert_eq!(m[0][1].label, "cy");
        assert!(identify(&gallery(), &[0.0, -1.0, 0.5], 3).is_err());
    }

    #[test]
    fn the_verdict_compares_with_the_threshold() {
        let t = Threshold { value: 1.0, source: "test".into() };
        assert!(verify(&[1.0, 0.0], &[0.8, 0.6], t.clone()).same);
        assert!(!verify(&[1.0, 0.0], &[-1.0, 0.0], t).same);
    }
}
