//! Squared Euclidean distances of embeddings: of one pair, and of every probe against every
//! gallery image.

use crate::backend::cpu::matmul::matmul;
use crate::backend::MatmulGeometry;
use crate::error::{Error, Result};
use rayon::prelude::*;

/// Squared distance ‖a − b‖² of two embeddings (in [0, 4] for unit vectors).
pub fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// `D[i, j] = ‖p_i − g_j‖²`, probes `[P, dim]` against gallery `[G, dim]` (row-major),
/// returned as `[P, G]` row-major. Computed as `‖p‖² + ‖g‖² − 2·p·g` with one GEMM;
/// rounding can take a distance that should be 0 slightly below, so it is clamped at 0.
pub fn distance_matrix(probes: &[f32], gallery: &[f32], dim: usize) -> Result<Vec<f32>> {
    let p = embedding_rows(probes, dim, "probe embeddings")?;
    let g = embedding_rows(gallery, dim, "gallery embeddings")?;
    let geometry = MatmulGeometry { m: p, k: dim, n: g, transpose_a: false, transpose_b: true };
    let mut distances = matmul(probes, gallery, &geometry);
    let squared_norms =
        |x: &[f32]| -> Vec<f32> { x.chunks_exact(dim).map(|r| r.iter().map(|v| v * v).sum()).collect() };
    let (probe_norms, gallery_norms) = (squared_norms(probes), squared_norms(gallery));
    distances.par_chunks_mut(g.max(1)).zip(&probe_norms).for_each(|(row, &pn)| {
        for (d, &gn) in row.iter_mut().zip(&gallery_norms) {
            *d = (pn + gn - 2.0 * *d).max(0.0);
        }
    });
    Ok(distances)
}

/// How many rows of `dim` values `embeddings` holds; `what` names them when they do not
/// make whole rows.
pub(crate) fn embedding_rows(embeddings: &[f32], dim: usize, what: &str) -> Result<usize> {
    if dim == 0 || embeddings.len() % dim != 0 {
        return Err(Error::invalid(what, format!("{} values are not rows of {dim}", embeddings.len())));
    }
    Ok(embeddings.len() / dim)
}
