//! Closed-set identification by distance (DATASETS.md §3): probes against a gallery, the
//! gallery's identities ranked by their nearest image, Rank-k and the CMC curve.
//!
//! Ties: identities at exactly the same distance from a probe are ranked in random order,
//! and the expected outcome is counted: a true identity tied with e others behind s strictly
//! nearer ones scores (k − s)/(e + 1) at Rank-k, clamped to [0, 1]. Counting ties in the
//! probe's favour would let a collapsed model (every distance equal) score 100%.
//!
//! A probe whose identity has no gallery image can never be identified: it is counted as a
//! miss at every rank, and [`Cmc::probes_without_gallery_identity`] says how many there were.

use super::metrics::FoldStats;
use crate::distance::{dense_identities, distance_matrix, embedding_rows, nearest_by_identity};
use crate::error::{Error, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

/// A cumulative match characteristic: the identification rate at ranks 1..=K.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cmc {
    /// `rates[k − 1]` is Rank-k: the fraction of probes whose identity is among the k
    /// gallery identities nearest to them.
    pub rates: Vec<f64>,
    pub probes: usize,
    pub gallery_identities: usize,
    /// Probes whose identity has no gallery image: misses at every rank.
    pub probes_without_gallery_identity: usize,
}

impl Cmc {
    /// Rank-k, for k in 1..=K.
    pub fn rank(&self, k: usize) -> Option<f64> {
        k.checked_sub(1).and_then(|i| self.rates.get(i)).copied()
    }
}

/// The CMC up to `max_rank` of a `[probes, gallery]` distance matrix (row-major) whose rows
/// and columns carry the identities `probe_ids` and `gallery_ids`. Ranks beyond the number
/// of gallery identities repeat the last one's rate.
pub fn cmc(distances: &[f32], probe_ids: &[usize], gallery_ids: &[usize], max_rank: usize) -> Result<Cmc> {
    let (p, g) = (probe_ids.len(), gallery_ids.len());
    if p == 0 || g == 0 {
        return Err(Error::invalid(
            "identification",
            format!("{p} probe(s) and {g} gallery image(s): both are needed"),
        ));
    }
    if distances.len() != p * g {
        return Err(Error::invalid(
            "identification distances",
            format!("{} values for {p} probes × {g} gallery images", distances.len()),
        ));
    }
    if max_rank == 0 {
        return Err(Error::invalid("identification rank", "the CMC needs at least rank 1"));
    }
    if let Some(i) = distances.iter().position(|d| d.is_nan()) {
        return Err(Error::invalid(
            "identification distances",
            format!("probe {}, gallery image {} is NaN", i / g, i % g),
        ));
    }

    let (column_identity, distinct) = dense_identities(gallery_ids);
    let identity_index: HashMap<usize, usize> = distinct.iter().enumerate().map(|(k, &id)| (id, k)).collect();
    let identities = distinct.len();

    let credits: Vec<Vec<f64>> = distances
        .par_chunks(g)
        .zip(probe_ids)
        .map(|(row, probe_id)| {
            let Some(&truth) = identity_index.get(probe_id) else {
                return vec![0.0; max_rank];
            };
            let nearest = nearest_by_identity(row, &column_identity, identities);
            let closer = nearest.iter().filter(|&&d| d < nearest[truth]).count();
            let tied = nearest.iter().filter(|&&d| d == nearest[truth]).count() - 1;
            (1..=max_rank).map(|k| ((k as f64 - closer as f64) / (tied + 1) as f64).clamp(0.0, 1.0)).collect()
        })
        .collect();
    let rates =
        (0..max_rank).map(|k| credits.iter().map(|credit| credit[k]).sum::<f64>() / p as f64).collect::<Vec<_>>();
    Ok(Cmc {
        rates,
        probes: p,
        gallery_identities: identities,
        probes_without_gallery_identity: probe_ids.iter().filter(|id| !identity_index.contains_key(id)).count(),
    })
}

/// Ranks embedded `probes` (`[P, dim]`) against an embedded `gallery` (`[G, dim]`): their
/// [`distance_matrix`], then its [`cmc`].
pub fn identify(
    probes: &[f32],
    probe_ids: &[usize],
    gallery: &[f32],
    gallery_ids: &[usize],
    dim: usize,
    max_rank: usize,
) -> Result<Cmc> {
    for (what, embeddings, ids) in [("probe", probes, probe_ids), ("gallery", gallery, gallery_ids)] {
        if embedding_rows(embeddings, dim, &format!("{what} embeddings"))? != ids.len() {
            return Err(Error::invalid(
                format!("{what} identities"),
                format!("{} for {} embeddings of {dim}", ids.len(), embeddings.len() / dim),
            ));
        }
    }
    cmc(&distance_matrix(probes, gallery, dim)?, probe_ids, gallery_ids, max_rank)
}

/// The CMC of several folds (say the 10 probe/gallery splits of WebCaricature): each fold's
/// curve, and each rank's mean ± population std over the folds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CmcOverFolds {
    pub folds: Vec<Cmc>,
    /// `ranks[k − 1]`: Rank-k over the folds.
    pub ranks: Vec<FoldStats>,
}

impl CmcOverFolds {
    /// Rank-k's mean and std over the folds, for k in 1..=K.
    pub fn rank(&self, k: usize) -> Option<&FoldStats> {
        k.checked_sub(1).and_then(|i| self.ranks.get(i))
    }

    /// The mean curve.
    pub fn mean_rates(&self) -> Vec<f64> {
        self.ranks.iter().map(|r| r.mean).collect()
    }
}

/// Summarises folds that were all measured to the same rank.
pub fn cmc_over_folds(folds: Vec<Cmc>) -> Result<CmcOverFolds> {
    let Some(first) = folds.first() else {
        return Err(Error::invalid("identification folds", "no fold"));
    };
    let max_rank = first.rates.len();
    if let Some(i) = folds.iter().position(|f| f.rates.len() != max_rank) {
        return Err(Error::invalid(
            "identification folds",
            format!("fold {i} goes to rank {} but fold 0 to rank {max_rank}", folds[i].rates.len()),
        ));
    }
    let ranks = (0..max_rank).map(|k| FoldStats::new(folds.iter().map(|f| f.rates[k]).collect())).collect();
    Ok(CmcOverFolds { folds, ranks })
}
