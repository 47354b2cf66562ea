//! Preprocessing maths, the sampler's stream and the loader threads, on small in-memory
//! images.

use cari::batch::Modality;
use cari::data::{
    resize_bilinear, standardize, BatchLoader, Crop, Dataset, EvalBatches, HostBatch, LoaderOptions, OnBadImage,
    Preprocess, RgbImage, SampleInfo, Sampler, SamplerState,
};
use cari::rng::Rng;
use cari::{Device, Error, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Noise images of varying size; `bad` indices fail to load, and every load is counted.
struct Tiles {
    samples: Vec<SampleInfo>,
    identities: Vec<String>,
    bad: Vec<usize>,
    loads: Vec<AtomicUsize>,
}

impl Tiles {
    fn new(n: usize, bad: &[usize]) -> Arc<Tiles> {
        let samples = (0..n)
            .map(|i| SampleInfo {
                identity: i % 3,
                modality: if i % 2 == 0 { Modality::Photo } else { Modality::Caricature },
                path: Some(PathBuf::from(format!("tiles/{i}.png"))),
            })
            .collect();
        Arc::new(Tiles {
            samples,
            identities: vec!["a".into(), "b".into(), "c".into()],
            bad: bad.to_vec(),
            loads: (0..n).map(|_| AtomicUsize::new(0)).collect(),
        })
    }
}

impl Dataset for Tiles {
    fn describe(&self) -> String {
        "tiles".into()
    }

    fn identities(&self) -> &[String] {
        &self.identities
    }

    fn samples(&self) -> &[SampleInfo] {
        &self.samples
    }

    fn load(&self, index: usize) -> Result<RgbImage> {
        self.loads[index].fetch_add(1, Ordering::Relaxed);
        if self.bad.contains(&index) {
            return Err(Error::format(format!("tiles/{index}.png"), "corrupt image"));
        }
        let (width, height) = (9 + index % 4, 7 + index % 5);
        let mut rng = Rng::new(index as u64);
        let pixels = (0..width * height * 3).map(|_| rng.below(256) as u8).collect();
        Ok(RgbImage { width, height, pixels })
    }
}

fn options(workers: usize, on_bad_image: OnBadImage) -> LoaderOptions {
    LoaderOptions { workers, prefetch: 2, on_bad_image }
}

fn preprocess() -> Preprocess {
    Preprocess::new(8).unwrap()
}

fn train_batches(data: &Arc<Tiles>, sampler: Sampler, workers: usize, count: usize) -> Vec<HostBatch> {
    let mut loader = BatchLoader::new(data.clone(), sampler, preprocess(), options(workers, OnBadImage::Stop)).unwrap();
    (0..count).map(|_| loader.next_batch().unwrap()).collect()
}

fn rgb(width: usize, height: usize, pixels: &[u8]) -> RgbImage {
    RgbImage { width, height, pixels: pixels.to_vec() }
}

#[test]
fn bilinear_resize_keeps_an_image_of_the_same_size_and_interpolates_between_pixel_centres() {
    let image = rgb(3, 2, &(0..18).map(|v| v * 10).collect::<Vec<u8>>());
    let same: Vec<u8> = resize_bilinear(&image, 3, 2).unwrap().iter().map(|&v| v as u8).collect();
    assert_eq!(same, image.pixels);

    // 2 → 4 columns: output centres fall at source x = −¼ (clamped to 0), ¼, ¾, 1¼ (clamped to 1).
    let row = rgb(2, 1, &[0, 100, 200, 40, 140, 240]);
    let wide = resize_bilinear(&row, 4, 1).unwrap();
    let expected = [0.0, 100.0, 200.0, 10.0, 110.0, 210.0, 30.0, 130.0, 230.0, 40.0, 140.0, 240.0];
    assert_eq!(wide, expected);

    // 2×2 → 1×1 samples the centre: the mean of the four pixels.
    let square = rgb(2, 2, &[0, 0, 0, 40, 40, 40, 80, 80, 80, 120, 120, 120]);
    assert_eq!(resize_bilinear(&square, 1, 1).unwrap(), [60.0, 60.0, 60.0]);
}

#[test]
fn a_crop_is_the_window_of_the_full_resize_mirrored_and_standardised() {
    let mut rng = Rng::new(3);
    let image = rgb(5, 4, &(0..60).map(|_| rng.below(256) as u8).collect::<Vec<u8>>());
    let p = Preprocess { image_size: 3, crop_margin: 2, flip: true };
    let full = resize_bilinear(&image, 5, 5).unwrap();
    for crop in [Crop { x: 2, y: 1, flip: true }, Crop { x: 0, y: 2, flip: false }, p.centre_crop()] {
        let mut expected = Vec::new();
        for y in crop.y..crop.y + 3 {
            for i in 0..3 {
                let x = if crop.flip { crop.x + 2 - i } else { crop.x + i };
                expected.extend_from_slice(&full[(y * 5 + x) * 3..][..3]);
            }
        }
        standardize(&mut expected);
        let mut out = vec![0.0; p.output_len()];
        p.apply(&image, crop, &mut out).unwrap();
        for (a, b) in out.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-5, "{crop:?}: {out:?} vs {expected:?}");
        }
        let mean = out.iter().sum::<f32>() / out.len() as f32;
        let var = out.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / out.len() as f32;
        assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4, "mean {mean} var {var}");
    }
    assert_eq!(p.centre_crop(), Crop { x: 1, y: 1, flip: false });
    let outside = p.apply(&image, Crop { x: 3, y: 0, flip: false }, &mut vec![0.0; p.output_len()]);
    assert!(outside.unwrap_err().to_string().contains("crop"));
}

