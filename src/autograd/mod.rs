//! Tape autograd.
//!
//! Ops append a record (inputs, output, backward closure) to the tape of their inputs;
//! [`Var::backward_for`] walks the tape in reverse and returns the gradients of the
//! selected named leaves. Values computed from no recorded variable record nothing, so
//! inference (parameters entered as constants) builds no tape and holds no gradients.
//! Stop-gradient is [`Var::detach`]. Because leaves carry parameter names and a backward
//! pass can be restricted to some of them, two objectives can update two disjoint
//! parameter groups from one forward pass.

mod gradients;
mod params;
mod tape;

pub use gradients::Gradients;
pub use params::{ParamGroup, ParamStore};
pub use tape::{BackwardFn, Tape, Var};
