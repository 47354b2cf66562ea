//! Writing an export of the synthetic faces: everything goes into a hidden sibling folder
//! that is renamed into place at the end, so an export either completes or leaves nothing
//! behind; images are rendered and JPEG-encoded in parallel.

use super::SynthFaces;
use crate::data::{Dataset, RgbImage};
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

const JPEG_QUALITY: u8 = 90;

/// Runs `write` on a fresh staging folder and renames it to `out` (created if absent;
/// refused unless empty). On failure the staging folder is removed and `out` is left as it
/// was.
pub(super) fn write_atomically<T>(out: &Path, write: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    if out.exists() {
        let mut entries = fs::read_dir(out).map_err(|e| Error::io(out, e))?;
        if entries.next().is_some() {
            return Err(Error::invalid(
                "out",
                format!("{} is not empty; export into a new or empty folder", out.display()),
            ));
        }
    }
    let staging = staging_folder(out)?;
    if staging.exists() {
        return Err(Error::invalid(
            "out",
            format!("{} is left from an interrupted export; remove it first", staging.display()),
        ));
    }
    fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let written = write(&staging).and_then(|value| {
        if out.exists() {
            fs::remove_dir(out).map_err(|e| Error::io(out, e))?;
        }
        fs::rename(&staging, out).map_err(|e| Error::io(out, e))?;
        Ok(value)
    });
    if written.is_err() && staging.exists() {
        // Best effort: the error being returned matters more than a failed clean-up.
        let _ = fs::remove_dir_all(&staging);
    }
    written
}

/// `.<name>.partial` beside `out`, on the same file system so the final rename is atomic.
fn staging_folder(out: &Path) -> Result<PathBuf> {
    let name =
        out.file_name().ok_or_else(|| Error::invalid("out", format!("{} does not name a folder", out.display())))?;
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Ok(parent.join(format!(".{}.partial", name.to_string_lossy())))
}

/// Renders every sample of `faces` and writes it as a JPEG to `path_of(index)`, whose
/// folder must exist.
pub(super) fn write_images(faces: &SynthFaces, path_of: impl Fn(usize) -> PathBuf + Sync) -> Result<()> {
    (0..faces.len()).into_par_iter().try_for_each(|i| write_jpeg(&faces.load(i)?, &path_of(i)))
}

fn write_jpeg(image: &RgbImage, path: &Path) -> Result<()> {
    let file = fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut writer = BufWriter::new(file);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut writer, JPEG_QUALITY)
        .encode(&image.pixels, image.width as u32, image.height as u32, image::ExtendedColorType::Rgb8)
        .map_err(|e| Error::format(path, format!("JPEG encoding failed: {e}")))?;
    writer.flush().map_err(|e| Error::io(path, e))
}

/// Writes `text` to `path`, whose folder must exist.
pub(super) fn write_text(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).map_err(|e| Error::io(path, e))
}
