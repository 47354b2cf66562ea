//! Training batches' images uploaded ahead, double-buffered: batch n+1's images go into
//! the buffer step n−1 read, on the device's copy stream, once step n−1's work has run, so
//! the copy runs while step n does (devices that run work as it is queued copy at once).

use super::HostBatch;
use crate::backend::Device;
use crate::batch::Batch;
use crate::error::Result;
use crate::tensor::{QueuePoint, Tensor};
use std::collections::VecDeque;

/// The two image buffers, oldest first, each with the point after which the last step
/// that read it has run (none yet: the buffer was just uploaded).
#[derive(Default)]
pub struct BatchUploads {
    buffers: VecDeque<(Tensor, Option<QueuePoint>)>,
}

/// How many image buffers take turns.
const BUFFERS: usize = 2;

impl BatchUploads {
    pub fn new() -> BatchUploads {
        BatchUploads::default()
    }

    /// `host` as a batch on `device`, its images in the oldest buffer when that one is
    /// free (released, no batch holding it any more, the same shape), copied ahead; else in
    /// a new buffer, uploaded as usual.
    pub fn upload(&mut self, host: &HostBatch, device: &Device) -> Result<Batch> {
        let s = host.image_size;
        let shape = [host.len(), s, s, 3];
        let reusable = self.buffers.len() == BUFFERS
            && self
                .buffers
                .front()
                .is_some_and(|(t, released)| t.dims() == shape && released.is_some() && t.owns_storage());
        let images = match reusable {
            true => {
                let (mut images, released) = self.buffers.pop_front().expect("a buffer to reuse");
                images.upload_ahead(&host.pixels, &released.expect("a released buffer"))?;
                images
            }
            false => {
                if self.buffers.len() == BUFFERS {
                    self.buffers.pop_front();
                }
                Tensor::from_slice(&host.pixels, shape, device)?
            }
        };
        self.buffers.push_back((images.clone(), None));
        Batch::new(images, host.labels.clone(), host.modalities.clone())
    }

    /// The newest batch's step is queued: its buffer is free once the device passes here.
    pub fn queued(&mut self, device: &Device) -> Result<()> {
        if let Some((_, released)) = self.buffers.back_mut() {
            *released = Some(device.backend().queue_point()?);
        }
        Ok(())
    }
}
