//! Which training images each batch holds: the training list is shuffled once per pass
//! by a seeded permutation, and batches are taken from it in order, running on into the
//! next pass's permutation when one pass ends. Everything is a function of
//! (seed, pass, position), so a run resumed from a saved [`SamplerState`] draws exactly the
//! batches the uninterrupted run would have.

use crate::error::{Error, Result};
use crate::rng::{fnv1a, Rng};
use serde::{Deserialize, Serialize};

/// Where a sampler stands: the next sample is `position` of pass `epoch`'s permutation.
/// (A pass here is one sweep over the training list, not the training log's epoch.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplerState {
    pub seed: u64,
    pub epoch: u64,
    pub position: usize,
}

/// One drawn sample: its dataset index and its place in the stream, which seeds its
/// augmentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Draw {
    pub index: usize,
    pub epoch: u64,
    pub position: usize,
}

impl Draw {
    /// The random stream of this draw's augmentation, independent of which thread runs it.
    pub fn augmentation_rng(&self, seed: u64) -> Rng {
        Rng::derive(seed, fnv1a(format!("augment/{}/{}", self.epoch, self.position).as_bytes()))
    }
}

pub struct Sampler {
    indices: Vec<usize>,
    batch_size: usize,
    state: SamplerState,
    /// The current pass's permutation of `0..indices.len()`.
    order: Vec<usize>,
}

impl Sampler {
    /// A sampler at the start of pass 0 over `indices` (dataset indices, e.g. a protocol's
    /// training list).
    pub fn new(indices: Vec<usize>, batch_size: usize, seed: u64) -> Result<Sampler> {
        Sampler::from_state(indices, batch_size, SamplerState { seed, epoch: 0, position: 0 })
    }

    /// A sampler that continues from `state`, as saved by [`Sampler::state`] over the same
    /// `indices`.
    pub fn from_state(indices: Vec<usize>, batch_size: usize, state: SamplerState) -> Result<Sampler> {
        if indices.is_empty() {
            return Err(Error::invalid("training list", "no images to train on"));
        }
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", "must be at least 1"));
        }
        if state.position >= indices.len() {
            return Err(Error::invalid(
                "sampler state",
                format!("position {} is beyond the {} training images", state.position, indices.len()),
            ));
        }
        let order = permutation(indices.len(), state.seed, state.epoch);
        Ok(Sampler { indices, batch_size, state, order })
    }

    /// The state after the last batch drawn.
    pub fn state(&self) -> SamplerState {
        self.state
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    pub fn next_batch(&mut self) -> Vec<Draw> {
        (0..self.batch_size).map(|_| self.next_draw()).collect()
    }

    fn next_draw(&mut self) -> Draw {
        let SamplerState { epoch, position, .. } = self.state;
        let draw = Draw { index: self.indices[self.order[position]], epoch, position };
        self.state.position += 1;
        if self.state.position == self.indices.len() {
            self.state.epoch += 1;
            self.state.position = 0;
            self.order = permutation(self.indices.len(), self.state.seed, self.state.epoch);
        }
        draw
    }
}

/// Fisher–Yates shuffle of `0..n` from the pass's own stream.
fn permutation(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = Rng::derive(seed, fnv1a(format!("sampler/{epoch}").as_bytes()));
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order
}
