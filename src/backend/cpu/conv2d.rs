use crate::backend::Conv2dGeometry;
pub fn forward(x: &[f32], w: &[f32], g: &Conv2dGeometry) -> Vec<f32> { todo!() }
pub fn input_grad(dy: &[f32], w: &[f32], g: &Conv2dGeometry) -> Vec<f32> { todo!() }
pub fn weight_grad(x: &[f32], dy: &[f32], g: &Conv2dGeometry) -> Vec<f32> { todo!() }
