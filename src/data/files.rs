//! Walking image folders: the one definition of what counts as an image file, and
//! directory listings in a fixed order so scans do not depend on the file system.

use crate::error::{Error, Result};
use std::fs;
use std::path::{Path, PathBuf};

const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// The entries of `dir`, sorted by name.
pub(super) fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = fs::read_dir(dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect::<std::io::Result<Vec<_>>>())
        .map_err(|e| Error::io(dir, e))?;
    paths.sort();
    Ok(paths)
}

pub(super) fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Whether the file name ends in `.jpg`, `.jpeg` or `.png`, in any case.
pub(super) fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}
