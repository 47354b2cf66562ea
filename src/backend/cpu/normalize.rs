use crate::backend::Rows;
pub fn l2_normalize(x: &[f32], shape: Rows, eps: f32) -> Vec<f32> { todo!() }
pub fn l2_normalize_backward(dy: &[f32], x: &[f32], shape: Rows, eps: f32) -> Vec<f32> { todo!() }
pub fn softmax(x: &[f32], shape: Rows) -> Vec<f32> { todo!() }
pub fn softmax_backward(dy: &[f32], y: &[f32], shape: Rows) -> Vec<f32> { todo!() }
