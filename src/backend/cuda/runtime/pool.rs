//! A [`Gpu`] that keeps freed device buffers for the next allocation of the same size, so
//! a training step in steady state allocates nothing: its buffers repeat in size step after
//! step (and a captured graph finds them at the same addresses). Exact sizes, not size
//! classes, so the emulator's guard page still sits right after every buffer. Reuse is safe
//! in stream order: whatever used a buffer before it was freed runs before whatever uses it
//! next. A captured graph owns the buffers handed out while it was captured: within the
//! capture they are reused as ever (a replay runs its work in the captured order), but once
//! it ends, a freed one waits for the graph to go (its replays still use it) before anyone
//! else gets it. A capture takes every buffer from the pool (an allocation from the device
//! there is an error: run the work once before capturing it).

use super::launch::Launch;
use super::{Capture, Gpu, Graph, QueueMark};
use crate::error::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The most bytes of free buffers kept; a buffer freed beyond it goes back to the device.
/// An allocation that fails first returns every kept buffer and tries again.
const MAX_CACHED_BYTES: usize = 8 << 30;

pub struct BufferPool {
    inner: Arc<dyn Gpu>,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Free buffers by size.
    free: HashMap<usize, Vec<u64>>,
    /// Every buffer handed out, with its size.
    live: HashMap<u64, usize>,
    cached_bytes: usize,
    /// The kind of the capture on, and the buffers (with their sizes) handed out since it began.
    capture: Option<(Capture, Vec<(u64, usize)>)>,
    /// Buffers a live graph owns, and those of them freed (kept, with their sizes, until
    /// the graph goes).
    graph_owned: HashSet<u64>,
    held: HashMap<u64, usize>,
}

impl State {
    fn keep_free(&mut self, ptr: u64, bytes: usize) {
        self.cached_bytes += bytes;
        self.free.entry(bytes).or_default().push(ptr);
    }
}

impl BufferPool {
    pub fn new(inner: Arc<dyn Gpu>) -> BufferPool {
        BufferPool { inner, state: Arc::default() }
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
                if let Some((_, captured)) = s.capture.as_mut() {
                    captured.push((ptr, bytes));
                }
                return Ok(ptr);
            }
            if s.capture.as_ref().is_some_and(|(kind, _)| *kind == Capture::Kept) {
                let msg = format!(
                    "a graph capture asked for {bytes} bytes the pool does not hold: run the same work once \
                     before capturing it, so that every buffer it needs is in the pool"
                );
                return Err(Error::Backend { op, device: self.inner.name(), msg });
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
        if s.graph_owned.contains(&ptr) {
            s.held.insert(ptr, bytes);
        } else if s.cached_bytes + bytes <= MAX_CACHED_BYTES || s.capture.is_some() {
            // (A capture gives nothing back to the device: that would be recorded too.)
            s.keep_free(ptr, bytes);
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

    fn mark(&self, op: &'static str) -> Result<Option<QueueMark>> {
        self.inner.mark(op)
    }

    fn write_ahead(&self, op: &'static str, dst: u64, src: &[u8], after: Option<&QueueMark>) -> Result<()> {
        self.inner.write_ahead(op, dst, src, after)
    }

    fn begin_capture(&self, op: &'static str, capture: Capture) -> Result<()> {
        self.inner.begin_capture(op, capture)?;
        self.state().capture = Some((capture, Vec::new()));
        Ok(())
    }

    /// A kept graph comes with its hold on the buffers of its capture; a graph replayed once
    /// holds none.
    fn end_capture(&self, op: &'static str) -> Result<Box<dyn Graph>> {
        let capture = self.state().capture.take();
        let Some((Capture::Kept, mut captured)) = capture else {
            return self.inner.end_capture(op);
        };
        let buffers = {
            let mut s = self.state();
            captured.sort_unstable();
            captured.dedup();
            // Those free again are the graph's now: out of everyone else's reach.
            for &(ptr, bytes) in &captured {
                let was_free =
                    s.free.get_mut(&bytes).and_then(|f| f.iter().position(|&p| p == ptr).map(|i| f.swap_remove(i)));
                if was_free.is_some() {
                    s.cached_bytes -= bytes;
                    s.held.insert(ptr, bytes);
                }
            }
            let buffers: Vec<u64> = captured.into_iter().map(|(ptr, _)| ptr).collect();
            s.graph_owned.extend(buffers.iter().copied());
            buffers
        };
        match self.inner.end_capture(op) {
            Ok(inner) => Ok(Box::new(PoolGraph { inner, state: self.state.clone(), buffers })),
            Err(e) => {
                release(&self.state, &buffers);
                Err(e)
            }
        }
    }
}

/// A graph with the buffers it owns, given back to the pool when it goes.
struct PoolGraph {
    inner: Box<dyn Graph>,
    state: Arc<Mutex<State>>,
    buffers: Vec<u64>,
}

impl Graph for PoolGraph {
    fn replay(&self, op: &'static str) -> Result<()> {
        self.inner.replay(op)
    }

    fn launches(&self) -> usize {
        self.inner.launches()
    }

    /// A kept graph is replayed as captured: a later capture is a graph of its own.
    fn update(&mut self, _newer: Box<dyn Graph>) -> Result<()> {
        Err(Error::invalid("graph update", "a kept graph is replayed as captured (capture it again instead)"))
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

impl Drop for PoolGraph {
    fn drop(&mut self) {
        release(&self.state, &self.buffers);
    }
}

/// Ends a graph's hold on `buffers`: the freed ones become free, the others are freed as usual.
fn release(state: &Mutex<State>, buffers: &[u64]) {
    let mut s = state.lock().expect("buffer pool poisoned");
    for ptr in buffers {
        s.graph_owned.remove(ptr);
        if let Some(bytes) = s.held.remove(ptr) {
            s.keep_free(*ptr, bytes);
        }
    }
}
