//! Parity of every CUDA kernel with the CPU backend, on fresh random inputs and awkward
//! shapes (1, primes, sizes that are not multiples of 32).
//!
//! Each case runs on the CPU emulation of the CUDA execution model twice, with the threads
//! of a block run in forward and in reverse order between barriers (reverse order exposes a
//! missing `__syncthreads`), and on `cuda:0` as well when `CARI_TEST_CUDA=1` (the GPU
//! machine's suite). Tolerances are `atol + rtol·|ref|`, each with its reason.

pub mod harness;

mod batch_norm;
mod conv2d;
mod dropout;
mod elementwise;
mod layout;
mod loss;
mod matmul;
mod memory;
mod normalize;
mod optim;
mod pool;