#[test]
fn the_default_margin_is_a_tenth_of_the_size_rounded_and_random_crops_cover_it() {
    assert_eq!(Preprocess::new(160).unwrap().crop_margin, 16);
    assert_eq!(Preprocess::new(64).unwrap().crop_margin, 6);
    assert_eq!(Preprocess::new(15).unwrap().crop_margin, 2);
    assert!(Preprocess::new(0).is_err());

    let p = Preprocess { image_size: 10, crop_margin: 3, flip: true };
    let mut rng = Rng::new(1);
    let crops: Vec<Crop> = (0..2000).map(|_| p.random_crop(&mut rng)).collect();
    for offset in 0..=3 {
        assert!(crops.iter().any(|c| c.x == offset) && crops.iter().any(|c| c.y == offset), "offset {offset}");
    }
    assert!(crops.iter().all(|c| c.x <= 3 && c.y <= 3));
    let flips = crops.iter().filter(|c| c.flip).count();
    assert!((900..1100).contains(&flips), "{flips} flips");
    let no_flip = Preprocess { flip: false, ..p };
    assert!((0..100).all(|_| !no_flip.random_crop(&mut rng).flip));
}

#[test]
fn every_pass_is_a_permutation_and_batches_run_across_pass_boundaries() {
    let indices: Vec<usize> = (100..110).collect();
    let mut sampler = Sampler::new(indices.clone(), 4, 9).unwrap();
    let draws: Vec<_> = (0..5).flat_map(|_| sampler.next_batch()).collect();
    for pass in draws.chunks(10) {
        let mut seen: Vec<usize> = pass.iter().map(|d| d.index).collect();
        seen.sort();
        assert_eq!(seen, indices);
    }
    assert_ne!(draws[..10].iter().map(|d| d.index).collect::<Vec<_>>(), indices, "pass 0 is not shuffled");
    assert_ne!(
        draws[..10].iter().map(|d| d.index).collect::<Vec<_>>(),
        draws[10..20].iter().map(|d| d.index).collect::<Vec<_>>(),
        "passes 0 and 1 are shuffled alike"
    );
    assert_eq!((draws[9].epoch, draws[9].position), (0, 9));
    assert_eq!((draws[10].epoch, draws[10].position), (1, 0));
    assert_eq!(sampler.state(), SamplerState { seed: 9, epoch: 2, position: 0 });

    assert!(Sampler::new(vec![], 4, 0).is_err());
    assert!(Sampler::new(indices.clone(), 0, 0).is_err());
    let beyond = Sampler::from_state(indices, 4, SamplerState { seed: 0, epoch: 0, position: 10 });
    assert!(beyond.err().unwrap().to_string().contains("position 10"));
}

