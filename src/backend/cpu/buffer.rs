//! A cache of the CPU backend's large f32 buffers.
//!
//! A training step allocates the same activation and gradient sizes every time. Freed
//! through the system allocator, buffers of tens of MB go back to the kernel (`munmap`)
//! and come back as fresh pages, so every op page-faults and zero-fills its whole output
//! and every free shoots down TLB entries on the other cores. Kept here instead, keyed
//! by exact length, the next request of that size reuses them.
//!
//! Kernels take their outputs from [`uninit`] (stale contents: the kernel writes every
//! element) or [`zeroed`]; dropping a CPU tensor's storage hands its buffer back through
//! [`recycle`]. The cache holds at most [`capacity`] bytes (`CARI_CPU_CACHE_MB`, default
//! 4096); beyond that, buffers go back to the system.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// Buffers below this many floats (256 KiB) are left to the system allocator, which
/// already recycles small blocks well.
const MIN_CACHED: usize = 1 << 16;

#[derive(Default)]
struct Cache {
    free: HashMap<usize, Vec<Vec<f32>>>,
    bytes: usize,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The most bytes the cache keeps.
pub fn capacity() -> usize {
    static CAPACITY: OnceLock<usize> = OnceLock::new();
    *CAPACITY.get_or_init(|| {
        let mb = std::env::var("CARI_CPU_CACHE_MB").ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(4096);
        mb << 20
    })
}

fn take(len: usize) -> Option<Vec<f32>> {
    if len < MIN_CACHED {
        return None;
    }
    let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
    let v = c.free.get_mut(&len)?.pop()?;
    c.bytes -= len * 4;
    Some(v)
}

static POISON: AtomicBool = AtomicBool::new(false);

/// When on, every reused buffer handed out by [`uninit`] is first filled with NaN, so a
/// kernel that reads an output element before writing it shows up as NaN (tests use it).
pub fn set_poison(on: bool) {
    POISON.store(on, Ordering::Relaxed);
}

/// A buffer of `len` floats whose contents are unspecified (zeros or stale values): for
/// outputs the caller overwrites completely.
pub fn uninit(len: usize) -> Vec<f32> {
    match take(len) {
        Some(mut v) => {
            if POISON.load(Ordering::Relaxed) {
                v.fill(f32::NAN);
            }
            v
        }
        None => vec![0.0; len],
    }
}

/// A buffer of `len` zeros.
pub fn zeroed(len: usize) -> Vec<f32> {
    match take(len) {
        Some(mut v) => {
            v.fill(0.0);
            v
        }
        None => vec![0.0; len],
    }
}

/// Hands a buffer back for reuse (or to the system when it is small or the cache full).
pub fn recycle(v: Vec<f32>) {
    let len = v.len();
    if len < MIN_CACHED || v.capacity() != len {
        return;
    }
    let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
    if c.bytes + len * 4 > capacity() {
        return;
    }
    c.bytes += len * 4;
    c.free.entry(len).or_default().push(v);
}

/// Bytes held for reuse right now.
pub fn cached_bytes() -> usize {
    cache().lock().unwrap_or_else(|e| e.into_inner()).bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_buffer_is_reused_for_the_same_length() {
        let len = MIN_CACHED + 12345;
        let mut v = uninit(len);
        v[7] = 3.0;
        let ptr = v.as_ptr();
        recycle(v);
        let again = uninit(len);
        assert_eq!(again.as_ptr(), ptr);
        assert_eq!(again.len(), len);
        recycle(again);
        let z = zeroed(len);
        assert_eq!(z.as_ptr(), ptr);
        assert!(z.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn small_buffers_are_not_cached() {
        let v = uninit(10);
        recycle(v);
        assert!(take(10).is_none());
    }
}
