//! The engine on the CPU: the tape, every op's gradients, the optimizers, the network and
//! its task weighting, against PyTorch's numbers where PyTorch computed them, and the errors
//! bad input gets.

#[path = "../common/mod.rs"]
mod common;

mod autograd;
mod errors;
mod gradcheck;
mod optim;
mod parameter_count;
mod pytorch_network;
mod pytorch_ops;
mod weighting;
