//! The built-in procedural caricature dataset: determinism, the protocol's invariants,
//! the CaVI export, and that caricature identification is the hardest task.

use cari::batch::Modality;
use cari::data::synth::{cavi_path, export_cavi, SynthConfig, SynthFaces};
use cari::data::{standardize, Dataset, Pair, RgbImage};
use rayon::prelude::*;
use std::collections::HashSet;
use std::path::PathBuf;

fn faces(seed: u64, identities: usize, per: usize, size: usize) -> SynthFaces {
    SynthFaces::new(SynthConfig { seed, identities, photos_per_identity: per, caricatures_per_identity: per, size })
        .unwrap()
}

/// A folder under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("cari-synth-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn describe_names_the_config_and_images_have_the_configured_size() {
    let data = faces(7, 3, 4, 40);
    assert_eq!(data.describe(), "synth:seed=7,identities=3,photos=4,caricatures=4,size=40");
    assert_eq!(data.len(), 24);
    assert_eq!(data.identities().len(), 3);
    let image = data.load(5).unwrap();
    assert_eq!((image.width, image.height, image.pixels.len()), (40, 40, 40 * 40 * 3));
    let default = SynthFaces::new(SynthConfig::default()).unwrap();
    assert_eq!(default.describe(), "synth:seed=0,identities=20,photos=12,caricatures=12,size=112");
}

#[test]
fn samples_are_ordered_by_identity_photos_first() {
    let data = faces(0, 3, 4, 32);
    for id in 0..3 {
        for k in 0..4 {
            for m in [Modality::Photo, Modality::Caricature] {
                let i = data.index_of(id, m, k);
                assert_eq!((data.info(i).identity, data.info(i).modality, data.rank(i)), (id, m, k));
            }
        }
    }
    assert!(data.drawing(data.index_of(0, Modality::Photo, 0)).is_none());
    assert!(data.drawing(data.index_of(0, Modality::Caricature, 0)).is_some());
}

#[test]
fn same_seed_gives_the_same_pixels_and_another_seed_other_pixels() {
    let (a, b, c) = (faces(11, 4, 3, 48), faces(11, 4, 3, 48), faces(12, 4, 3, 48));
    assert_eq!(a.identities(), b.identities());
    assert_ne!(a.identities(), c.identities());
    for i in [0, 4, 13, 23] {
        assert_eq!(a.load(i).unwrap(), b.load(i).unwrap(), "sample {i}");
        assert_ne!(a.load(i).unwrap(), c.load(i).unwrap(), "sample {i}");
    }
    // Images of one identity differ from each other.
    assert_ne!(a.load(0).unwrap(), a.load(1).unwrap());
}

#[test]
fn an_identity_does_not_depend_on_how_many_others_there_are() {
    let (small, large) = (faces(5, 3, 4, 40), faces(5, 9, 4, 40));
    assert_eq!(small.identities(), &large.identities()[..3]);
    assert_eq!(small.load(9).unwrap(), large.load(9).unwrap());
}

#[test]
fn load_does_not_depend_on_call_order_or_thread() {
    let data = faces(3, 3, 4, 40);
    let forward: Vec<RgbImage> = (0..data.len()).map(|i| data.load(i).unwrap()).collect();
    let mut backward: Vec<RgbImage> = (0..data.len()).rev().map(|i| data.load(i).unwrap()).collect();
    backward.reverse();
    let parallel: Vec<RgbImage> = (0..data.len()).into_par_iter().map(|i| data.load(i).unwrap()).collect();
    assert!(forward == backward, "reverse order changed an image");
    assert!(forward == parallel, "parallel loading changed an image");
}

