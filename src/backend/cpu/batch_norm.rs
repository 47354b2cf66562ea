use crate::backend::Rows;
pub fn stats(x: &[f32], shape: Rows) -> (Vec<f32>, Vec<f32>) { todo!() }
pub fn forward(x: &[f32], mean: &[f32], var: &[f32], beta: &[f32], shape: Rows, eps: f32) -> Vec<f32> { todo!() }
pub fn backward(dy: &[f32], x: &[f32], mean: &[f32], var: &[f32], shape: Rows, eps: f32) -> (Vec<f32>, Vec<f32>) { todo!() }
