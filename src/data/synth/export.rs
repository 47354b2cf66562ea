//! Writes the synthetic dataset to disk in CaVI's exact layout (images as JPEG, the split
//! files with CRLF lines and backslashes), so the CaVI loader reads it back with the same
//! protocol. Everything is written into a hidden sibling folder first and renamed into
//! place at the end: an export either completes or leaves nothing behind.

use super::staging::{write_atomically, write_images, write_text};
use super::SynthFaces;
use crate::batch::Modality;
use crate::data::{Dataset, Pair};
use crate::error::{Error, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// What `export_cavi` wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportSummary {
    pub root: PathBuf,
    pub identities: usize,
    pub photos: usize,
    pub caricatures: usize,
    pub test_pairs: usize,
    pub validation_pairs: usize,
}

/// CaVI's folder for a modality.
fn modality_folder(m: Modality) -> &'static str {
    match m {
        Modality::Photo => "Real",
        Modality::Caricature => "Caricature",
    }
}

/// Sample `index`'s file name inside its identity's folder: `<Name>_c_<k>.jpg` or
/// `<Name>_r_<k>.jpg`, `k` counting from 1.
pub fn cavi_file_name(faces: &SynthFaces, index: usize) -> String {
    let info = faces.info(index);
    let name = &faces.identities()[info.identity];
    let letter = if info.modality == Modality::Photo { 'r' } else { 'c' };
    format!("{name}_{letter}_{}.jpg", faces.rank(index) + 1)
}

/// Sample `index`'s path below `CaVI_Dataset/`, `/`-separated: `Real/<Name>/<file>`.
pub fn cavi_path(faces: &SynthFaces, index: usize) -> String {
    let info = faces.info(index);
    let name = &faces.identities()[info.identity];
    format!("{}/{name}/{}", modality_folder(info.modality), cavi_file_name(faces, index))
}

/// One split-file line (CRLF-terminated):
/// `<id> Caricature/<Folder>\<file> <id> Real/<Folder>\<file> <same>`.
fn split_line(faces: &SynthFaces, pair: &Pair) -> String {
    let entry = |i: usize| {
        let info = faces.info(i);
        let name = &faces.identities()[info.identity];
        format!("{name} {}/{name}\\{}", modality_folder(info.modality), cavi_file_name(faces, i))
    };
    format!("{} {} {}\r\n", entry(pair.caricature), entry(pair.photo), u8::from(pair.same))
}

/// Writes `faces` to the folder `out` (created if absent; refused unless empty):
/// `CaVI_Dataset/{Caricature,Real}/<Name>/…jpg`, and `train-test-files/testing_1.txt`,
/// `validation.txt`, `complete_identity_list.txt` with the pairs of `faces.protocol()`.
/// Images are rendered and encoded in parallel.
pub fn export_cavi(faces: &SynthFaces, out: &Path) -> Result<ExportSummary> {
    let summary = write_atomically(out, |staging| write_all(faces, staging))?;
    Ok(ExportSummary { root: out.to_path_buf(), ..summary })
}

fn write_all(faces: &SynthFaces, root: &Path) -> Result<ExportSummary> {
    let images = root.join("CaVI_Dataset");
    for modality in [Modality::Caricature, Modality::Photo] {
        for name in faces.identities() {
            let dir = images.join(modality_folder(modality)).join(name);
            fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
    }
    write_images(faces, |i| images.join(cavi_path(faces, i)))?;
    let protocol = faces.protocol();
    let splits = root.join("train-test-files");
    fs::create_dir_all(&splits).map_err(|e| Error::io(&splits, e))?;
    let lines = |pairs: &[Pair]| pairs.iter().map(|p| split_line(faces, p)).collect::<String>();
    write_text(&splits.join("testing_1.txt"), &lines(&protocol.test_pairs))?;
    write_text(&splits.join("validation.txt"), &lines(&protocol.validation_pairs))?;
    // CaVI's list has no line break after its last name.
    write_text(&splits.join("complete_identity_list.txt"), &faces.identities().join("\r\n"))?;
    let photos = (0..faces.len()).filter(|&i| faces.info(i).modality == Modality::Photo).count();
    Ok(ExportSummary {
        root: root.to_path_buf(),
        identities: faces.identities().len(),
        photos,
        caricatures: faces.len() - photos,
        test_pairs: protocol.test_pairs.len(),
        validation_pairs: protocol.validation_pairs.len(),
    })
}
