//! Memory: moving values between the host and a device, fills, copies, dtype conversions.

use super::{QueuePoint, Storage};
use crate::dtype::DType;
use crate::error::Result;

pub trait MemoryOps {
    fn upload(&self, data: Vec<f32>) -> Result<Storage>;
    fn download(&self, x: &Storage) -> Result<Vec<f32>>;
    /// The values of each of `xs`, brought to the host together: a device packs them into
    /// one buffer so the host waits once, not once per tensor.
    fn download_all(&self, xs: &[&Storage]) -> Result<Vec<Vec<f32>>> {
        xs.iter().map(|x| self.download(x)).collect()
    }
    fn zeros(&self, len: usize) -> Result<Storage>;
    /// A copy that shares nothing with `x` (before an in-place update of shared storage).
    fn copy(&self, x: &Storage) -> Result<Storage>;
    /// Writes `src`'s values over `dst`'s (same dtype and length), in place: new inputs for
    /// a captured graph, which reads the buffers it was captured on.
    fn copy_into(&self, dst: &mut Storage, src: &Storage) -> Result<()>;
    /// Writes `data` over `dst`'s f32 values (as many) once the device has passed `after`,
    /// beside the work queued since (a GPU's copy stream), and before any work queued later
    /// reads it: the next batch's upload during the current step. No work queued after
    /// `after` may touch `dst`.
    fn upload_ahead(&self, dst: &mut Storage, data: &[f32], after: &QueuePoint) -> Result<()>;
    fn cast(&self, x: &Storage, dtype: DType) -> Result<Storage>;
}
