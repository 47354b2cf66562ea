//! Run-time compilation of our kernel modules by NVRTC: to a CUBIN for the device's
//! architecture, with the result cached on disk (keyed by source, options and NVRTC
//! version). The same call, with `--ptxas-options=-v`, is how CI proves every kernel
//! compiles for sm_90 without spilling.

use super::kernels::ModuleSource;
use crate::error::{Error, Result};
use cudarc::nvrtc::{result, sys};
use std::ffi::{c_char, CStr, CString};
use std::path::PathBuf;

const OP: &str = "nvrtc";

/// A compiled module: the CUBIN and NVRTC's log (ptxas' report when asked for).
pub struct Compiled {
    pub cubin: Vec<u8>,
    pub log: String,
}

fn fail(msg: impl Into<String>) -> Error {
    Error::Backend { op: OP, device: "nvrtc".into(), msg: msg.into() }
}

/// Fails with a clear message, instead of cudarc's panic, when libnvrtc cannot be loaded.
pub fn ensure_available() -> Result<()> {
    // SAFETY: only tries to open the library.
    if unsafe { sys::is_culib_present() } {
        Ok(())
    } else {
        Err(fail(
            "libnvrtc not found: install it (`pip install nvidia-cuda-nvrtc==13.0.88`) and put its \
             nvidia/cu13/lib folder on LD_LIBRARY_PATH before starting the process",
        ))
    }
}

/// NVRTC's version, e.g. `(13, 0)`.
pub fn version() -> Result<(i32, i32)> {
    ensure_available()?;
    let (mut major, mut minor) = (0, 0);
    // SAFETY: two out-parameters.
    unsafe { sys::nvrtcVersion(&mut major, &mut minor) }.result().map_err(|e| fail(format!("{e:?}")))?;
    Ok((major, minor))
}

/// The options every module is compiled with, for `arch` such as `sm_90`.
pub fn options(arch: &str, ptxas_report: bool) -> Vec<String> {
    let mut o = vec![format!("--gpu-architecture={arch}"), "--std=c++17".into(), "--fmad=true".into()];
    if ptxas_report {
        o.push("--ptxas-options=-v".into());
    }
    o
}

/// Compiles one module to a CUBIN for `arch` (e.g. `sm_90`; a real architecture, so NVRTC
/// also runs ptxas and rejects bad inline PTX).
pub fn compile(module: &ModuleSource, arch: &str, ptxas_report: bool) -> Result<Compiled> {
    ensure_available()?;
    let src = CString::new(module.self_contained()).map_err(|_| fail("kernel source holds a NUL byte"))?;
    let name = CString::new(format!("{}.cu", module.name)).expect("module names hold no NUL");
    let prog = result::create_program(&src, Some(&name)).map_err(|e| fail(format!("{}: {e:?}", module.name)))?;
    let opts = options(arch, ptxas_report);
    // SAFETY: `prog` is a live program; it is destroyed once below on every path.
    let outcome = unsafe {
        let compiled = result::compile_program(prog, &opts);
        let log = result::get_program_log(prog).map(|l| CStr::from_ptr(l.as_ptr()).to_string_lossy().into_owned());
        let cubin = compiled.and_then(|()| cubin_of(prog));
        let _ = result::destroy_program(prog);
        (cubin, log.unwrap_or_default())
    };
    match outcome {
        (Ok(cubin), log) => Ok(Compiled { cubin, log }),
        (Err(e), log) => Err(fail(format!("module `{}` for {arch} failed ({e:?}):\n{log}", module.name))),
    }
}

/// # Safety
/// `prog` is a live, successfully compiled program.
unsafe fn cubin_of(prog: sys::nvrtcProgram) -> std::result::Result<Vec<u8>, result::NvrtcError> {
    let mut size = 0usize;
    sys::nvrtcGetCUBINSize(prog, &mut size).result()?;
    let mut cubin = vec![0u8; size];
    sys::nvrtcGetCUBIN(prog, cubin.as_mut_ptr() as *mut c_char).result()?;
    Ok(cubin)
}

/// Compiles `module` for `arch`, or reads the CUBIN a previous run cached.
pub fn compile_cached(module: &ModuleSource, arch: &str) -> Result<Vec<u8>> {
    let path = cache_path(module, arch)?;
    // A cached CUBIN is an ELF image; anything else (a truncated or foreign file) is
    // compiled again and replaced.
    if let Ok(cubin) = std::fs::read(&path) {
        if cubin.starts_with(b"\x7fELF") {
            return Ok(cubin);
        }
    }
    let compiled = compile(module, arch, false)?;
    // A failed cache write only costs the next run a compile.
    if path.parent().is_some_and(|dir| std::fs::create_dir_all(dir).is_ok()) {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, &compiled.cubin).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    Ok(compiled.cubin)
}

/// Where the CUBIN of `module` for `arch` is cached: keyed by the source NVRTC sees, the
/// options and NVRTC's version, so a change to any of them compiles afresh.
pub fn cache_path(module: &ModuleSource, arch: &str) -> Result<PathBuf> {
    let (major, minor) = version()?;
    let key = format!("{}\n{:?}\nnvrtc {major}.{minor}", module.self_contained(), options(arch, false));
    Ok(cache_dir().join(format!("{}-{arch}-{:016x}.cubin", module.name, crate::rng::fnv1a(key.as_bytes()))))
}

/// `$CARI_KERNEL_CACHE`, else `$XDG_CACHE_HOME/cari/kernels`, else `~/.cache/cari/kernels`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARI_KERNEL_CACHE") {
        return dir.into();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("cari").join("kernels")
}
