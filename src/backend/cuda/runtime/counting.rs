//! A [`Gpu`] that counts what passes through it into a [`Profile`] and hands it on to the
//! device it wraps; or, as a dry run, counts launches without running them (memory is still
//! allocated and copied), so a full-size training step is counted in seconds on the CPU
//! emulation. A dry run's values are meaningless; its sequence of launches, copies and
//! allocations is the real one, since the host decides it from shapes alone.

use super::launch::{Arg, Launch};
use super::{same_kind, Capture, Gpu, Graph, QueueMark};
use crate::backend::{KernelCounts, Profile};
use crate::error::Result;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub struct Counting {
    inner: Arc<dyn Gpu>,
    /// Launches are counted, not run.
    dry: bool,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    profile: Profile,
    /// Live buffers: start address → bytes, to size the buffers a launch is handed.
    buffers: BTreeMap<u64, usize>,
    /// The launches recorded since `begin_capture`, by kernel, while a capture is on.
    captured: Option<BTreeMap<&'static str, KernelCounts>>,
}

impl State {
    /// The bytes of the live buffer holding `ptr` (0 for an address of none).
    fn buffer_bytes(&self, ptr: u64) -> u64 {
        match self.buffers.range(..=ptr).next_back() {
            Some((&start, &bytes)) if ptr < start + bytes.max(1) as u64 => bytes as u64,
            _ => 0,
        }
    }
}

impl Counting {
    pub fn new(inner: Arc<dyn Gpu>) -> Counting {
        Counting { inner, dry: false, state: Arc::default() }
    }

    /// Counts launches without running them.
    pub fn dry(inner: Arc<dyn Gpu>) -> Counting {
        Counting { dry: true, ..Counting::new(inner) }
    }

    pub fn profile(&self) -> Profile {
        self.state().profile.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("device counters poisoned")
    }
}

/// A graph whose replays are counted (the launches it holds were counted as they were
/// captured).
struct CountedGraph {
    inner: Box<dyn Graph>,
    state: Arc<Mutex<State>>,
    /// The launches captured into it, by kernel (a dry run's inner graph holds none).
    kernels: BTreeMap<&'static str, KernelCounts>,
}

impl Graph for CountedGraph {
    fn replay(&self, op: &'static str) -> Result<()> {
        {
            let mut s = self.state.lock().expect("device counters poisoned");
            s.profile.graph_replays += 1;
            s.profile.replayed_launches += self.launches() as u64;
            for (name, k) in &self.kernels {
                let total = s.profile.kernels.entry(name).or_default();
                total.launches += k.launches;
                total.buffer_bytes += k.buffer_bytes;
                total.flops += k.flops;
            }
        }
        self.inner.replay(op)
    }

    fn launches(&self) -> usize {
        self.kernels.values().map(|k| k.launches as usize).sum()
    }

    fn update(&mut self, newer: Box<dyn Graph>) -> Result<()> {
        let newer = same_kind::<CountedGraph>(newer)?;
        self.kernels = newer.kernels;
        self.inner.update(newer.inner)
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

impl Gpu for Counting {
    fn name(&self) -> String {
        if self.dry {
            format!("{}:count", self.inner.name())
        } else {
            self.inner.name()
        }
    }

    fn alloc(&self, op: &'static str, bytes: usize) -> Result<u64> {
        let ptr = self.inner.alloc(op, bytes)?;
        let mut s = self.state();
        s.profile.allocations += 1;
        s.profile.allocated_bytes += bytes as u64;
        s.buffers.insert(ptr, bytes);
        Ok(ptr)
    }

    unsafe fn free(&self, ptr: u64) {
        {
            let mut s = self.state();
            s.profile.frees += 1;
            s.buffers.remove(&ptr);
        }
        self.inner.free(ptr)
    }

    fn write(&self, op: &'static str, dst: u64, src: &[u8]) -> Result<()> {
        {
            let mut s = self.state();
            s.profile.writes += 1;
            s.profile.written_bytes += src.len() as u64;
        }
        self.inner.write(op, dst, src)
    }

    fn read(&self, op: &'static str, src: u64, dst: &mut [u8]) -> Result<()> {
        {
            let mut s = self.state();
            s.profile.reads += 1;
            s.profile.read_bytes += dst.len() as u64;
        }
        self.inner.read(op, src, dst)
    }

    fn launch(&self, op: &'static str, launch: &Launch) -> Result<()> {
        {
            let mut s = self.state();
            let bytes: u64 = launch.args.iter().map(|a| if let Arg::Ptr(p) = a { s.buffer_bytes(*p) } else { 0 }).sum();
            let State { profile, captured, .. } = &mut *s;
            // Recorded, a launch counts when a replay runs it.
            let kernels = captured.as_mut().unwrap_or(&mut profile.kernels);
            let k = kernels.entry(launch.kernel.name).or_default();
            k.launches += 1;
            k.buffer_bytes += bytes;
            k.flops += launch.flops;
        }
        if self.dry {
            Ok(())
        } else {
            self.inner.launch(op, launch)
        }
    }

    fn synchronize(&self) -> Result<()> {
        self.state().profile.synchronizations += 1;
        self.inner.synchronize()
    }

    fn mark(&self, op: &'static str) -> Result<Option<QueueMark>> {
        self.inner.mark(op)
    }

    fn write_ahead(&self, op: &'static str, dst: u64, src: &[u8], after: Option<&QueueMark>) -> Result<()> {
        {
            let mut s = self.state();
            s.profile.writes += 1;
            s.profile.written_bytes += src.len() as u64;
        }
        self.inner.write_ahead(op, dst, src, after)
    }

    fn begin_capture(&self, op: &'static str, capture: Capture) -> Result<()> {
        self.inner.begin_capture(op, capture)?;
        self.state().captured = Some(BTreeMap::new());
        Ok(())
    }

    /// A dry run's graph holds no launches (they were counted, not recorded): its replays
    /// are counted alone.
    fn end_capture(&self, op: &'static str) -> Result<Box<dyn Graph>> {
        let kernels = self.state().captured.take().unwrap_or_default();
        let inner = self.inner.end_capture(op)?;
        Ok(Box::new(CountedGraph { inner, state: self.state.clone(), kernels }))
    }
}
