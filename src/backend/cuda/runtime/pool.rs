//! A [`Gpu`] that keeps freed device buffers for the next allocation of the same size, so
//! a training step in steady state allocates nothing: its buffers repeat in size step after
//! step (and a captured graph finds them at the same addresses). Exact sizes, not size
//! classes, so the emulator's guard page still sits right after every buffer. Reuse is safe
//! in stream order: whatever used a buffer before it was freed runs before whatever uses it
//! next.

use super::launch::Launch;
use super::Gpu;
use crate::error::Result;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The most bytes of free buffers kept; a buffer freed beyond it goes back to the device.
/// An allocation that fails first returns every kept buffer and tries again.
const MAX_CACHED_BYTES: usize = 8 << 30;

pub struct BufferPool {
    inner: Arc<dyn Gpu>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Free buffers by size.
    free: HashMap<usize, Vec<u64>>,
    /// Every buffer handed out, with its size.
    live: HashMap<u64, usize>,
    cached_bytes: usize,
}

impl BufferPool {
    pub fn new(inner: Arc<dyn Gpu>) -> BufferPool {
        BufferPool { inner, state: Mutex::default() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("buffer pool poisoned")
    }

    /// Returns every kept buffer to the device.
    fn release_cached(&self) {
        let free = {
            let mut s = self.state();
            s.cached_bytes = 0;
            std::mem::take(&mut s.free)
        };
        for ptr in free.into_values().flatten() {
            // SAFETY: kept buffers came from `inner` and nobody holds them.
            unsafe { self.inner.free(ptr) }
        }
    }
}

impl Drop for BufferPool {
    fn drop(&mut self) {
        self.release_cached();
    }
}

impl Gpu for BufferPool {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn alloc(&self, op: &'static str, bytes: usize) -> Result<u64> {
        {
            let mut s = self.state();
            if let Some(ptr) = s.free.get_mut(&bytes).and_then(Vec::pop) {
                s.cached_bytes -= bytes;
                s.live.insert(ptr, bytes);
                return Ok(ptr);
            }
        }
        let ptr = match self.inner.alloc(op, bytes) {
            Ok(ptr) => ptr,
            Err(_) => {
                self.release_cached();
                self.inner.alloc(op, bytes)?
            }
        };
        self.state().live.insert(ptr, bytes);
        Ok(ptr)
    }

    unsafe fn free(&self, ptr: u64) {
        let mut s = self.state();
        let Some(bytes) = s.live.remove(&ptr) else { return };
        if s.cached_bytes + bytes <= MAX_CACHED_BYTES {
            s.cached_bytes += bytes;
            s.free.entry(bytes).or_default().push(ptr);
        } else {
            drop(s);
            self.inner.free(ptr)
        }
    }

    fn write(&self, op: &'static str, dst: u64, src: &[u8]) -> Result<()> {
        self.inner.write(op, dst, src)
    }

    fn read(&self, op: &'static str, src: u64, dst: &mut [u8]) -> Result<()> {
        self.inner.read(op, src, dst)
    }

    fn launch(&self, op: &'static str, launch: &Launch) -> Result<()> {
        self.inner.launch(op, launch)
    }

    fn synchronize(&self) -> Result<()> {
        self.inner.synchronize()
    }
}
