//! Training batches uploaded ahead into two buffers taking turns (`data::BatchUploads`):
//! every batch holds its own images, a buffer is reused only once the step that read it is
//! queued and its batch is gone, and in the steady state the uploads allocate nothing.

use cari::data::{BatchUploads, DataConfig, LoaderOptions};
use cari::Device;

#[test]
fn every_batch_holds_its_images_and_the_two_buffers_take_turns() {
    // Devices of this test's own, so that no other test's allocations land in the counts.
    for device in [Device::cpu(), Device::parse("cuda-emu:random:90422").unwrap()] {
        let mut data =
            DataConfig::synth(4, 4, 48, 6, 3).unwrap().open_for_training(None, LoaderOptions::default()).unwrap();
        let hosts: Vec<_> = (0..7).map(|_| data.loader.next_batch().unwrap()).collect();
        let mut uploads = BatchUploads::new();
        let mut batches = Vec::new();
        for (i, host) in hosts.iter().enumerate() {
            let before = device.profile();
            let batch = uploads.upload(host, &device).unwrap();
            let allocated = before.map(|b| device.profile().unwrap().since(&b).allocations);
            assert_eq!(batch.images.to_vec().unwrap(), host.pixels, "{device}: batch {i}'s images");
            assert_eq!(batch.labels, host.labels);
            uploads.queued(&device).unwrap();
            // As in a run: batch i − 1 goes once its step has finished, after this upload;
            // batch 2 is kept beyond, so upload 4 cannot take its buffer.
            if i >= 1 && i - 1 != 2 {
                batches[i - 1] = None;
            }
            batches.push(Some(batch));
            if let Some(allocated) = allocated.filter(|_| i >= 2) {
                let want = usize::from(i == 4) as u64;
                assert_eq!(allocated, want, "{device}: allocations of upload {i}");
            }
        }
        let kept = batches[2].take().unwrap();
        assert_eq!(kept.images.to_vec().unwrap(), hosts[2].pixels, "{device}: the kept batch's images");
    }
}
