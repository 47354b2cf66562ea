//! The counters every CUDA op passes through: one op counted as it happens, and the dry run
//! (`cuda-emu:count`) counting a whole training step exactly as the emulation running it.

use super::train_step::train_on;
use cari::backend::{KernelCounts, Profile};
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
    let p = profile_of(&dev, || {
        let x = be.upload(vec![1.0; 6]).unwrap();
        let z = be.zeros(10).unwrap();
        assert_eq!(be.download(&z).unwrap(), vec![0.0; 10]);
        // Read together: both copied into one 64-byte buffer, read once.
        assert_eq!(be.download_all(&[&x, &z]).unwrap(), [vec![1.0; 6], vec![0.0; 10]]);
        drop((x, z));
    });
    assert_eq!(p.kernels.len(), 2, "{p:?}");
    assert_eq!(p.kernels["fill_f32"], KernelCounts { launches: 1, buffer_bytes: 40 });
    assert_eq!(p.kernels["copy_u16"], KernelCounts { launches: 2, buffer_bytes: (64 + 24) + (64 + 40) });
    assert_eq!((p.allocations, p.allocated_bytes, p.frees), (3, 24 + 40 + 64, 3));
    assert_eq!((p.writes, p.written_bytes, p.reads, p.read_bytes), (1, 24, 2, 40 + 64));
    // Only the reads wait: the upload is queued through pinned memory.
    assert_eq!(p.host_syncs(), 2);
    assert_eq!(Device::cpu().profile(), None);
}

#[test]
fn the_dry_run_counts_a_training_step_as_the_running_emulation_does() {
    let running = Device::parse(RUNNING).unwrap();
    let dry = Device::parse("cuda-emu:count").unwrap();
    assert_eq!(dry.name(), "cuda-emu:count");
    let counted = |dev: &Device| profile_of(dev, || drop(train_on(dev)));
    let (want, got) = (counted(&running), counted(&dry));
    assert!(want.launches() > 500 && want.allocations > 500 && want.reads > 0, "{want:?}");
    assert_eq!(got, want);
}
