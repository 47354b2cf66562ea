//! Evaluation and use of a trained model: the metrics, their ROC and CMC plots, `cari eval`
//! on every protocol family, and `cari embed` / `verify` / `identify`.

#[path = "../common/mod.rs"]
mod common;

mod curve_plots;
mod metrics;
mod protocols;
mod serve;