#[test]
fn out_of_range_index_and_bad_config_are_errors_naming_the_flag() {
    let data = faces(0, 2, 2, 32);
    let e = data.load(8).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("sample index") && e.contains('8'), "{e}");
    let bad = |c: SynthConfig| SynthFaces::new(c).err().map(|e| e.to_string()).unwrap_or_default();
    let base = SynthConfig::default();
    assert!(bad(SynthConfig { identities: 1, ..base.clone() }).contains("invalid value for identities:"));
    assert!(
        bad(SynthConfig { photos_per_identity: 1, ..base.clone() }).contains("invalid value for photos_per_identity:")
    );
    assert!(bad(SynthConfig { caricatures_per_identity: 0, ..base.clone() })
        .contains("invalid value for caricatures_per_identity:"));
    assert!(bad(SynthConfig { size: 31, ..base.clone() }).contains("invalid value for size:"));
    assert!(SynthFaces::new(SynthConfig { size: 32, ..base }).is_ok());
}

fn check_pairs(data: &SynthFaces, pairs: &[Pair], allowed: &HashSet<usize>, what: &str) {
    assert!(!pairs.is_empty(), "{what}: no pairs");
    let positives = pairs.iter().take_while(|p| p.same).count();
    assert!(pairs[positives..].iter().all(|p| !p.same), "{what}: positives are not all first");
    assert_eq!(positives * 2, pairs.len(), "{what}: as many negatives as positives");
    let distinct: HashSet<(usize, usize)> = pairs.iter().map(|p| (p.caricature, p.photo)).collect();
    assert_eq!(distinct.len(), pairs.len(), "{what}: a pair repeats");
    for p in pairs {
        assert!(allowed.contains(&p.caricature) && allowed.contains(&p.photo), "{what}: {p:?} outside its images");
        assert_eq!(data.info(p.caricature).modality, Modality::Caricature, "{what}: {p:?}");
        assert_eq!(data.info(p.photo).modality, Modality::Photo, "{what}: {p:?}");
        assert_eq!(p.same, data.info(p.caricature).identity == data.info(p.photo).identity, "{what}: {p:?}");
    }
}

#[test]
fn protocol_splits_train_and_test_and_pairs_test_images() {
    let data = faces(2, 5, 12, 32);
    let protocol = data.protocol();
    assert_eq!(protocol.name, "synth");
    assert_eq!(protocol, data.protocol(), "protocol is not deterministic");
    let train: HashSet<usize> = protocol.train.iter().copied().collect();
    let test: HashSet<usize> = protocol.test.iter().copied().collect();
    assert!(train.is_disjoint(&test));
    assert_eq!(train.len() + test.len(), data.len());
    // The last quarter of each identity's photos and caricatures is held out.
    for id in 0..5 {
        for m in [Modality::Photo, Modality::Caricature] {
            let held: Vec<usize> = (0..12).filter(|&k| test.contains(&data.index_of(id, m, k))).collect();
            assert_eq!(held, vec![9, 10, 11], "identity {id} {m:?}");
        }
    }
    check_pairs(&data, &protocol.test_pairs, &test, "test pairs");
    assert_eq!(protocol.test_pairs.len(), 2 * 5 * 3 * 3);
    check_pairs(&data, &protocol.validation_pairs, &train, "validation pairs");
    let other = faces(3, 5, 12, 32).protocol();
    assert_ne!(other.test_pairs, protocol.test_pairs, "negatives do not depend on the seed");
}

#[test]
fn protocol_keeps_an_image_for_each_part_when_identities_have_two() {
    let data = faces(0, 2, 2, 32);
    let protocol = data.protocol();
    assert_eq!((protocol.train.len(), protocol.test.len()), (4, 4));
    check_pairs(&data, &protocol.test_pairs, &protocol.test.iter().copied().collect(), "test pairs");
    check_pairs(&data, &protocol.validation_pairs, &protocol.train.iter().copied().collect(), "validation pairs");
}

