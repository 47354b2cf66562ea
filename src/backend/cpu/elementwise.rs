use crate::backend::{BinaryOp, Rows};
pub fn binary(op: BinaryOp, a: &[f32], b: &[f32]) -> Vec<f32> { todo!() }
pub fn affine(x: &[f32], mul: f32, add: f32) -> Vec<f32> { todo!() }
pub fn add_scaled(a: &[f32], b: &[f32], alpha: f32) -> Vec<f32> { todo!() }
pub fn relu(x: &[f32]) -> Vec<f32> { todo!() }
pub fn relu_backward(dy: &[f32], y: &[f32]) -> Vec<f32> { todo!() }
pub fn add_bias(x: &[f32], bias: &[f32], shape: Rows) -> Vec<f32> { todo!() }
pub fn sum_rows(x: &[f32], shape: Rows) -> Vec<f32> { todo!() }
pub fn broadcast_rows(x: &[f32], shape: Rows) -> Vec<f32> { todo!() }
