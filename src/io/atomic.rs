//! Atomic file replacement: write a temporary file beside the target, flush it to disk,
//! rename it over the target. A crash or an error at any point leaves either the old file
//! or the complete new one under the final name, never a half-written one; the temporary
//! file is removed on error. Replacing by rename also keeps readers that mapped the old
//! file safe: the old contents stay intact until its last map goes.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The temporary file; removed when dropped unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    renamed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes `path` atomically with what `fill` writes into the buffered temporary file.
pub fn write_atomically(path: &Path, fill: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid("output file", format!("`{}` does not name a file", path.display())))?;
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Unique per process and call, so two writers of one target never share a temporary.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}-{unique}", std::process::id()));
    let tmp_path = folder.join(tmp_name);

    let file = OpenOptions::new().write(true).create_new(true).open(&tmp_path).map_err(|e| Error::io(path, e))?;
    let mut tmp = TempFile { path: tmp_path, renamed: false };
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    fill(&mut writer)?;
    writer.flush().map_err(|e| Error::io(&tmp.path, e))?;
    let file = writer.into_inner().map_err(|e| Error::io(&tmp.path, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(&tmp.path, e))?;
    drop(file);
    std::fs::rename(&tmp.path, path).map_err(|e| Error::io(path, e))?;
    tmp.renamed = true;
    sync_folder(folder)
}

/// Makes the rename itself durable: the folder's entry is on disk once this returns.
#[cfg(unix)]
fn sync_folder(folder: &Path) -> Result<()> {
    File::open(folder).and_then(|d| d.sync_all()).map_err(|e| Error::io(folder, e))
}

#[cfg(not(unix))]
fn sync_folder(_folder: &Path) -> Result<()> {
    Ok(())
}
