//! The CPU emulation of the CUDA execution model as a [`Gpu`]: the very `.cu` sources,
//! compiled by build.rs with `kernels/emu/cuda_emu.h`, run with every CUDA thread of a
//! block as a fiber. Device memory is host memory with a guard page after each buffer, so
//! a kernel that reads or writes past the end stops with a message naming it.

use super::launch::Launch;
use super::{same_kind, Capture, Gpu, Graph, QueueMark};
use crate::error::{Error, Result};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::{Arc, Mutex};

/// The order in which the threads of a block run between two barriers. Reverse and random
/// orders expose kernels that read another thread's shared-memory write without a barrier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadOrder {
    Forward,
    Reverse,
    /// A fresh permutation per round, from this seed.
    Random(u64),
}

impl ThreadOrder {
    pub fn parse(text: &str) -> Result<ThreadOrder> {
        match text {
            "forward" => Ok(ThreadOrder::Forward),
            "reverse" => Ok(ThreadOrder::Reverse),
            t => match t.strip_prefix("random:").map(str::parse::<u64>) {
                Some(Ok(seed)) => Ok(ThreadOrder::Random(seed)),
                _ => Err(Error::invalid("thread order", format!("`{t}` (expected forward, reverse or random:SEED)"))),
            },
        }
    }
}

type Entry = unsafe extern "C" fn(args: *mut *mut c_void);

extern "C" {
    fn cari_emu_lookup(name: *const c_char) -> Option<Entry>;
    #[allow(clippy::too_many_arguments)]
    fn cari_emu_launch(
        kernel_name: *const c_char,
        entry: Option<Entry>,
        grid: *const u32,
        block: *const u32,
        dynamic_shared_bytes: u32,
        args: *mut *mut c_void,
        order: c_int,
        seed: u64,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn cari_emu_alloc(bytes: usize) -> *mut c_void;
    fn cari_emu_free(ptr: *mut c_void);
}

/// Whether the emulated entry point of `kernel` exists (the registry build.rs generated).
pub fn resolves(kernel: &str) -> bool {
    let name = CString::new(kernel).expect("kernel names hold no NUL");
    // SAFETY: a NUL-terminated name; the lookup only compares strings.
    unsafe { cari_emu_lookup(name.as_ptr()) }.is_some()
}

/// A step of recorded work.
#[derive(Clone)]
enum Recorded {
    Launch(Launch),
    Write(u64, Vec<u8>),
}

/// Cloning shares the stream and the capture (a graph replays on its emulator).
#[derive(Clone)]
pub struct Emulator {
    order: ThreadOrder,
    stream: Arc<Stream>,
}

#[derive(Default)]
struct Stream {
    /// Held while a launch runs: launches run one after another, as on the one stream of a
    /// real device, whichever host threads make them (kernels that finish in their last
    /// block share one completion counter, and rely on it).
    order: Mutex<()>,
    /// The work recorded since `begin_capture`, while a capture is on.
    capture: Mutex<Option<Vec<Recorded>>>,
}

impl Emulator {
    pub fn new(order: ThreadOrder) -> Emulator {
        Emulator { order, stream: Arc::default() }
    }

    fn fail(&self, op: &'static str, msg: String) -> Error {
        Error::Backend { op, device: self.name(), msg }
    }

    /// Records `work` when a capture is on: whether it did.
    fn recorded(&self, work: impl FnOnce() -> Recorded) -> bool {
        let mut capture = self.stream.capture.lock().unwrap_or_else(|p| p.into_inner());
        capture.as_mut().map(|c| c.push(work())).is_some()
    }

    /// An error when a capture is on: reads and waits cannot be part of a graph.
    fn not_capturing(&self, op: &'static str, what: &str) -> Result<()> {
        match self.stream.capture.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            true => Err(self.fail(op, format!("{what} while a graph is being captured (nothing has run yet)"))),
            false => Ok(()),
        }
    }

    fn copy(dst: u64, src: &[u8]) {
        // SAFETY: `dst` is an emulated device buffer of at least `src.len()` bytes (the
        // backend sizes every copy from the storage it allocated).
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len()) };
    }

    fn run(&self, op: &'static str, launch: &Launch) -> Result<()> {
        let name = CString::new(launch.kernel.name).expect("kernel names hold no NUL");
        // SAFETY: as in `resolves`.
        let entry = unsafe { cari_emu_lookup(name.as_ptr()) };
        if entry.is_none() {
            return Err(self.fail(op, format!("kernel `{}` is not in the emulator's registry", launch.kernel.name)));
        }
        let mut params: Vec<*mut c_void> = launch.args.iter().map(|a| a.as_param_ptr()).collect();
        let (order, seed) = match self.order {
            ThreadOrder::Forward => (0, 0),
            ThreadOrder::Reverse => (1, 0),
            ThreadOrder::Random(seed) => (2, seed),
        };
        let mut err = vec![0 as c_char; 1024];
        let _in_order = self.stream.order.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // SAFETY: `params` points at `launch.args`, which outlives the call and matches the
        // kernel's parameter kinds (`Launch::validate` ran); pointers in it are buffers of
        // this emulator.
        let rc = unsafe {
            cari_emu_launch(
                name.as_ptr(),
                entry,
                launch.grid.as_ptr(),
                launch.block.as_ptr(),
                launch.shared_bytes,
                params.as_mut_ptr(),
                order,
                seed,
                err.as_mut_ptr(),
                err.len(),
            )
        };
        if rc != 0 {
            // SAFETY: the runtime NUL-terminates the message within `err`.
            let msg = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy().into_owned();
            return Err(self.fail(op, msg));
        }
        Ok(())
    }
}

