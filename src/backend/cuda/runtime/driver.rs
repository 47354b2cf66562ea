//! The real GPU through cudarc's driver API, loaded dynamically: a machine without
//! libcuda gets a clear error from [`CudaDriver::open`], never cudarc's panic. Modules are
//! compiled by NVRTC for the device's architecture on first use (see `nvrtc.rs`).

use super::kernels::ModuleSource;
use super::launch::{Arg, Launch};
use super::nvrtc;
use super::staging::{GraphBlocks, Staging};
use super::{same_kind, Capture, Gpu, Graph, QueueMark};
use crate::error::{Error, Result};
use cudarc::driver::{
    result, sys, CudaContext, CudaFunction, CudaModule, CudaStream, DriverError, LaunchConfig, PushKernelArg,
};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The oldest architecture our kernels target (`__shfl_*_sync`, independent thread scheduling).
const MIN_COMPUTE_CAPABILITY: (i32, i32) = (7, 0);

pub struct CudaDriver {
    /// Pinned memory for host→device copies; first, so it is freed while the context lives
    /// (graphs holding blocks of it keep it, and return them).
    staging: Arc<Mutex<Staging>>,
    ordinal: usize,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    /// Copies that run beside the compute stream's work (`write_ahead`).
    copy_stream: Arc<CudaStream>,
    arch: String,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<&'static str, CudaFunction>>,
    /// `CARI_CUDA_SYNC=1`: wait after every launch, so an asynchronous fault names its op.
    sync_each_launch: bool,
    /// Stream-ordered allocation from the device's memory pool: a freed buffer returns to
    /// the pool without waiting for the device (a plain cuMemFree synchronises, once per
    /// dropped tensor), and allocations are served from the pool.
    pooled: bool,
    /// A graph is being captured on the stream, and the launches recorded into it so far.
    capturing: AtomicBool,
    captured_launches: AtomicUsize,
    /// Buffers allocated outside the memory pool (during a capture), freed by cuMemFree.
    unpooled: Mutex<HashSet<u64>>,
}

impl CudaDriver {
    pub fn open(ordinal: usize) -> Result<CudaDriver> {
        let device = format!("cuda:{ordinal}");
        let fail = |msg: String| Error::Backend { op: "open device", device: device.clone(), msg };
        // SAFETY: only tries to open the library.
        if !unsafe { sys::is_culib_present() } {
            return Err(fail("no CUDA driver (libcuda.so) on this machine; use `--device cpu`".into()));
        }
        nvrtc::ensure_available().map_err(|e| fail(e.to_string()))?;
        let count = CudaContext::device_count().map_err(|e| fail(format!("cannot query devices: {e:?}")))?;
        if ordinal >= count.max(0) as usize {
            return Err(fail(format!("no such device: this machine has {count} CUDA device(s)")));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| fail(format!("cannot create a context: {e:?}")))?;
        let cc = ctx.compute_capability().map_err(|e| fail(format!("{e:?}")))?;
        if cc < MIN_COMPUTE_CAPABILITY {
            return Err(fail(format!(
                "compute capability {}.{} is not supported (need {}.{} or newer)",
                cc.0, cc.1, MIN_COMPUTE_CAPABILITY.0, MIN_COMPUTE_CAPABILITY.1
            )));
        }
        // Our own stream, not the legacy NULL stream, which synchronises with every other
        // stream and cannot be captured into a graph.
        let stream = ctx.new_stream().map_err(|e| fail(format!("cannot create a stream: {e:?}")))?;
        let copy_stream = ctx.new_stream().map_err(|e| fail(format!("cannot create a stream: {e:?}")))?;
        let pooled =
            ctx.attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED).is_ok_and(|v| v > 0);
        if pooled {
            keep_pool_memory(ctx.cu_device());
        }
        Ok(CudaDriver {
            staging: Arc::new(Mutex::new(Staging::default())),
            ordinal,
            ctx,
            stream,
            copy_stream,
            arch: format!("sm_{}{}", cc.0, cc.1),
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            sync_each_launch: std::env::var_os("CARI_CUDA_SYNC").is_some_and(|v| v == "1"),
            pooled,
            capturing: AtomicBool::new(false),
            captured_launches: AtomicUsize::new(0),
            unpooled: Mutex::new(HashSet::new()),
        })
    }

    fn fail(&self, op: &'static str, msg: String) -> Error {
        Error::Backend { op, device: self.name(), msg }
    }

    fn function(&self, op: &'static str, launch: &Launch) -> Result<CudaFunction> {
        let k = &launch.kernel;
        if let Some(f) = self.functions.lock().expect("function cache poisoned").get(k.name) {
            return Ok(f.clone());
        }
        let module = self.module(op, k.module)?;
        let f = module
            .load_function(k.name)
            .map_err(|e| self.fail(op, format!("kernel `{}` not found in module `{}`: {e:?}", k.name, k.module)))?;
        self.functions.lock().expect("function cache poisoned").insert(k.name, f.clone());
        Ok(f)
    }

    /// Loads a module, compiling it first (or taking the disk cache's CUBIN).
    pub fn module(&self, op: &'static str, name: &'static str) -> Result<Arc<CudaModule>> {
        if let Some(m) = self.modules.lock().expect("module cache poisoned").get(name) {
            return Ok(m.clone());
        }
        let source = ModuleSource::named(name).ok_or_else(|| self.fail(op, format!("no kernel module `{name}`")))?;
        let cubin = nvrtc::compile_cached(source, &self.arch).map_err(|e| self.fail(op, e.to_string()))?;
        let module = self
            .ctx
            .load_module(cudarc::nvrtc::Ptx::from_binary(cubin))
            .map_err(|e| self.fail(op, format!("cannot load module `{name}`: {e:?}")))?;
        self.modules.lock().expect("module cache poisoned").insert(name, module.clone());
        Ok(module)
    }

    /// Loads every module and resolves every kernel of the table (the GPU suite's first check).
    pub fn load_all(&self) -> Result<()> {
        for k in super::kernels::ALL {
            let module = self.module("load kernels", k.module)?;
            module.load_function(k.name).map_err(|e| {
                self.fail("load kernels", format!("kernel `{}` in module `{}`: {e:?}", k.name, k.module))
            })?;
        }
        Ok(())
    }

    fn bind(&self, op: &'static str) -> Result<()> {
        self.ctx.bind_to_thread().map_err(|e| self.fail(op, format!("cannot bind the context: {e:?}")))
    }
}

