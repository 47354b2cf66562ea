//! Build script.
//! - Records the commit the binary was built from (`cari --version`), so a benchmark
//!   figure can be traced to its code.
//! - Reads every `extern "C" __global__` kernel declared in `kernels/*.cu` and generates
//!   the one kernel table both launch paths use (`kernel_table.rs`: names, modules,
//!   parameter kinds, embedded sources for NVRTC).
//! - Compiles the same `.cu` files with the host C++ compiler under the CUDA execution
//!   model emulation (`kernels/emu/`), plus a registry that maps kernel names to entry
//!   points taking CUDA's `void** kernelParams`; tests run every kernel through it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A kernel parameter as the launch sees it (mirrors `backend::cuda::kernels::Param`).
#[derive(Clone, Copy)]
enum Param {
    Ptr,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Param {
    fn parse(ty: &str) -> Option<Param> {
        if ty.contains('*') {
            return Some(Param::Ptr);
        }
        let words: Vec<&str> =
            ty.split_whitespace().filter(|w| !matches!(*w, "const" | "__restrict__" | "volatile")).collect();
        Some(match words.join(" ").as_str() {
            "int" => Param::I32,
            "unsigned" | "unsigned int" => Param::U32,
            "long long" | "i64" => Param::I64,
            "unsigned long long" => Param::U64,
            "float" => Param::F32,
            "double" => Param::F64,
            _ => return None,
        })
    }
    fn rust(self) -> &'static str {
        match self {
            Param::Ptr => "Ptr",
            Param::I32 => "I32",
            Param::U32 => "U32",
            Param::I64 => "I64",
            Param::U64 => "U64",
            Param::F32 => "F32",
            Param::F64 => "F64",
        }
    }
    /// The C type the emulator registry declares the parameter as (pointers as `void*`,
    /// which is ABI-identical for any pointee).
    fn c(self) -> &'static str {
        match self {
            Param::Ptr => "void*",
            Param::I32 => "int",
            Param::U32 => "unsigned",
            Param::I64 => "long long",
            Param::U64 => "unsigned long long",
            Param::F32 => "float",
            Param::F64 => "double",
        }
    }
}

struct Kernel {
    module: String,
    name: String,
    params: Vec<Param>,
}

