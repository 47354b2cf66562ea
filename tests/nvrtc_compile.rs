//! Every kernel module compiles under NVRTC for sm_90 (the H100/H200 of our GPU machines),
//! with ptxas run (a real architecture, so bad inline PTX is rejected) and its report
//! showing every kernel of the table and no register spills.
//!
//! Needs libnvrtc: `.ci/run` installs `nvidia-cuda-nvrtc==13.0.88` from PyPI and puts its
//! `nvidia/cu13/lib` on `LD_LIBRARY_PATH`, and sets `CARI_REQUIRE_NVRTC=1` so a missing
//! library fails there; elsewhere these tests skip with the reason printed.
//!
//! A binary of its own: the cache test points `CARI_KERNEL_CACHE` at a scratch folder for the
//! whole process, and every module a GPU device loads reads that variable.

use cari::backend::cuda::runtime::kernels::{ALL, MODULES};
use cari::backend::cuda::runtime::nvrtc;

const ARCH: &str = "sm_90";

fn nvrtc_or_skip(test: &str) -> bool {
    match nvrtc::ensure_available() {
        Ok(()) => true,
        Err(e) if std::env::var_os("CARI_REQUIRE_NVRTC").is_some_and(|v| v == "1") => {
            panic!("{test}: CARI_REQUIRE_NVRTC=1 but {e}")
        }
        Err(e) => {
            eprintln!("skipping {test}: {e}");
            false
        }
    }
}

/// ptxas' verbose report: per entry function, "Compiling entry function 'name' for 'sm_90'"
/// followed by a line "N bytes stack frame, N bytes spill stores, N bytes spill loads".
fn spills(log: &str) -> Vec<(String, String)> {
    let mut current = String::new();
    let mut bad = Vec::new();
    for line in log.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            current = rest.split('\'').next().unwrap_or_default().to_string();
        }
        if line.contains("spill stores") && !line.contains(" 0 bytes spill stores, 0 bytes spill loads") {
            bad.push((current.clone(), line.trim().to_string()));
        }
    }
    bad
}

#[test]
fn every_module_compiles_for_sm90_without_spills() {
    if !nvrtc_or_skip("every_module_compiles_for_sm90_without_spills") {
        return;
    }
    let (major, minor) = nvrtc::version().unwrap();
    eprintln!("NVRTC {major}.{minor}, {} modules, {} kernels", MODULES.len(), ALL.len());
    let mut failures = Vec::new();
    for module in MODULES {
        let compiled = match nvrtc::compile(module, ARCH, true) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{}: {e}", module.name));
                continue;
            }
        };
        assert!(!compiled.cubin.is_empty(), "{}: empty CUBIN", module.name);
        for k in ALL.iter().filter(|k| k.module == module.name) {
            if !compiled.log.contains(&format!("Compiling entry function '{}'", k.name)) {
                failures.push(format!("{}: ptxas compiled no entry `{}`:\n{}", module.name, k.name, compiled.log));
            }
        }
        for (kernel, line) in spills(&compiled.log) {
            failures.push(format!("{}: kernel `{kernel}` spills: {line}", module.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bad_kernel_source_is_rejected_with_the_log() {
    if !nvrtc_or_skip("bad_kernel_source_is_rejected_with_the_log") {
        return;
    }
    let broken = cari::backend::cuda::runtime::kernels::ModuleSource {
        name: "broken",
        source: "extern \"C\" __global__ void broken(float* x) { x[0] = undefined_name; }\n",
    };
    let err = nvrtc::compile(&broken, ARCH, false).err().expect("compiling an undefined name must fail");
    let msg = err.to_string();
    assert!(msg.contains("broken") && msg.contains("undefined_name"), "{msg}");
}

#[test]
fn bad_inline_ptx_is_rejected_by_ptxas() {
    if !nvrtc_or_skip("bad_inline_ptx_is_rejected_by_ptxas") {
        return;
    }
    let broken = cari::backend::cuda::runtime::kernels::ModuleSource {
        name: "bad_ptx",
        source: "extern \"C\" __global__ void bad_ptx(float* x) { asm volatile(\"not.an.instruction;\"); }\n",
    };
    assert!(nvrtc::compile(&broken, ARCH, false).is_err(), "ptxas must reject an unknown instruction");
}

#[test]
fn compiled_modules_are_cached_on_disk_and_a_corrupt_cache_entry_is_replaced() {
    if !nvrtc_or_skip("compiled_modules_are_cached_on_disk_and_a_corrupt_cache_entry_is_replaced") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("cari-kernel-cache-{}", std::process::id()));
    // Only this test reads the variable in this test binary.
    std::env::set_var("CARI_KERNEL_CACHE", &dir);
    let module = MODULES.iter().find(|m| m.name == "memory").expect("the memory module");
    let path = nvrtc::cache_path(module, ARCH).unwrap();
    assert!(path.starts_with(&dir), "{}", path.display());
    let first = nvrtc::compile_cached(module, ARCH).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), first, "the CUBIN is written to the cache");
    std::fs::write(&path, b"truncated").unwrap();
    assert_eq!(nvrtc::compile_cached(module, ARCH).unwrap(), first, "a corrupt entry is compiled again");
    assert_eq!(std::fs::read(&path).unwrap(), first, "and replaced");
    std::fs::remove_dir_all(&dir).unwrap();
}
