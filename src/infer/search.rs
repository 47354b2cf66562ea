//! Comparing faces: the verdict on one pair, and the nearest gallery identities of a probe.

use super::Embeddings;
use crate::eval::squared_distance;
use serde::Serialize;

/// The decision threshold on the squared distance and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Threshold {
    pub value: f32,
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// ‖a − b‖² of the unit embeddings, in [0, 4].
    pub distance: f32,
    pub threshold: Threshold,
    /// `distance < threshold`.
    pub same: bool,
}

pub fn verify(a: &[f32], b: &[f32], threshold: Threshold) -> Verdict {
    let distance = squared_distance(a, b);
    Verdict { distance, same: distance < threshold.value, threshold }
}

/// A gallery identity and its nearest image's distance to the probe.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Match {
    pub label: String,
    pub distance: f32,
}

/// The `k` gallery identities nearest to `probe`, each at the distance of its nearest
/// image, nearest first (ties in gallery order).
pub fn identify(gallery: &Embeddings, probe: &[f32], k: usize) -> Vec<Match> {
    // Label → position in `best`: one pass over the gallery, whatever its number of identities.
    let mut slot: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut best: Vec<Match> = Vec::new();
    for i in 0..gallery.len() {
        let distance = squared_distance(gallery.row(i), probe);
        let label = gallery.labels[i].as_str();
        match slot.get(label) {
            Some(&k) => best[k].distance = best[k].distance.min(distance),
            None => {
                slot.insert(label, best.len());
                best.push(Match { label: label.to_string(), distance });
            }
        }
    }
    best.sort_by(|a, b| a.distance.total_cmp(&b.distance));
    best.truncate(k);
    best
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
        let m = identify(&gallery(), &[0.8, 0.6], 2);
        // bob's nearest image (0.6, 0.8) is at 0.08, ann's at 0.4.
        assert_eq!(m.iter().map(|m| m.label.as_str()).collect::<Vec<_>>(), ["bob", "ann"]);
        assert!((m[0].distance - 0.08).abs() < 1e-6 && (m[1].distance - 0.4).abs() < 1e-6, "{m:?}");
        assert_eq!(identify(&gallery(), &[0.8, 0.6], 10).len(), 3);
    }

    #[test]
    fn the_verdict_compares_with_the_threshold() {
        let t = Threshold { value: 1.0, source: "test".into() };
        assert!(verify(&[1.0, 0.0], &[0.8, 0.6], t.clone()).same);
        assert!(!verify(&[1.0, 0.0], &[-1.0, 0.0], t).same);
    }
}
