//! The real GPU through cudarc's driver API, loaded dynamically: a machine without
//! libcuda gets a clear error from [`CudaDriver::open`], never cudarc's panic. Modules are
//! compiled by NVRTC for the device's architecture on first use (see `nvrtc.rs`).

use super::kernels::ModuleSource;
use super::launch::{Arg, Launch};
use super::nvrtc;
use super::staging::{GraphBlocks, Staging};
use super::{Gpu, Graph};
use crate::error::{Error, Result};
use cudarc::driver::{
    result, sys, CudaContext, CudaFunction, CudaGraph, CudaModule, CudaStream, LaunchConfig, PushKernelArg,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The oldest architecture our kernels target (`__shfl_*_sync`, independent thread scheduling).
const MIN_COMPUTE_CAPABILITY: (i32, i32) = (7, 0);

pub struct CudaDriver {
    /// Pinned memory for host→device copies; first, so it is freed while the context lives.
    staging: Mutex<Staging>,
    ordinal: usize,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
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
        let pooled =
            ctx.attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED).is_ok_and(|v| v > 0);
        if pooled {
            keep_pool_memory(ctx.cu_device());
        }
        Ok(CudaDriver {
            staging: Mutex::new(Staging::default()),
            ordinal,
            ctx,
            stream,
            arch: format!("sm_{}{}", cc.0, cc.1),
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            sync_each_launch: std::env::var_os("CARI_CUDA_SYNC").is_some_and(|v| v == "1"),
            pooled,
            capturing: AtomicBool::new(false),
            captured_launches: AtomicUsize::new(0),
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

/// A captured CUDA graph, instantiated, with the pinned blocks its copies read.
struct DriverGraph {
    graph: Mutex<CudaGraph>,
    stream: Arc<CudaStream>,
    launches: usize,
    blocks: Option<GraphBlocks>,
}

// SAFETY: the graph is only touched under its mutex (cudarc's CudaGraph is not
// synchronised); the stream and the blocks are shareable.
unsafe impl Send for DriverGraph {}
unsafe impl Sync for DriverGraph {}

impl Graph for DriverGraph {
    fn replay(&self, op: &'static str) -> Result<()> {
        let graph = self.graph.lock().expect("graph poisoned");
        graph.launch().map_err(|e| Error::Backend { op, device: "cuda".into(), msg: format!("graph launch: {e:?}") })
    }

    fn launches(&self) -> usize {
        self.launches
    }
}

impl Drop for DriverGraph {
    fn drop(&mut self) {
        // The pinned blocks go once no replay can still be copying from them.
        let _ = self.stream.synchronize();
        drop(self.blocks.take());
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
        // SAFETY: plain allocation in the bound context, ordered on our one stream.
        let ptr = unsafe {
            if self.pooled {
                result::malloc_async(self.stream.cu_stream(), bytes_asked)
            } else {
                result::malloc_sync(bytes_asked)
            }
        };
        ptr.map_err(|e| {
            let free = self.ctx.mem_get_info().map(|(free, total)| format!(" ({free} of {total} bytes free)"));
            self.fail(op, format!("cannot allocate {bytes} bytes of device memory: {e:?}{}", free.unwrap_or_default()))
        })
    }

    unsafe fn free(&self, ptr: u64) {
        // A failure here means the context is already broken; the next op reports it.
        if self.ctx.bind_to_thread().is_ok() {
            let _ = if self.pooled { result::free_async(ptr, self.stream.cu_stream()) } else { result::free_sync(ptr) };
        }
    }

    fn write(&self, op: &'static str, dst: u64, src: &[u8]) -> Result<()> {
        self.bind(op)?;
        let mut staging = self.staging.lock().expect("staging memory poisoned");
        // SAFETY: `dst` is a buffer of ours holding at least `src.len()` bytes, in the bound
        // context that owns the stream.
        unsafe { staging.copy(dst, src, self.stream.cu_stream()) }
            .map_err(|e| self.fail(op, format!("copy to device: {e:?}")))
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

    fn begin_capture(&self, op: &'static str) -> Result<()> {
        self.bind(op)?;
        if self.capturing.swap(true, Ordering::AcqRel) {
            return Err(self.fail(op, "a graph is already being captured".into()));
        }
        self.staging.lock().expect("staging memory poisoned").begin_capture();
        self.captured_launches.store(0, Ordering::Release);
        let mode = sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL;
        self.stream.begin_capture(mode).map_err(|e| {
            self.capturing.store(false, Ordering::Release);
            drop(self.staging.lock().expect("staging memory poisoned").end_capture());
            self.fail(op, format!("cannot begin a graph capture: {e:?}"))
        })
    }

    fn end_capture(&self, op: &'static str) -> Result<Box<dyn Graph>> {
        self.bind(op)?;
        if !self.capturing.swap(false, Ordering::AcqRel) {
            return Err(self.fail(op, "no graph is being captured".into()));
        }
        let blocks = self.staging.lock().expect("staging memory poisoned").end_capture();
        let graph = self
            .stream
            .end_capture(sys::CUgraphInstantiate_flags(0))
            .map_err(|e| self.fail(op, format!("the graph capture failed: {e:?}")))?
            .ok_or_else(|| self.fail(op, "the graph capture recorded nothing".into()))?;
        let launches = self.captured_launches.swap(0, Ordering::AcqRel);
        Ok(Box::new(DriverGraph {
            graph: Mutex::new(graph),
            stream: self.stream.clone(),
            launches,
            blocks: Some(blocks),
        }))
    }
}
