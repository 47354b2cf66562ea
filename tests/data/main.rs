//! The data layer: each dataset's loader (CaVI, WebCaricature, a folder of faces, the
//! synthetic faces and their exports), the batch loader, and dataset specifications.

#[path = "../common/mod.rs"]
mod common;

mod cavi;
mod folder;
mod loader;
mod source;
mod synth;
mod synth_as_cavi;
mod synth_as_webcaricature;
mod uploads;
mod webcaricature;
