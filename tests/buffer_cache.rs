//! The CPU buffer cache hands out stale memory for outputs a kernel overwrites: with every
//! reused buffer poisoned with NaN, whole training steps must still be finite and give
//! exactly the same weights as a run on fresh memory.
//!
//! A binary of its own: the poison switch is process-wide, and tests running beside this one
//! would get their reused buffers poisoned too.

mod common;

use cari::backend::cpu::buffer;
use cari::data::{DataConfig, LoaderOptions};
use cari::model::{MultiTaskNet, NetworkConfig};
use cari::train::{TrainConfig, Trainer};
use common::cpu;

fn train_two_steps() -> Vec<(String, Vec<f32>)> {
    let config = NetworkConfig { image_size: 96, num_classes: 6, width_divisor: 4, ..Default::default() };
    let net = MultiTaskNet::new(config).unwrap();
    let params = net.init_params(5, &cpu()).unwrap();
    let mut data =
        DataConfig::synth(6, 4, 96, 8, 5).unwrap().open_for_training(None, LoaderOptions::default()).unwrap();
    let mut trainer = Trainer::new(net, params, TrainConfig::sgd(0.01, 5).unwrap()).unwrap();
    for step in 0..2 {
        let r = trainer.step(&data.loader.next_batch().unwrap().to_batch(&cpu()).unwrap()).unwrap();
        assert!(r.loss.is_finite() && r.loss_w.is_some_and(f32::is_finite), "step {step}: {r:?}");
    }
    trainer.params.iter().map(|(n, t, _)| (n.to_string(), t.to_vec().unwrap())).collect()
}

#[test]
fn poisoned_reused_buffers_change_nothing() {
    let fresh = train_two_steps();
    assert!(buffer::cached_bytes() > 0, "the first run left buffers in the cache");
    buffer::set_poison(true);
    let reused = train_two_steps();
    buffer::set_poison(false);
    for ((name, a), (_, b)) in fresh.iter().zip(&reused) {
        assert!(b.iter().all(|v| v.is_finite()), "{name}: a kernel read a stale output element");
        assert_eq!(a, b, "{name}: result depends on buffer reuse");
    }
}