/// The emulator's graph: the recorded launches and writes, run again in order.
struct EmulatedGraph {
    emulator: Emulator,
    work: Vec<Recorded>,
}

impl Graph for EmulatedGraph {
    fn replay(&self, op: &'static str) -> Result<()> {
        self.emulator.not_capturing(op, "a graph replay")?;
        for w in &self.work {
            match w {
                Recorded::Launch(l) => self.emulator.run(op, l)?,
                Recorded::Write(dst, bytes) => Emulator::copy(*dst, bytes),
            }
        }
        Ok(())
    }

    fn launches(&self) -> usize {
        self.work.iter().filter(|w| matches!(w, Recorded::Launch(_))).count()
    }

    fn update(&mut self, newer: Box<dyn Graph>) -> Result<()> {
        self.work = same_kind::<EmulatedGraph>(newer)?.work;
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

impl Gpu for Emulator {
    fn name(&self) -> String {
        match self.order {
            ThreadOrder::Forward => "cuda-emu".into(),
            ThreadOrder::Reverse => "cuda-emu:reverse".into(),
            ThreadOrder::Random(seed) => format!("cuda-emu:random:{seed}"),
        }
    }

    fn alloc(&self, op: &'static str, bytes: usize) -> Result<u64> {
        // SAFETY: plain allocation; null is handled.
        let p = unsafe { cari_emu_alloc(bytes) };
        if p.is_null() {
            return Err(self.fail(op, format!("out of memory allocating {bytes} bytes")));
        }
        Ok(p as u64)
    }

    unsafe fn free(&self, ptr: u64) {
        cari_emu_free(ptr as *mut c_void)
    }

    fn write(&self, _op: &'static str, dst: u64, src: &[u8]) -> Result<()> {
        if !self.recorded(|| Recorded::Write(dst, src.to_vec())) {
            Emulator::copy(dst, src);
        }
        Ok(())
    }

    fn read(&self, op: &'static str, src: u64, dst: &mut [u8]) -> Result<()> {
        self.not_capturing(op, "a read")?;
        // SAFETY: as in `copy`.
        unsafe { std::ptr::copy_nonoverlapping(src as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    /// Launches run to completion before they return.
    fn synchronize(&self) -> Result<()> {
        self.not_capturing("synchronize", "a wait")
    }

    fn launch(&self, op: &'static str, launch: &Launch) -> Result<()> {
        if self.recorded(|| Recorded::Launch(launch.clone())) {
            return Ok(());
        }
        self.run(op, launch)
    }

    /// Work runs as it is queued: every point is passed already.
    fn mark(&self, _op: &'static str) -> Result<Option<QueueMark>> {
        Ok(None)
    }

    fn write_ahead(&self, op: &'static str, dst: u64, src: &[u8], _after: Option<&QueueMark>) -> Result<()> {
        self.write(op, dst, src)
    }

    /// Either kind of capture records alike: the emulator's memory is the host's.
    fn begin_capture(&self, op: &'static str, _capture: Capture) -> Result<()> {
        let mut capture = self.stream.capture.lock().unwrap_or_else(|p| p.into_inner());
        if capture.is_some() {
            return Err(self.fail(op, "a graph is already being captured".into()));
        }
        *capture = Some(Vec::new());
        Ok(())
    }

    fn end_capture(&self, op: &'static str) -> Result<Box<dyn Graph>> {
        let work = self.stream.capture.lock().unwrap_or_else(|p| p.into_inner()).take();
        let work = work.ok_or_else(|| self.fail(op, "no graph is being captured".into()))?;
        Ok(Box::new(EmulatedGraph { emulator: self.clone(), work }))
    }
}