impl Drop for CudaDriver {
    fn drop(&mut self) {
        // The staging memory is freed next (the first field), in this context.
        let _ = self.ctx.bind_to_thread();
    }
}

/// Lets the device's default memory pool keep freed memory instead of returning it to the
/// driver at every synchronisation (the pool's default), so a training step's buffers are
/// reused from one step to the next. Best effort: without it allocation is only slower.
fn keep_pool_memory(device: sys::CUdevice) {
    let mut pool = std::ptr::null_mut();
    let mut threshold = u64::MAX;
    // SAFETY: out-parameter and attribute value of the types the driver API documents.
    unsafe {
        if sys::cuDeviceGetDefaultMemPool(&mut pool, device) == sys::CUresult::CUDA_SUCCESS {
            let attr = sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD;
            let _ = sys::cuMemPoolSetAttribute(pool, attr, &mut threshold as *mut u64 as *mut std::ffi::c_void);
        }
    }
}

impl CudaDriver {
    /// An error while a graph is being captured: nothing has run yet, so nothing can be
    /// read or waited for.
    fn not_capturing(&self, op: &'static str, what: &str) -> Result<()> {
        match self.capturing.load(Ordering::Acquire) {
            true => Err(self.fail(op, format!("{what} while a graph is being captured (nothing has run yet)"))),
            false => Ok(()),
        }
    }
}

/// A point of the compute stream: an event recorded there, destroyed with the mark.
struct EventMark(sys::CUevent);

// SAFETY: CUDA events may be used from any thread.
unsafe impl Send for EventMark {}
unsafe impl Sync for EventMark {}

impl Drop for EventMark {
    fn drop(&mut self) {
        // SAFETY: an event this value created.
        let _ = unsafe { result::event::destroy(self.0) };
    }
}

/// A captured CUDA graph, instantiated on its first replay (or updated into the
/// executable of the graph it replaces), with the pinned blocks its copies read.
struct DriverGraph {
    graph: sys::CUgraph,
    stream: Arc<CudaStream>,
    launches: usize,
    blocks: Option<GraphBlocks>,
    exec: Mutex<Exec>,
}

