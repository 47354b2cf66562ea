//! Pinned (page-locked) host memory that every host→device copy goes through, so a copy is
//! queued on the stream and the host goes on at once: a copy from pageable memory returns
//! only after the driver has taken the bytes, a wait per upload. A block is reused once the
//! event recorded after its copy has passed; the stream runs in order, so the oldest copy
//! in flight is always the first to finish. While a graph is captured, a copy's block is
//! the graph's (each replay copies from it again): held until the graph goes, never reused.

use cudarc::driver::{result, sys, DriverError};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The smallest block allocated: labels and index lists are a few hundred bytes, and
/// pinning memory is slow, so small copies share a size.
const MIN_BLOCK: usize = 64 << 10;

struct Pinned {
    ptr: *mut u8,
    bytes: usize,
}

#[derive(Default)]
pub struct Staging {
    free: Vec<Pinned>,
    in_flight: VecDeque<(Pinned, sys::CUevent)>,
    /// Events whose copies have finished, for the next copies.
    events: Vec<sys::CUevent>,
    /// The blocks of the copies recorded since `begin_capture`, while a capture is on.
    capture: Option<Vec<Pinned>>,
}

/// The pinned blocks a captured graph's copies read, given back to the staging memory they
/// came from when the graph goes (its replays over: the graph waits for them first).
pub struct GraphBlocks {
    blocks: Vec<Pinned>,
    home: Arc<Mutex<Staging>>,
}

// SAFETY: plain host memory owned by this value.
unsafe impl Send for GraphBlocks {}
unsafe impl Sync for GraphBlocks {}

impl Drop for GraphBlocks {
    fn drop(&mut self) {
        let mut home = self.home.lock().unwrap_or_else(|p| p.into_inner());
        home.free.append(&mut self.blocks);
    }
}

// SAFETY: the blocks are plain host memory owned by this value, and the driver's events
// may be used from any thread; the driver keeps `Staging` behind a mutex.
unsafe impl Send for Staging {}

impl Staging {
    /// Queues a copy of `src` to `dst` on `stream` through a pinned block; the event
    /// recorded after it (none in a capture), valid until the next copy.
    ///
    /// # Safety
    /// `dst` is device memory of at least `src.len()` bytes in the current context, which
    /// owns `stream`.
    pub unsafe fn copy(
        &mut self,
        dst: u64,
        src: &[u8],
        stream: sys::CUstream,
    ) -> Result<Option<sys::CUevent>, DriverError> {
        if self.capture.is_some() {
            let block = self.take(src.len())?;
            std::ptr::copy_nonoverlapping(src.as_ptr(), block.ptr, src.len());
            let queued =
                sys::cuMemcpyHtoDAsync_v2(dst, block.ptr as *const std::ffi::c_void, src.len(), stream).result();
            self.capture.as_mut().expect("capturing").push(block);
            return queued.map(|()| None);
        }
        self.reclaim();
        let block = self.take(src.len())?;
        std::ptr::copy_nonoverlapping(src.as_ptr(), block.ptr, src.len());
        let queued = sys::cuMemcpyHtoDAsync_v2(dst, block.ptr as *const std::ffi::c_void, src.len(), stream).result();
        let event = match queued.and_then(|()| self.event()) {
            Ok(event) => event,
            Err(e) => {
                self.free.push(block);
                return Err(e);
            }
        };
        if let Err(e) = result::event::record(event, stream) {
            // Not knowing when the copy ends, wait for it before the block is reused.
            let _ = result::stream::synchronize(stream);
            self.free.push(block);
            self.events.push(event);
            return Err(e);
        }
        self.in_flight.push_back((block, event));
        Ok(Some(event))
    }

    /// From here on, copies are recorded into a graph: their blocks become the graph's.
    pub fn begin_capture(&mut self) {
        self.capture = Some(Vec::new());
    }

    /// The blocks the graph captured since `begin_capture` copies from, to give back to
    /// `home` (this staging memory) when the graph goes.
    pub fn end_capture(&mut self, home: &Arc<Mutex<Staging>>) -> GraphBlocks {
        GraphBlocks { blocks: self.capture.take().unwrap_or_default(), home: home.clone() }
    }

    /// Moves the blocks of finished copies to the free list.
    fn reclaim(&mut self) {
        while let Some((_, event)) = self.in_flight.front() {
            // SAFETY: an event this value created and has not destroyed.
            if unsafe { result::event::query(*event) }.is_err() {
                break;
            }
            let (block, event) = self.in_flight.pop_front().expect("the front was just seen");
            self.free.push(block);
            self.events.push(event);
        }
    }

    /// The smallest free block of at least `len` bytes, or a new one.
    fn take(&mut self, len: usize) -> Result<Pinned, DriverError> {
        let fitting = self.free.iter().enumerate().filter(|(_, b)| b.bytes >= len).min_by_key(|(_, b)| b.bytes);
        if let Some((i, _)) = fitting {
            return Ok(self.free.swap_remove(i));
        }
        let bytes = len.next_power_of_two().max(MIN_BLOCK);
        // SAFETY: plain pinned allocation; the contents are written before any copy reads them.
        let ptr = unsafe { result::malloc_host(bytes, 0) }? as *mut u8;
        Ok(Pinned { ptr, bytes })
    }

    fn event(&mut self) -> Result<sys::CUevent, DriverError> {
        match self.events.pop() {
            Some(e) => Ok(e),
            None => result::event::create(sys::CUevent_flags::CU_EVENT_DISABLE_TIMING),
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // SAFETY: every event and block was made by this value; a block is freed only after
        // its copy has finished.
        unsafe {
            for (block, event) in self.in_flight.drain(..) {
                let _ = result::event::synchronize(event);
                self.free.push(block);
                self.events.push(event);
            }
            let held = self.capture.take().unwrap_or_default();
            for block in self.free.drain(..).chain(held) {
                let _ = result::free_host(block.ptr as *mut std::ffi::c_void);
            }
            for event in self.events.drain(..) {
                let _ = result::event::destroy(event);
            }
        }
    }
}