#[test]
fn a_resumed_sampler_draws_the_rest_of_the_stream() {
    let indices: Vec<usize> = (0..13).collect();
    let mut straight = Sampler::new(indices.clone(), 5, 4).unwrap();
    let expected: Vec<_> = (0..8).map(|_| straight.next_batch()).collect();

    let mut first = Sampler::new(indices.clone(), 5, 4).unwrap();
    assert_eq!(first.next_batch(), expected[0]);
    assert_eq!(first.next_batch(), expected[1]);
    assert_eq!(first.next_batch(), expected[2]);
    let saved = serde_json::to_string(&first.state()).unwrap();
    let mut resumed = Sampler::from_state(indices, 5, serde_json::from_str(&saved).unwrap()).unwrap();
    let rest: Vec<_> = (3..8).map(|_| resumed.next_batch()).collect();
    assert_eq!(rest, expected[3..]);
}

#[test]
fn batches_do_not_depend_on_the_number_of_workers() {
    let data = Tiles::new(20, &[]);
    let one = train_batches(&data, Sampler::new((0..20).collect(), 7, 5).unwrap(), 1, 6);
    let three = train_batches(&data, Sampler::new((0..20).collect(), 7, 5).unwrap(), 3, 6);
    assert_eq!(one, three);
    assert!(one.iter().all(|b| b.len() == 7 && b.pixels.len() == 7 * 8 * 8 * 3));

    let other_seed = train_batches(&data, Sampler::new((0..20).collect(), 7, 6).unwrap(), 3, 1);
    assert_ne!(one[0].indices, other_seed[0].indices);

    // An image drawn in two passes gets another crop or flip (8 combinations at 8 px, so
    // a few of the 20 images may repeat theirs by chance, never most of them).
    let len = 8 * 8 * 3;
    let draws: Vec<(usize, &[f32])> =
        one.iter().flat_map(|b| b.indices.iter().copied().zip(b.pixels.chunks(len))).collect();
    let changed = (0..20)
        .filter(|&image| {
            let mut seen = draws[..40].iter().filter(|(i, _)| *i == image).map(|(_, p)| p);
            seen.next() != seen.next()
        })
        .count();
    assert!(changed >= 10, "only {changed} of 20 images changed between passes");
}

#[test]
fn a_resumed_loader_hands_out_the_batches_of_the_straight_run() {
    let data = Tiles::new(11, &[]);
    let straight = train_batches(&data, Sampler::new((0..11).collect(), 4, 2).unwrap(), 2, 6);

    let opts = options(2, OnBadImage::Stop);
    let mut first =
        BatchLoader::new(data.clone(), Sampler::new((0..11).collect(), 4, 2).unwrap(), preprocess(), opts).unwrap();
    assert_eq!(first.state(), SamplerState { seed: 2, epoch: 0, position: 0 });
    assert_eq!(first.next_batch().unwrap(), straight[0]);
    assert_eq!(first.next_batch().unwrap(), straight[1]);
    let saved = first.state();
    assert_eq!(
        saved,
        SamplerState { seed: 2, epoch: 0, position: 8 },
        "the state after the batches handed out, not after those loaded ahead"
    );
    drop(first);

    let sampler = Sampler::from_state((0..11).collect(), 4, saved).unwrap();
    let resumed = train_batches(&data, sampler, 3, 4);
    assert_eq!(resumed, straight[2..]);
}

