//! Training: whole runs and their resumption, warm starts, checkpoint files, the training
//! log and its plots, the experiment, and `cari train` / `cari plot` from the command line.

#[path = "../common/mod.rs"]
mod common;

mod checkpoint_file;
mod cli;
mod cli_flags;
mod experiment;
mod log;
mod plot;
mod run;
mod session;
mod warm_start;