/// The executable graph, and an event recorded after its last replay.
#[derive(Default)]
struct Exec {
    exec: Option<sys::CUgraphExec>,
    replayed: Option<sys::CUevent>,
}

// SAFETY: the graph objects are touched under `exec`'s lock or through `&mut self`; the
// blocks are plain host memory.
unsafe impl Send for DriverGraph {}
unsafe impl Sync for DriverGraph {}

fn graph_error(op: &'static str, what: &str, e: DriverError) -> Error {
    Error::Backend { op, device: "cuda".into(), msg: format!("{what}: {e:?}") }
}

impl Exec {
    /// Waits for the last replay (over already when the host has read a result since).
    fn wait_replayed(&self) {
        if let Some(event) = self.replayed {
            // SAFETY: an event this graph created.
            let _ = unsafe { result::event::synchronize(event) };
        }
    }
}

impl Graph for DriverGraph {
    fn replay(&self, op: &'static str) -> Result<()> {
        let mut state = self.exec.lock().expect("graph poisoned");
        self.stream.context().bind_to_thread().map_err(|e| graph_error(op, "bind", e))?;
        let exec = match state.exec {
            Some(exec) => exec,
            None => {
                // SAFETY: the graph this value owns, captured in this context.
                let exec = unsafe { result::graph::instantiate(self.graph, sys::CUgraphInstantiate_flags(0)) };
                *state.exec.insert(exec.map_err(|e| graph_error(op, "instantiate", e))?)
            }
        };
        let stream = self.stream.cu_stream();
        // SAFETY: an executable graph of this context, launched on its stream.
        unsafe { result::graph::launch(exec, stream) }.map_err(|e| graph_error(op, "graph launch", e))?;
        let event = match state.replayed {
            Some(e) => e,
            None => result::event::create(sys::CUevent_flags::CU_EVENT_DISABLE_TIMING)
                .map_err(|e| graph_error(op, "event", e))?,
        };
        state.replayed = Some(event);
        // SAFETY: the event and the stream belong to this context.
        unsafe { result::event::record(event, stream) }.map_err(|e| graph_error(op, "event", e))
    }

    fn launches(&self) -> usize {
        self.launches
    }

