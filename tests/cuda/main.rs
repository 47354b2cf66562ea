//! The CUDA backend: the emulation of the CUDA execution model, the kernel table and launch
//! checks, every kernel's parity with the CPU backend, and whole training steps. The real
//! GPU's cases run with `CARI_TEST_CUDA=1` (`tools/gpu_suite.sh`).

mod deferred;
mod emulator;
mod graph;
mod parity;
mod profile;
mod runtime;
mod train_step;