/// Reads one split file back into pairs of sample indices, checking CaVI's format.
fn read_split(data: &SynthFaces, path: &std::path::Path) -> Vec<Pair> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with("\r\n"), "{}: last line without CRLF", path.display());
    let by_path: std::collections::HashMap<String, usize> = (0..data.len()).map(|i| (cavi_path(data, i), i)).collect();
    text.split_terminator("\r\n")
        .map(|line| {
            assert!(!line.contains('\n'), "{line:?}: bare LF");
            let t: Vec<&str> = line.split(' ').collect();
            assert_eq!(t.len(), 5, "{line:?}");
            let (cari_folder, cari_file) = t[1].split_once('\\').unwrap();
            let (real_folder, real_file) = t[3].split_once('\\').unwrap();
            assert_eq!(cari_folder, format!("Caricature/{}", t[0]));
            assert_eq!(real_folder, format!("Real/{}", t[2]));
            assert!(cari_file.starts_with(&format!("{}_c_", t[0])) && cari_file.ends_with(".jpg"), "{line:?}");
            assert!(real_file.starts_with(&format!("{}_r_", t[2])) && real_file.ends_with(".jpg"), "{line:?}");
            let same = match t[4] {
                "1" => true,
                "0" => false,
                other => panic!("{line:?}: same = {other}"),
            };
            assert_eq!(same, t[0] == t[2], "{line:?}");
            Pair {
                caricature: by_path[&format!("{cari_folder}/{cari_file}")],
                photo: by_path[&format!("{real_folder}/{real_file}")],
                same,
            }
        })
        .collect()
}

#[test]
fn export_writes_cavi_layout_and_the_protocol_pairs() {
    let data = faces(4, 3, 4, 36);
    let tmp = TempDir::new("export");
    let out = tmp.0.join("synth");
    let summary = export_cavi(&data, &out).unwrap();
    assert_eq!((summary.identities, summary.photos, summary.caricatures), (3, 12, 12));
    let protocol = data.protocol();
    assert_eq!(
        (summary.test_pairs, summary.validation_pairs),
        (protocol.test_pairs.len(), protocol.validation_pairs.len())
    );
    for (i, name) in data.identities().iter().enumerate() {
        for k in 1..=4 {
            for (folder, letter, m) in [("Real", 'r', Modality::Photo), ("Caricature", 'c', Modality::Caricature)] {
                let path = out.join(format!("CaVI_Dataset/{folder}/{name}/{name}_{letter}_{k}.jpg"));
                let image = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
                assert_eq!(image.dimensions(), (36, 36));
                // JPEG is lossy: compare with the rendered image on average.
                let want = data.load(data.index_of(i, m, k - 1)).unwrap();
                let diff: f64 =
                    image.as_raw().iter().zip(&want.pixels).map(|(a, b)| (*a as f64 - *b as f64).abs()).sum();
                assert!(diff / (want.pixels.len() as f64) < 8.0, "{}: differs from the rendered image", path.display());
            }
        }
    }
    let splits = out.join("train-test-files");
    assert_eq!(read_split(&data, &splits.join("testing_1.txt")), protocol.test_pairs);
    assert_eq!(read_split(&data, &splits.join("validation.txt")), protocol.validation_pairs);
    let list = std::fs::read_to_string(splits.join("complete_identity_list.txt")).unwrap();
    assert_eq!(list.split("\r\n").collect::<Vec<_>>(), data.identities());
    let leftovers: Vec<_> = std::fs::read_dir(&tmp.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("synth")], "the staging folder was left behind");
    // A second export into the now non-empty folder is refused and changes nothing.
    let e = export_cavi(&data, &out).unwrap_err().to_string();
    assert!(e.contains("invalid value for out:") && e.contains("not empty"), "{e}");
    assert!(splits.join("testing_1.txt").exists());
}

#[test]
fn export_into_an_existing_empty_folder_works() {
    let data = faces(4, 2, 2, 32);
    let tmp = TempDir::new("empty");
    std::fs::create_dir_all(&tmp.0).unwrap();
    export_cavi(&data, &tmp.0).unwrap();
    assert!(tmp.0.join("train-test-files/testing_1.txt").exists());
}

