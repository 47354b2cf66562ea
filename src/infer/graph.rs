//! The verification embeddings of fixed-shape batches as one captured device graph,
//! replayed per batch (CUDA devices): a batch costs one graph launch, the copy of its
//! images into the graph's input and the read of its embeddings, not a launch per kernel.

use crate::autograd::ParamStore;
use crate::backend::{Capture, Device, DeviceGraph};
use crate::error::{Error, Result};
use crate::model::MultiTaskNet;
use crate::tensor::{Shape, Tensor};

pub struct EmbeddingGraph {
    graph: DeviceGraph,
    /// The buffer the graph reads its images from, and the one it writes embeddings to.
    input: Tensor,
    output: Tensor,
}

impl EmbeddingGraph {
    /// Captures `net.embed` of batches of `shape` on `device`, after one pass run as usual
    /// (so that every buffer the pass needs is in the device's pool).
    pub fn capture(net: &MultiTaskNet, params: &ParamStore, shape: Shape, device: &Device) -> Result<EmbeddingGraph> {
        let input = Tensor::zeros(shape, device)?;
        drop(net.embed(params, &input)?);
        let backend = device.backend();
        backend.begin_capture(Capture::Kept)?;
        let output = net.embed(params, &input);
        // The capture ends whatever the pass did, so the device runs work again.
        let graph = backend.end_capture();
        Ok(EmbeddingGraph { output: output?, graph: graph?, input })
    }

    /// The batch shape the graph was captured for.
    pub fn shape(&self) -> &Shape {
        self.input.shape()
    }

    /// The kernel launches one replay runs.
    pub fn launches(&self) -> usize {
        self.graph.launches()
    }

    /// The embeddings of `images` (`[b, embedding_dim]` values, row-major): written into the
    /// graph's input, the graph replayed, its output read. A batch of another shape is
    /// refused: the graph's launches are sized for its own.
    pub fn embed(&mut self, images: &Tensor) -> Result<Vec<f32>> {
        if images.shape() != self.input.shape() {
            return Err(Error::ShapeMismatch {
                op: "embedding graph replay (captured for the left shape)",
                lhs: self.input.shape().clone(),
                rhs: images.shape().clone(),
            });
        }
        self.input.overwrite(images)?;
        self.graph.replay()?;
        self.output.to_vec()
    }
}
