//! A gallery seen by identity: each image's identity as a dense index, and each identity's
//! nearest image to a probe.

use std::collections::HashMap;
use std::hash::Hash;

/// The distinct identities of `ids` in order of first appearance, and each entry's index
/// among them.
pub fn dense_identities<T: Clone + Eq + Hash>(ids: &[T]) -> (Vec<usize>, Vec<T>) {
    let mut index: HashMap<&T, usize> = HashMap::new();
    let mut distinct = Vec::new();
    let dense = ids
        .iter()
        .map(|id| {
            *index.entry(id).or_insert_with(|| {
                distinct.push(id.clone());
                distinct.len() - 1
            })
        })
        .collect();
    (dense, distinct)
}

/// Each identity's nearest gallery image in one probe's row of distances: a gallery
/// identity is as near as its nearest image. `column_identity` is the dense identity of
/// each gallery image ([`dense_identities`]).
pub fn nearest_by_identity(row: &[f32], column_identity: &[usize], identities: usize) -> Vec<f32> {
    let mut nearest = vec![f32::INFINITY; identities];
    for (&d, &identity) in row.iter().zip(column_identity) {
        nearest[identity] = nearest[identity].min(d);
    }
    nearest
}
