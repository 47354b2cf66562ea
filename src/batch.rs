//! A training batch, the modality of each of its images and the tasks that read them: the
//! types the data layer produces and the network consumes.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modality {
    Photo,
    Caricature,
}

/// The three tasks, in the paper's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Caricature–photo verification, on every sample.
    Verification,
    /// Photo identification, on the photos.
    PhotoId,
    /// Caricature identification, on the caricatures.
    CaricatureId,
}

impl Task {
    pub const ALL: [Task; 3] = [Task::Verification, Task::PhotoId, Task::CaricatureId];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Task::Verification => "verification",
            Task::PhotoId => "photo-id",
            Task::CaricatureId => "caricature-id",
        }
    }

    fn reads(self, m: Modality) -> bool {
        match self {
            Task::Verification => true,
            Task::PhotoId => m == Modality::Photo,
            Task::CaricatureId => m == Modality::Caricature,
        }
    }
}

/// Images `[b, h, w, 3]` with one identity label and one modality per image.
#[derive(Clone, Debug)]
pub struct Batch {
    pub images: Tensor,
    pub labels: Vec<usize>,
    pub modalities: Vec<Modality>,
}

impl Batch {
    pub fn new(images: Tensor, labels: Vec<usize>, modalities: Vec<Modality>) -> Result<Batch> {
        let n = images.dims().first().copied().unwrap_or(0);
        if images.shape().rank() != 4 || images.dims()[3] != 3 {
            return Err(Error::InvalidShape {
                op: "batch",
                shape: images.shape().clone(),
                reason: "images must be [batch, height, width, 3]".into(),
            });
        }
        if n == 0 {
            return Err(Error::EmptyBatch { op: "batch", shape: images.shape().clone() });
        }
        if labels.len() != n || modalities.len() != n {
            return Err(Error::invalid(
                "batch",
                format!("{n} images but {} labels and {} modalities", labels.len(), modalities.len()),
            ));
        }
        Ok(Batch { images, labels, modalities })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Positions of the samples `task` reads, in batch order.
    pub fn samples(&self, task: Task) -> Vec<usize> {
        (0..self.len()).filter(|&i| task.reads(self.modalities[i])).collect()
    }
}