    /// `cuGraphExecUpdate` where the new graph has this one's shape of work (the usual
    /// case: the next step, other values), else a new executable at the next replay; the
    /// old copies' blocks go once the last replay that read them is over.
    fn update(&mut self, newer: Box<dyn Graph>) -> Result<()> {
        const OP: &str = "graph update";
        let mut newer = same_kind::<DriverGraph>(newer)?;
        let state = self.exec.get_mut().expect("graph poisoned");
        state.wait_replayed();
        self.stream.context().bind_to_thread().map_err(|e| graph_error(OP, "bind", e))?;
        let graph = std::mem::replace(&mut newer.graph, std::ptr::null_mut());
        let updated = state.exec.is_some_and(|exec| {
            let mut info = std::mem::MaybeUninit::<sys::CUgraphExecUpdateResultInfo>::zeroed();
            // SAFETY: an executable of this context and a graph captured in it.
            unsafe { sys::cuGraphExecUpdate_v2(exec, graph, info.as_mut_ptr()) }.result().is_ok()
        });
        if !updated {
            if let Some(exec) = state.exec.take() {
                // SAFETY: an executable this value owns, no replay of it in flight.
                let _ = unsafe { result::graph::exec_destroy(exec) };
            }
        }
        // SAFETY: the graph this value owned; its executable (if any) no longer needs it.
        let _ = unsafe { result::graph::destroy(std::mem::replace(&mut self.graph, graph)) };
        self.launches = newer.launches;
        self.blocks = newer.blocks.take();
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

impl Drop for DriverGraph {
    fn drop(&mut self) {
        let state = self.exec.get_mut().expect("graph poisoned");
        // The pinned blocks and the executable go once no replay can still use them.
        state.wait_replayed();
        drop(self.blocks.take());
        // SAFETY: the objects this value owns (null or None when moved out).
        unsafe {
            if let Some(exec) = state.exec.take() {
                let _ = result::graph::exec_destroy(exec);
            }
            if let Some(event) = state.replayed.take() {
                let _ = result::event::destroy(event);
            }
            if !self.graph.is_null() {
                let _ = result::graph::destroy(self.graph);
            }
        }
    }
}

impl Gpu for CudaDriver {
    fn name(&self) -> String {
        format!("cuda:{}", self.ordinal)
    }

    fn alloc(&self, op: &'static str, bytes: usize) -> Result<u64> {
        self.bind(op)?;
        // cuMemAlloc rejects zero bytes; an empty tensor still gets a unique address.
        let bytes_asked = bytes.max(4);
        // During a capture a stream-ordered allocation would be recorded into the graph: the
        // memory comes from cuMemAlloc then (relaxed capture allows it) and goes by cuMemFree.
        let capturing = self.capturing.load(Ordering::Acquire);
        // SAFETY: plain allocation in the bound context, ordered on our one stream.
        let ptr = unsafe {
            if self.pooled && !capturing {
                result::malloc_async(self.stream.cu_stream(), bytes_asked)
            } else {
                result::malloc_sync(bytes_asked)
            }
        };
        if let (Ok(ptr), true, true) = (&ptr, capturing, self.pooled) {
            self.unpooled.lock().expect("allocation records poisoned").insert(*ptr);
        }
        ptr.map_err(|e| {
            let free = self.ctx.mem_get_info().map(|(free, total)| format!(" ({free} of {total} bytes free)"));
            self.fail(op, format!("cannot allocate {bytes} bytes of device memory: {e:?}{}", free.unwrap_or_default()))
        })
    }

    unsafe fn free(&self, ptr: u64) {
        // A failure here means the context is already broken; the next op reports it.
        if self.ctx.bind_to_thread().is_ok() {
            let unpooled = self.unpooled.lock().expect("allocation records poisoned").remove(&ptr);
            let _ = if self.pooled && !unpooled {
                result::free_async(ptr, self.stream.cu_stream())
            } else {
                result::free_sync(ptr)
            };
        }
    }

    fn write(&self, op: &'static str, dst: u64, src: &[u8]) -> Result<()> {
        self.bind(op)?;
        let mut staging = self.staging.lock().expect("staging memory poisoned");
        // SAFETY: `dst` is a buffer of ours holding at least `src.len()` bytes, in the bound
        // context that owns the stream.
        unsafe { staging.copy(dst, src, self.stream.cu_stream()) }
            .map(drop)
            .map_err(|e| self.fail(op, format!("copy to device: {e:?}")))
    }

    fn mark(&self, op: &'static str) -> Result<Option<QueueMark>> {
        self.not_capturing(op, "a mark")?;
        self.bind(op)?;
        let failed = |e| self.fail(op, format!("cannot record an event: {e:?}"));
        let event = result::event::create(sys::CUevent_flags::CU_EVENT_DISABLE_TIMING).map_err(failed)?;
        let mark = EventMark(event);
        // SAFETY: our event and stream, in the bound context.
        unsafe { result::event::record(mark.0, self.stream.cu_stream()) }.map_err(failed)?;
        Ok(Some(Arc::new(mark)))
    }

    /// The copy stream waits for `after`, copies, and the compute stream waits for the copy.
    fn write_ahead(&self, op: &'static str, dst: u64, src: &[u8], after: Option<&QueueMark>) -> Result<()> {
        self.not_capturing(op, "a copy ahead")?;
        self.bind(op)?;
        let failed = |e| self.fail(op, format!("copy ahead to the device: {e:?}"));
        let copy = self.copy_stream.cu_stream();
        if let Some(mark) = after.and_then(|m| m.downcast_ref::<EventMark>()) {
            // SAFETY: our stream and an event of this context.
            unsafe { result::stream::wait_event(copy, mark.0, sys::CUevent_wait_flags::CU_EVENT_WAIT_DEFAULT) }
                .map_err(failed)?;
        }
        let mut staging = self.staging.lock().expect("staging memory poisoned");
        // SAFETY: as in `write`, on the copy stream of the same context.
        let done = unsafe { staging.copy(dst, src, copy) }.map_err(failed)?;
        if let Some(done) = done {
            // SAFETY: our stream and the event just recorded after the copy.
            unsafe {
                result::stream::wait_event(
                    self.stream.cu_stream(),
                    done,
                    sys::CUevent_wait_flags::CU_EVENT_WAIT_DEFAULT,
                )
            }
            .map_err(failed)?;
        }
        Ok(())
    }

    fn read(&self, op: &'static str, src: u64, dst: &mut [u8]) -> Result<()> {
        self.not_capturing(op, "a read")?;
        self.bind(op)?;
        let failed = |e| self.fail(op, format!("copy to host (or an earlier launch) failed: {e:?}"));
        // SAFETY: `src` is a buffer of ours holding at least `dst.len()` bytes; the copy is
        // ordered after every launch on our stream, and `dst` outlives it (we wait for it).
        unsafe { result::memcpy_dtoh_async(dst, src, self.stream.cu_stream()) }.map_err(failed)?;
        self.stream.synchronize().map_err(failed)
    }

    fn synchronize(&self) -> Result<()> {
        self.not_capturing("synchronize", "a wait")?;
        self.bind("synchronize")?;
        self.stream.synchronize().map_err(|e| self.fail("synchronize", format!("a launch failed: {e:?}")))
    }

    fn launch(&self, op: &'static str, launch: &Launch) -> Result<()> {
        let f = self.function(op, launch)?;
        let mut builder = self.stream.launch_builder(&f);
        for a in &launch.args {
            match a {
                Arg::Ptr(v) | Arg::U64(v) => builder.arg(v),
                Arg::I32(v) => builder.arg(v),
                Arg::U32(v) => builder.arg(v),
                Arg::I64(v) => builder.arg(v),
                Arg::F32(v) => builder.arg(v),
                Arg::F64(v) => builder.arg(v),
            };
        }
        let cfg = LaunchConfig {
            grid_dim: (launch.grid[0], launch.grid[1], launch.grid[2]),
            block_dim: (launch.block[0], launch.block[1], launch.block[2]),
            shared_mem_bytes: launch.shared_bytes,
        };
        // SAFETY: the arguments match the kernel's parameters (`Launch::validate`), and
        // every pointer is a live buffer of this device sized for the launch.
        unsafe { builder.launch(cfg) }
            .map_err(|e| self.fail(op, format!("launch of `{}` failed: {e:?}", launch.kernel.name)))?;
        if self.capturing.load(Ordering::Acquire) {
            self.captured_launches.fetch_add(1, Ordering::AcqRel);
        } else if self.sync_each_launch {
            self.stream
                .synchronize()
                .map_err(|e| self.fail(op, format!("kernel `{}` failed: {e:?}", launch.kernel.name)))?;
        }
        Ok(())
    }

    /// Relaxed capture: the allocations of a `Capture::Once` graph may call cuMemAlloc.
    fn begin_capture(&self, op: &'static str, _capture: Capture) -> Result<()> {
        self.bind(op)?;
        if self.capturing.swap(true, Ordering::AcqRel) {
            return Err(self.fail(op, "a graph is already being captured".into()));
        }
        self.staging.lock().expect("staging memory poisoned").begin_capture();
        self.captured_launches.store(0, Ordering::Release);
        let mode = sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED;
        // SAFETY: our stream, in the bound context.
        unsafe { result::stream::begin_capture(self.stream.cu_stream(), mode) }.map_err(|e| {
            self.capturing.store(false, Ordering::Release);
            drop(self.staging.lock().expect("staging memory poisoned").end_capture(&self.staging));
            self.fail(op, format!("cannot begin a graph capture: {e:?}"))
        })
    }

    fn end_capture(&self, op: &'static str) -> Result<Box<dyn Graph>> {
        self.bind(op)?;
        if !self.capturing.swap(false, Ordering::AcqRel) {
            return Err(self.fail(op, "no graph is being captured".into()));
        }
        let blocks = self.staging.lock().expect("staging memory poisoned").end_capture(&self.staging);
        // SAFETY: our stream, capturing since `begin_capture`.
        let graph = unsafe { result::stream::end_capture(self.stream.cu_stream()) }
            .map_err(|e| self.fail(op, format!("the graph capture failed: {e:?}")))?;
        if graph.is_null() {
            return Err(self.fail(op, "the graph capture recorded nothing".into()));
        }
        let launches = self.captured_launches.swap(0, Ordering::AcqRel);
        Ok(Box::new(DriverGraph {
            graph,
            stream: self.stream.clone(),
            launches,
            blocks: Some(blocks),
            exec: Mutex::default(),
        }))
    }
}
