use crate::backend::Rows;
pub fn concat_cols(parts: &[(&[f32], usize)], rows: usize) -> Vec<f32> { todo!() }
pub fn slice_cols(x: &[f32], shape: Rows, start: usize, len: usize) -> Vec<f32> { todo!() }
pub fn gather_rows(x: &[f32], shape: Rows, index: &[usize]) -> Vec<f32> { todo!() }
pub fn scatter_add_rows(src: &[f32], shape: Rows, index: &[usize]) -> Vec<f32> { todo!() }
