//! The counters every CUDA op passes through: one op counted as it happens, the dry run
//! (`cuda-emu:count`) counting a whole training step exactly as the emulation running it,
//! and a steady training step: no allocation, one wait, one launch per group update.

use super::train_step::train_on;
use cari::backend::{KernelCounts, Profile};
use cari::data::{DataConfig, LoaderOptions};
use cari::model::{MultiTaskNet, NetworkConfig};
use cari::optim::LrSchedule;
use cari::train::{TrainConfig, Trainer};
use cari::Device;

/// Devices of each test's own (the thread order changes no count), so that no other
/// test's work lands in their counts.
const ONE_OP: &str = "cuda-emu:random:90417";
const RUNNING: &str = "cuda-emu:random:90418";

fn profile_of(device: &Device, work: impl FnOnce()) -> Profile {
    let before = device.profile().expect("CUDA devices count");
    work();
    device.profile().unwrap().since(&before)
}

#[test]
fn uploads_fills_and_downloads_are_counted_as_they_happen() {
    let dev = Device::parse(ONE_OP).unwrap();
    let be = dev.backend();
    let round = || {
        profile_of(&dev, || {
            let x = be.upload(vec![1.0; 6]).unwrap();
            let z = be.zeros(10).unwrap();
            assert_eq!(be.download(&z).unwrap(), vec![0.0; 10]);
            // Read together: both copied into one 64-byte buffer, read once.
            assert_eq!(be.download_all(&[&x, &z]).unwrap(), [vec![1.0; 6], vec![0.0; 10]]);
            drop((x, z));
        })
    };
    let p = round();
    assert_eq!(p.kernels.len(), 2, "{p:?}");
    assert_eq!(p.kernels["fill_f32"], KernelCounts { launches: 1, buffer_bytes: 40, flops: 0 });
    // Both copied into the packed buffer by one launch over a list of blocks.
    assert_eq!(p.kernels["layout_copy_blocks"].launches, 1);
    // The freed buffers stay in the pool, for the next allocations of their sizes.
    // x, z, the packed buffer and the block list (two entries of 96 bytes).
    assert_eq!((p.allocations, p.allocated_bytes, p.frees), (4, 24 + 40 + 64 + 2 * 96, 0));
    assert_eq!((p.writes, p.written_bytes, p.reads, p.read_bytes), (2, 24 + 2 * 96, 2, 40 + 64));
    // Only the reads wait: the upload is queued through pinned memory.
    assert_eq!(p.host_syncs(), 2);
    // The same work again takes every buffer from the pool.
    let again = round();
    assert_eq!((again.allocations, again.frees, again.launches(), again.reads), (0, 0, 2, 2), "{again:?}");
    assert_eq!(Device::cpu().profile(), None);
}

#[test]
fn the_dry_run_counts_a_training_step_as_the_running_emulation_does() {
    let running = Device::parse(RUNNING).unwrap();
    let dry = Device::parse("cuda-emu:count").unwrap();
    assert_eq!(dry.name(), "cuda-emu:count");
    let counted = |dev: &Device| profile_of(dev, || drop(train_on(dev)));
    let (want, got) = (counted(&running), counted(&dry));
    assert!(want.launches() > 400 && want.allocations > 500 && want.reads > 0, "{want:?}");
    assert_eq!(got, want);
}

#[test]
fn a_steady_training_step_allocates_nothing_and_waits_once() {
    let dev = Device::parse("cuda-emu:random:90419").unwrap();
    let net =
        MultiTaskNet::new(NetworkConfig { image_size: 75, num_classes: 6, width_divisor: 16, ..Default::default() });
    let net = net.unwrap();
    let params = net.init_params(5, &dev).unwrap();
    let mut data =
        DataConfig::synth(6, 4, 75, 8, 5).unwrap().open_for_training(None, LoaderOptions::default()).unwrap();
    let mut trainer =
        Trainer::new(net, params, TrainConfig::reference(LrSchedule::constant(0.01).unwrap(), 5)).unwrap();
    let mut step = || trainer.step(&data.loader.next_batch().unwrap().to_batch(&dev).unwrap()).unwrap();
    // Warm: the pool holds a buffer of every size the batches' compositions ask for.
    for _ in 0..6 {
        step();
    }
    let p = profile_of(&dev, || {
        step();
    });
    assert_eq!((p.allocations, p.frees), (0, 0), "{}", p.table(1));
    assert_eq!((p.host_syncs(), p.reads), (1, 1), "one packed read of the step's figures: {}", p.table(1));
    for group_kernel in ["optim_group_control", "optim_rmsprop", "optim_blend"] {
        assert!(p.kernels[group_kernel].launches <= 2, "{group_kernel} runs once per group: {}", p.table(1));
    }
}

#[test]
fn gemm_launches_count_their_arithmetic() {
    use cari::backend::{Conv2dBackward, Conv2dGeometry, Conv2dGrads, Padding};
    let dev = Device::parse("cuda-emu:random:90420").unwrap();
    let be = dev.backend();
    let g = Conv2dGeometry::with_padding(2, (5, 6), 3, 4, (3, 3), (1, 1), Padding::Same);
    let (x, w, dy) =
        (be.zeros(g.input_len()).unwrap(), be.zeros(g.weight_len()).unwrap(), be.zeros(g.output_len()).unwrap());
    let p = profile_of(&dev, || {
        be.conv2d((&x).into(), &w, &g).unwrap();
        be.conv2d_backward(Conv2dBackward { x: &x, w: &w, dy: &dy }, &g, Conv2dGrads::BOTH).unwrap();
        be.conv2d_backward(Conv2dBackward { x: &x, w: &w, dy: &dy }, &g, Conv2dGrads::INPUT).unwrap();
    });
    // 2·60 outputs·4 channels·27 taps per pass: forward, both gradients, the input's alone.
    let pass = 2 * 2 * 5 * 6 * 4 * 27;
    assert_eq!(g.macs() * 2, pass as usize);
    assert_eq!((p.kernels["conv2d_forward"].flops, p.kernels["conv2d_backward"].flops), (pass, 3 * pass));
    assert!(p.table(1).contains("GEMM arithmetic: 0.00 GFLOP"), "{}", p.table(1));
}