fn main() {
    record_commit();
    let kernel_dir = Path::new("kernels");
    println!("cargo:rerun-if-changed=kernels");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(kernel_dir)
        .expect("kernels/ is missing")
        .map(|e| e.expect("reading kernels/").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cu"))
        .collect();
    sources.sort();
    let mut headers: Vec<PathBuf> = std::fs::read_dir(kernel_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cuh"))
        .collect();
    headers.sort();

    let mut kernels = Vec::new();
    for path in &sources {
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(path).unwrap();
        let module = path.file_stem().unwrap().to_string_lossy().into_owned();
        kernels.extend(declarations(&strip_comments(&text), &module, path));
    }
    let mut seen = std::collections::HashSet::new();
    for k in &kernels {
        assert!(seen.insert(&k.name), "kernel `{}` is declared twice (second in kernels/{}.cu)", k.name, k.module);
    }

    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let root = std::env::current_dir().unwrap();
    std::fs::write(out.join("kernel_table.rs"), rust_table(&kernels, &sources, &headers, &root)).unwrap();

    let emulated = std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64")
        && std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    println!("cargo::rustc-check-cfg=cfg(cari_emu)");
    if emulated {
        println!("cargo:rustc-cfg=cari_emu");
        let registry = out.join("emu_registry.cpp");
        std::fs::write(&registry, emu_registry(&kernels)).unwrap();
        compile_emulator(&sources, &registry);
    }
}

fn record_commit() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CARI_BUILD_COMMIT={commit}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}

/// Blanks `//` and `/* */` comments (string literals in kernels hold no comment markers).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('/') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("//") {
            rest = tail.find('\n').map_or("", |j| &tail[j..]);
        } else if tail.starts_with("/*") {
            let end = tail.find("*/").map_or(tail.len(), |j| j + 2);
            out.extend(tail[..end].chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
            rest = &tail[end..];
        } else {
            out.push('/');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Every `extern "C" __global__ void name(params)` in a source file.
fn declarations(text: &str, module: &str, path: &Path) -> Vec<Kernel> {
    const MARK: &str = "extern \"C\" __global__";
    let mut kernels = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(MARK) {
        rest = rest[i + MARK.len()..].trim_start();
        if let Some(bounds) = rest.strip_prefix("__launch_bounds__") {
            let close = bounds.find(')').unwrap_or_else(|| panic!("{}: unclosed __launch_bounds__", path.display()));
            rest = bounds[close + 1..].trim_start();
        }
        let open =
            rest.find('(').unwrap_or_else(|| panic!("{}: a kernel declaration without parameters", path.display()));
        let head = rest[..open].trim();
        let name = head.strip_prefix("void").map(str::trim).unwrap_or_else(|| {
            panic!("{}: a kernel must be declared `extern \"C\" __global__ void name(...)`: `{head}`", path.display())
        });
        rest = &rest[open + 1..];
        let close =
            rest.find(')').unwrap_or_else(|| panic!("{}: kernel `{name}`: unclosed parameters", path.display()));
        let params = rest[..close]
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty() && *p != "void")
            .map(|p| {
                let ty = p.trim_end_matches(|c: char| c.is_alphanumeric() || c == '_');
                Param::parse(ty).unwrap_or_else(|| {
                    panic!("{}: kernel `{name}`: unsupported parameter type in `{p}`", path.display())
                })
            })
            .collect();
        kernels.push(Kernel { module: module.into(), name: name.into(), params });
        rest = &rest[close..];
    }
    kernels
}

fn rust_table(kernels: &[Kernel], sources: &[PathBuf], headers: &[PathBuf], root: &Path) -> String {
    let mut s = String::from("// Generated by build.rs from kernels/*.cu. Do not edit.\n\n");
    let file = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
    s.push_str("/// Every kernel source file, as NVRTC compiles it (one module per file).\n");
    s.push_str("pub static MODULES: &[ModuleSource] = &[\n");
    for p in sources {
        let name = p.file_stem().unwrap().to_string_lossy();
        writeln!(s, "    ModuleSource {{ name: {name:?}, source: include_str!({:?}) }},", root.join(p)).unwrap();
    }
    s.push_str("];\n\n/// The headers `#include`d by kernel sources, by file name.\n");
    s.push_str("pub static HEADERS: &[(&str, &str)] = &[\n");
    for p in headers {
        writeln!(s, "    ({:?}, include_str!({:?})),", file(p), root.join(p)).unwrap();
    }
    s.push_str("];\n\n");
    for k in kernels {
        let params: Vec<String> = k.params.iter().map(|p| format!("Param::{}", p.rust())).collect();
        writeln!(
            s,
            "pub const {}: Kernel = Kernel {{ module: {:?}, name: {:?}, params: &[{}] }};",
            k.name.to_uppercase(),
            k.module,
            k.name,
            params.join(", ")
        )
        .unwrap();
    }
    s.push_str("\n/// Every kernel, in source order.\npub static ALL: &[Kernel] = &[\n");
    for k in kernels {
        writeln!(s, "    {},", k.name.to_uppercase()).unwrap();
    }
    s.push_str("];\n");
    s
}

fn emu_registry(kernels: &[Kernel]) -> String {
    let mut s = String::from("// Generated by build.rs from kernels/*.cu. Do not edit.\n#include <cstring>\n");
    s.push_str("typedef void (*cari_emu_entry)(void** args);\n\n");
    for k in kernels {
        let decl: Vec<&str> = k.params.iter().map(|p| p.c()).collect();
        writeln!(s, "extern \"C\" void {}({});", k.name, decl.join(", ")).unwrap();
        let call: Vec<String> =
            k.params.iter().enumerate().map(|(i, p)| format!("*static_cast<{}*>(a[{i}])", p.c())).collect();
        writeln!(s, "static void entry_{}(void** a) {{ {}({}); }}", k.name, k.name, call.join(", ")).unwrap();
    }
    s.push_str("\nextern \"C\" cari_emu_entry cari_emu_lookup(const char* name) {\n");
    for k in kernels {
        writeln!(s, "    if (std::strcmp(name, {:?}) == 0) return entry_{};", k.name, k.name).unwrap();
    }
    s.push_str("    return nullptr;\n}\n");
    s
}

fn compile_emulator(sources: &[PathBuf], registry: &Path) {
    println!("cargo:rerun-if-env-changed=CARI_EMU_CXXFLAGS");
    let extra = std::env::var("CARI_EMU_CXXFLAGS").unwrap_or_default();
    let base = || {
        let mut b = cc::Build::new();
        b.cpp(true).std("c++17").opt_level(2).warnings(true).extra_warnings(true).flag("-fno-strict-aliasing");
        // Extra flags, e.g. `-fsanitize=undefined` for a checked build of the emulation.
        for f in extra.split_whitespace() {
            b.flag(f);
        }
        b
    };
    // The kernels themselves: CUDA sources read as C++ with the emulation header first.
    let mut kernels = base();
    kernels.flag("-Wno-unused-parameter").define("CARI_EMU", None).include("kernels");
    kernels.flag("-include").flag("kernels/emu/cuda_emu.h").flag("-x").flag("c++");
    for s in sources {
        kernels.file(s);
    }
    let objects = kernels.compile_intermediates();
    // One archive for runtime, registry and kernels: they refer to each other.
    base().include("kernels/emu").file("kernels/emu/runtime.cpp").file(registry).objects(objects).compile("cari_emu");
}
