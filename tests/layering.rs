//! The layering of `src/` as docs/architecture.md states it, enforced: every module may
//! import only modules of lower layers, so no import circle can form and no layer reaches up.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The layer table of `docs/architecture.md`: module name → layer number, from the rows
/// `| N | `module` | … |` between the `<!-- layers -->` and `<!-- /layers -->` markers.
fn documented_layers() -> BTreeMap<String, u32> {
    let doc = fs::read_to_string(Path::new(ROOT).join("docs/architecture.md")).expect("docs/architecture.md");
    let start = doc.find("<!-- layers -->").expect("the <!-- layers --> marker in docs/architecture.md");
    let end = doc.find("<!-- /layers -->").expect("the <!-- /layers --> marker in docs/architecture.md");
    let mut layers = BTreeMap::new();
    for row in doc[start..end].lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let Ok(layer) = cells[0].parse::<u32>() else { continue };
        for module in cells[1].split(',') {
            let name = module.trim().trim_matches('`').trim_end_matches('/').to_string();
            assert!(layers.insert(name.clone(), layer).is_none(), "`{name}` has two rows in the layer table");
        }
    }
    assert!(!layers.is_empty(), "no layer rows between the markers of docs/architecture.md");
    layers
}

/// The crate's top-level modules: each file or folder directly under `src/` but the crate
/// roots.
fn top_level_modules() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(Path::new(ROOT).join("src"))
        .expect("src/")
        .map(|e| e.expect("src/ entry").file_name().to_string_lossy().trim_end_matches(".rs").to_string())
        .filter(|n| n != "lib")
        .collect();
    names.sort();
    names
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("folder entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `source` with comments and string/char literals blanked, so only code is searched.
fn code_only(source: &str) -> String {
    let b = source.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &source[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').map_or(b.len(), |n| i + n);
            i = end;
        } else if rest.starts_with("/*") {
            let mut depth = 0;
            while i < b.len() {
                if source[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if source[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_opening(rest) {
            let close = format!("\"{}", "#".repeat(hashes));
            let body = i + 2 + hashes;
            i = source[body..].find(&close).map_or(b.len(), |n| body + n + close.len());
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && is_char_literal(&b[i..]) {
            i += if b.get(i + 1) == Some(&b'\\') { source[i + 2..].find('\'').map_or(b.len(), |n| n + 3) } else { 3 };
            out.push_str("' '");
        } else {
            let c = rest.chars().next().expect("in bounds");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `Some(number of #)` where `s` opens a raw string `r"…"` or `r#"…"#`.
fn raw_string_opening(s: &str) -> Option<usize> {
    let after = s.strip_prefix('r')?;
    let hashes = after.len() - after.trim_start_matches('#').len();
    after[hashes..].starts_with('"').then_some(hashes)
}

/// A `'` that opens a char literal (`'a'`, `'\n'`), not a lifetime (`'a`).
fn is_char_literal(b: &[u8]) -> bool {
    b.get(1) == Some(&b'\\') || (b.len() > 2 && b[2] == b'\'') || (b.len() > 1 && b[1] >= 0x80)
}

/// The top-level modules that `code` names through `crate::…`, including the members of
/// grouped imports (`use crate::{a::X, b::Y}`).
fn crate_references(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && c == ',' {
                    found.extend(first_segment(&item));
                    item.clear();
                } else {
                    item.push(c);
                }
            }
            found.extend(first_segment(&item));
        } else {
            found.extend(first_segment(rest));
        }
    }
    found
}

/// The names `src/lib.rs` re-exports at the crate root (`pub use tensor::{DType, Tensor};`),
/// each with the top-level module it comes from, so `crate::Tensor` counts as `tensor`.
fn root_reexports() -> BTreeMap<String, String> {
    let lib = code_only(&fs::read_to_string(Path::new(ROOT).join("src/lib.rs")).expect("src/lib.rs"));
    let mut names = BTreeMap::new();
    for statement in lib.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else { continue };
        let module = first_segment(path).expect("a re-exported path");
        for name in path.split(|c: char| !(c.is_alphanumeric() || c == '_')).skip(1) {
            if name.starts_with(char::is_uppercase) {
                names.insert(name.to_string(), module.clone());
            }
        }
    }
    names
}

fn first_segment(path: &str) -> Option<String> {
    let name: String = path.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some(name)
}

#[test]
fn every_top_level_module_has_a_layer_and_every_layer_row_a_module() {
    let layers = documented_layers();
    let modules = top_level_modules();
    for m in &modules {
        assert!(layers.contains_key(m), "src/{m} has no row in the layer table of docs/architecture.md");
    }
    for name in layers.keys() {
        assert!(modules.contains(name), "docs/architecture.md lists `{name}`, which is not a module of src/");
    }
}

#[test]
fn no_module_imports_a_module_of_its_own_or_a_higher_layer() {
    let layers = documented_layers();
    let reexports = root_reexports();
    let src = Path::new(ROOT).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src/");
        let module = relative.components().next().expect("a file").as_os_str().to_string_lossy();
        let module = module.trim_end_matches(".rs");
        if module == "lib" {
            continue;
        }
        let layer = layers[module];
        let code = code_only(&fs::read_to_string(&file).expect("readable source"));
        let mut targets: Vec<String> =
            crate_references(&code).into_iter().map(|name| reexports.get(&name).cloned().unwrap_or(name)).collect();
        targets.sort();
        targets.dedup();
        for target in targets.iter().filter(|t| t.as_str() != module) {
            match layers.get(target) {
                Some(&l) if l < layer => {}
                Some(&l) => violations.push(format!(
                    "src/{} (`{module}`, layer {layer}) imports `{target}` (layer {l})",
                    relative.display()
                )),
                None => violations
                    .push(format!("src/{} names `crate::{target}`, not in the layer table", relative.display())),
            }
        }
    }
    assert!(violations.is_empty(), "imports that break docs/architecture.md's layering:\n{}", violations.join("\n"));
}

#[test]
fn the_import_scanner_sees_grouped_paths_and_ignores_comments_and_strings() {
    let code = code_only(
        "use crate::{error::{Error, Result}, tensor::Tensor};\n// crate::train in a comment\n\
         let s = \"crate::eval\"; let r = r#\"crate::plot\"#; let c = '\"'; fn f<'a>() { crate::io::open() }",
    );
    assert_eq!(crate_references(&code), ["error", "tensor", "io"]);
}