#[test]
fn labels_modalities_and_upload_follow_the_indices() {
    let data = Tiles::new(6, &[]);
    let batch = &train_batches(&data, Sampler::new((0..6).collect(), 4, 0).unwrap(), 2, 1)[0];
    for (k, &i) in batch.indices.iter().enumerate() {
        assert_eq!(batch.labels[k], data.info(i).identity);
        assert_eq!(batch.modalities[k], data.info(i).modality);
    }
    let uploaded = batch.to_batch(&Device::cpu()).unwrap();
    assert_eq!(uploaded.images.dims(), [4, 8, 8, 3]);
    assert_eq!(uploaded.images.to_vec().unwrap(), batch.pixels);
    assert_eq!(uploaded.labels, batch.labels);
}

#[test]
fn evaluation_batches_cover_the_list_in_order_with_centre_crops() {
    let data = Tiles::new(9, &[]);
    let list = vec![8, 1, 4, 4, 0, 7, 2];
    let batches: Vec<HostBatch> =
        EvalBatches::new(data.clone(), list.clone(), 3, preprocess(), options(3, OnBadImage::Stop))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
    assert_eq!(batches.iter().map(HostBatch::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(batches.iter().flat_map(|b| b.indices.clone()).collect::<Vec<_>>(), list);
    let p = preprocess();
    let mut expected = vec![0.0; p.output_len()];
    p.apply(&data.load(4).unwrap(), p.centre_crop(), &mut expected).unwrap();
    assert_eq!(batches[1].pixels[..p.output_len()], expected);
    assert_eq!(batches[1].pixels[..p.output_len()], batches[0].pixels[2 * p.output_len()..]);
    assert!(batches.iter().all(|b| b.sampler_state.is_none()));
    let single = EvalBatches::new(data, list, 2, preprocess(), options(1, OnBadImage::Stop)).unwrap();
    assert_eq!(single.count(), 4);
}

#[test]
fn skip_drops_bad_images_counts_them_and_never_tries_them_again() {
    let data = Tiles::new(10, &[3, 7]);
    let sampler = Sampler::new((0..10).collect(), 10, 1).unwrap();
    let mut loader = BatchLoader::new(data.clone(), sampler, preprocess(), options(3, OnBadImage::Skip)).unwrap();
    for _ in 0..4 {
        let batch = loader.next_batch().unwrap();
        assert_eq!(batch.len(), 8);
        assert!(!batch.indices.contains(&3) && !batch.indices.contains(&7));
        assert_eq!(batch.pixels.len(), 8 * preprocess().output_len());
        let mut skipped: Vec<usize> = batch.skipped.iter().map(|s| s.index).collect();
        skipped.sort();
        assert_eq!(skipped, [3, 7]);
    }
    let report = loader.skipped().clone();
    assert_eq!(report.dropped, 8);
    let mut paths: Vec<_> = report.images.iter().map(|s| s.path.clone().unwrap()).collect();
    paths.sort();
    assert_eq!(paths, [PathBuf::from("tiles/3.png"), PathBuf::from("tiles/7.png")]);
    assert!(report.images.iter().all(|s| s.reason.contains("corrupt image")));
    drop(loader);
    assert_eq!(data.loads[3].load(Ordering::Relaxed), 1);
    assert_eq!(data.loads[7].load(Ordering::Relaxed), 1);

    // The kept images are those of the same stream without skipping.
    let clean = Tiles::new(10, &[]);
    let reference = train_batches(&clean, Sampler::new((0..10).collect(), 10, 1).unwrap(), 1, 1);
    let mut skipping = BatchLoader::new(
        data,
        Sampler::new((0..10).collect(), 10, 1).unwrap(),
        preprocess(),
        options(1, OnBadImage::Skip),
    )
    .unwrap();
    let first = skipping.next_batch().unwrap();
    let len = preprocess().output_len();
    let kept: Vec<usize> = (0..10).filter(|&k| ![3, 7].contains(&reference[0].indices[k])).collect();
    for (slot, &k) in kept.iter().enumerate() {
        assert_eq!(first.pixels[slot * len..][..len], reference[0].pixels[k * len..][..len]);
    }
}

#[test]
fn stop_names_the_bad_file_and_ends_the_loader() {
    let data = Tiles::new(6, &[2]);
    let sampler = Sampler::new((0..6).collect(), 6, 0).unwrap();
    let mut loader = BatchLoader::new(data, sampler, preprocess(), options(2, OnBadImage::Stop)).unwrap();
    let err = loader.next_batch().unwrap_err().to_string();
    assert!(err.contains("tiles/2.png") && err.contains("corrupt image"), "{err}");
    let after = loader.next_batch().unwrap_err().to_string();
    assert!(after.contains("stopped after an earlier error"), "{after}");
}

#[test]
fn a_batch_with_no_readable_image_is_an_error() {
    let data = Tiles::new(4, &[1, 2]);
    let mut eval =
        EvalBatches::new(data.clone(), vec![0, 1, 2, 1], 2, preprocess(), options(2, OnBadImage::Skip)).unwrap();
    assert_eq!(eval.next().unwrap().unwrap().indices, [0]);
    let err = eval.next().unwrap().unwrap_err().to_string();
    assert!(err.contains("none of its 2 images") && err.contains("tiles/"), "{err}");
    assert!(eval.next().is_none());
    assert_eq!(eval.skipped().dropped, 1);

    let sampler = Sampler::new(vec![1, 2], 3, 0).unwrap();
    let mut train = BatchLoader::new(data, sampler, preprocess(), options(2, OnBadImage::Skip)).unwrap();
    assert!(train.next_batch().unwrap_err().to_string().contains("none of its 3 images"));
    assert!(train.next_batch().is_err());
}

#[test]
fn dropping_a_loader_with_a_full_queue_stops_its_threads() {
    let data = Tiles::new(8, &[]);
    let sampler = Sampler::new((0..8).collect(), 4, 0).unwrap();
    let opts = LoaderOptions { workers: 3, prefetch: 1, on_bad_image: OnBadImage::Stop };
    let mut loader = BatchLoader::new(data.clone(), sampler, preprocess(), opts).unwrap();
    loader.next_batch().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        drop(loader);
        done.send(()).unwrap();
    });
    finished.recv_timeout(Duration::from_secs(10)).expect("the loader did not stop");
    // One batch handed out, one queued, at most one more in the making: nothing after.
    let loads: usize = data.loads.iter().map(|l| l.load(Ordering::Relaxed)).sum();
    assert!(loads <= 12, "{loads} images loaded");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(data.loads.iter().map(|l| l.load(Ordering::Relaxed)).sum::<usize>(), loads);
}

#[test]
fn options_out_of_range_are_refused_by_name() {
    let data = Tiles::new(4, &[]);
    let sampler = || Sampler::new((0..4).collect(), 2, 0).unwrap();
    let zero = LoaderOptions { workers: 0, ..LoaderOptions::default() };
    let err = BatchLoader::new(data.clone(), sampler(), preprocess(), zero).err().unwrap();
    assert!(err.to_string().contains("invalid value for workers:"), "{err}");
    let no_queue = LoaderOptions { prefetch: 0, ..LoaderOptions::default() };
    assert!(BatchLoader::new(data.clone(), sampler(), preprocess(), no_queue).is_err());
    assert!(EvalBatches::new(data, vec![0], 0, preprocess(), LoaderOptions::default()).is_err());
    assert_eq!("skip".parse::<OnBadImage>().unwrap(), OnBadImage::Skip);
    assert_eq!("stop".parse::<OnBadImage>().unwrap(), OnBadImage::Stop);
    assert!("ignore".parse::<OnBadImage>().unwrap_err().to_string().contains("invalid value for on_bad_image:"));
}
