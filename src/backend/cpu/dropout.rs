pub fn mask(len: usize, keep: f32, seed: u64) -> Vec<f32> { todo!() }
