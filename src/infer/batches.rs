//! The inference loop: images of a dataset in batches loaded ahead, each uploaded and handed
//! to the caller's network pass.

use crate::backend::Device;
use crate::data::{Dataset, EvalBatches, HostBatch, LoaderOptions, Preprocess};
use crate::error::Result;
use crate::tensor::Tensor;
use std::sync::Arc;

/// How images are read: evaluation preprocessing (centre crop, no flip) of each batch,
/// loaded ahead by `options.workers` threads.
#[derive(Clone, Copy, Debug)]
pub struct EvalLoading {
    pub preprocess: Preprocess,
    pub batch_size: usize,
    pub options: LoaderOptions,
}

/// Calls `pass` on every batch of `indices` of `dataset`, in order: the batch as read (its
/// dataset indices, labels and modalities) and its images `[b, h, w, 3]` on `device`. A
/// batch left empty by unreadable images (skipped) is passed over.
pub fn for_each_batch(
    dataset: Arc<dyn Dataset>,
    indices: Vec<usize>,
    loading: EvalLoading,
    device: &Device,
    mut pass: impl FnMut(&HostBatch, &Tensor) -> Result<()>,
) -> Result<()> {
    let EvalLoading { preprocess, batch_size, options } = loading;
    for host in EvalBatches::new(dataset, indices, batch_size, preprocess, options)? {
        let host = host?;
        if host.is_empty() {
            continue;
        }
        let batch = host.to_batch(device)?;
        pass(&host, &batch.images)?;
    }
    Ok(())
}
