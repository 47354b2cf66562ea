use crate::backend::Pool2dGeometry;
pub fn max_pool2d(x: &[f32], g: &Pool2dGeometry) -> Vec<f32> { todo!() }
pub fn max_pool2d_backward(dy: &[f32], x: &[f32], g: &Pool2dGeometry) -> Vec<f32> { todo!() }
pub fn global_avg_pool(x: &[f32], batch: usize, hw: usize, channels: usize) -> Vec<f32> { todo!() }
pub fn global_avg_pool_backward(dy: &[f32], batch: usize, hw: usize, channels: usize) -> Vec<f32> { todo!() }
