use crate::backend::MatmulGeometry;
pub fn matmul(a: &[f32], b: &[f32], g: &MatmulGeometry) -> Vec<f32> { todo!() }