/// `image` shrunk to `n`×`n` by averaging blocks, then standardised (TF style).
fn features(image: &RgbImage, n: usize) -> Vec<f32> {
    let block = image.width / n;
    let mut out = vec![0.0f32; n * n * 3];
    for y in 0..n * block {
        for x in 0..n * block {
            for c in 0..3 {
                out[((y / block) * n + x / block) * 3 + c] += image.pixels[(y * image.width + x) * 3 + c] as f32;
            }
        }
    }
    standardize(&mut out);
    out
}

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

#[test]
fn caricatures_differ_from_photos_more_than_photos_among_themselves() {
    let data = faces(6, 8, 4, 48);
    let f: Vec<Vec<f32>> = (0..data.len()).map(|i| features(&data.load(i).unwrap(), 12)).collect();
    let (mut photo_photo, mut cari_photo) = (Vec::new(), Vec::new());
    for id in 0..8 {
        for a in 0..4 {
            let p = data.index_of(id, Modality::Photo, a);
            for b in 0..4 {
                let c = data.index_of(id, Modality::Caricature, b);
                cari_photo.push(distance(&f[c], &f[p]));
                if b > a {
                    photo_photo.push(distance(&f[data.index_of(id, Modality::Photo, b)], &f[p]));
                }
            }
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let (pp, cp) = (mean(&photo_photo), mean(&cari_photo));
    assert!(cp > 1.3 * pp, "same identity: caricature–photo distance {cp} vs photo–photo {pp}");
}

/// Accuracy of nearest-class-mean identification within one modality: class means from
/// the protocol's training images, predictions for its test images.
fn nearest_mean_accuracy(data: &SynthFaces, f: &[Vec<f32>], modality: Modality) -> f32 {
    let protocol = data.protocol();
    let classes = data.identities().len();
    let mut means = vec![vec![0.0f32; f[0].len()]; classes];
    let mut counts = vec![0usize; classes];
    for &i in protocol.train.iter().filter(|&&i| data.info(i).modality == modality) {
        let id = data.info(i).identity;
        means[id].iter_mut().zip(&f[i]).for_each(|(m, v)| *m += v);
        counts[id] += 1;
    }
    for (m, n) in means.iter_mut().zip(&counts) {
        m.iter_mut().for_each(|v| *v /= *n as f32);
    }
    let test: Vec<usize> = protocol.test.iter().copied().filter(|&i| data.info(i).modality == modality).collect();
    let correct = test
        .iter()
        .filter(|&&i| {
            let best = (0..classes).min_by(|&a, &b| distance(&f[i], &means[a]).total_cmp(&distance(&f[i], &means[b])));
            best == Some(data.info(i).identity)
        })
        .count();
    correct as f32 / test.len() as f32
}

#[test]
fn caricature_identification_is_harder_than_photo_identification_but_learnable() {
    let identities = 24;
    let data = faces(0, identities, 12, 48);
    let f: Vec<Vec<f32>> = (0..data.len()).into_par_iter().map(|i| features(&data.load(i).unwrap(), 16)).collect();
    let photo = nearest_mean_accuracy(&data, &f, Modality::Photo);
    let caricature = nearest_mean_accuracy(&data, &f, Modality::Caricature);
    let chance = 1.0 / identities as f32;
    println!("nearest class mean: photos {photo:.3}, caricatures {caricature:.3}, chance {chance:.3}");
    assert!(caricature > 3.0 * chance, "caricatures {caricature} are not learnable (chance {chance})");
    assert!(photo > caricature + 0.2, "photos {photo} are not clearly easier than caricatures {caricature}");
}

#[test]
#[ignore = "timing report: cargo test --release --test data -- synth::render_time_per_image --ignored --nocapture"]
fn render_time_per_image() {
    for size in [96, 112, 160] {
        let data = faces(0, 10, 10, size);
        data.load(0).unwrap();
        let start = std::time::Instant::now();
        for i in 0..data.len() {
            data.load(i).unwrap();
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / data.len() as f64;
        println!("{size} px: {ms:.2} ms per image (one thread, photos and caricatures alike)");
    }
}
