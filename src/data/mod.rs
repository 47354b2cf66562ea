//! Data: datasets (the built-in synthetic faces, CaVI, WebCaricature, any folder of
//! images), image preprocessing, and the sampler and loader threads that feed training and
//! evaluation.

mod assemble;
mod cavi;
mod config;
mod dataset;
mod files;
mod folder;
mod image_list;
mod loader;
mod pairs;
mod preprocess;
mod sampler;
pub mod synth;
mod uploads;
mod webcaricature;

pub use assemble::{HostBatch, OnBadImage, SkippedImage};
pub use cavi::{Cavi, CaviProtocol};
pub use config::{DataConfig, DataSource, OpenedData, SourceOptions};
pub use dataset::{Dataset, Pair, Protocol, RgbImage, SampleInfo};
pub use folder::{FolderDataset, ModalityRule};
pub use image_list::ImageList;
pub use loader::{BatchLoader, EvalBatches, LoaderOptions, SkipReport};
pub use pairs::balanced_pairs;
pub use preprocess::{resize_bilinear, Crop, Preprocess};
pub use sampler::{Draw, Sampler, SamplerState};
pub use synth::{export_cavi, export_webcaricature, SynthConfig, SynthFaces};
pub use uploads::BatchUploads;
pub use webcaricature::{
    parse_landmarks, read_landmarks, Direction, FaceBox, IdentificationFold, IdentificationProtocol, OnBadLine,
    SkippedLine, VerificationFold, VerificationProtocol, View, WebCaricature, WebCaricatureFolds,
    WebCaricatureProtocol, WebCaricatureTask,
};

/// Per-image standardisation (TF's `per_image_standardization`): (x − mean)/max(std, 1/√n).
pub fn standardize(pixels: &mut [f32]) {
    let n = pixels.len().max(1) as f64;
    let mean = pixels.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = pixels.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    let std = var.sqrt().max(1.0 / n.sqrt());
    pixels.iter_mut().for_each(|v| *v = ((f64::from(*v) - mean) / std) as f32);
}
