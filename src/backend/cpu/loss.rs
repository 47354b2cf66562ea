use crate::backend::Rows;
pub fn softmax_cross_entropy(logits: &[f32], labels: &[usize], shape: Rows) -> (Vec<f32>, Vec<f32>) { todo!() }
pub fn softmax_cross_entropy_backward(dloss: &[f32], probs: &[f32], labels: &[usize], shape: Rows) -> Vec<f32> { todo!() }
pub fn center_loss(e: &[f32], centers: &[f32], labels: &[usize], shape: Rows) -> Vec<f32> { todo!() }
pub fn center_loss_backward(dloss: &[f32], e: &[f32], centers: &[f32], labels: &[usize], shape: Rows) -> Vec<f32> { todo!() }
