//! The CaVI loader on a small fabricated copy with every quirk of the real one, then on the
//! real copy when `CARI_CAVI_DIR` (default `../shared/data/cavi`) holds it.

use cari::batch::Modality;
use cari::data::{
    BatchLoader, Cavi, CaviProtocol, Dataset, EvalBatches, LoaderOptions, OnBadImage, Pair, Preprocess, Sampler,
};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// A fabricated CaVI tree in a fresh temporary directory, removed on drop.
struct Tree {
    root: PathBuf,
}

/// Image files of the tree, by path under `CaVI_Dataset/`. Folder case differs between
/// modalities for Alice and Bob, Conan has caricatures only, numbers have gaps, and
/// `Real/Vladimir_Putin/Alice_Smith/` is a nested copy that must not be scanned.
const IMAGES: [&str; 17] = [
    "Caricature/Alice_Smith/Alice_Smith_c_0.jpg",
    "Caricature/Alice_Smith/Alice_Smith_c_1.jpg",
    "Caricature/Alice_Smith/Alice_Smith_c_3.jpg",
    "Caricature/bob_jones/bob_jones_c_1.jpg",
    "Caricature/bob_jones/bob_jones_c_2.PNG",
    "Caricature/Conan_O_Brien/Conan_O_Brien_c_1.jpg",
    "Caricature/Conan_O_Brien/Conan_O_Brien_c_2.jpg",
    "Caricature/Vladimir_Putin/Vladimir_Putin_c_1.jpg",
    "Caricature/Vladimir_Putin/Vladimir_Putin_c_2.jpg",
    "Real/alice_smith/alice_smith_r_1.jpg",
    "Real/alice_smith/alice_smith_r_2.jpg",
    "Real/alice_smith/alice_smith_r_5.jpeg",
    "Real/Bob_Jones/Bob_Jones_r_0.jpg",
    "Real/Bob_Jones/Bob_Jones_r_1.jpg",
    "Real/Vladimir_Putin/Vladimir_Putin_r_1.jpg",
    "Real/Vladimir_Putin/Vladimir_Putin_r_2.jpg",
    "Real/Vladimir_Putin/Alice_Smith/Alice_Smith_r_9.jpg",
];
const CORRUPT: &str = "Real/Bob_Jones/Bob_Jones_r_2.jpg";
const NOT_IMAGES: [&str; 5] = [
    "Caricature/Alice_Smith/Thumbs.db",
    "Caricature/notes.txt",
    "Real/alice_smith/Thumbs.db",
    "Real/Vladimir_Putin/Thumbs.db",
    "Real/Vladimir_Putin/readme.txt",
];

/// Sample indices of the scan: people sorted by upper-cased name (ALICE_SMITH, BOB_JONES,
/// CONAN_O_BRIEN, VLADIMIR_PUTIN), caricatures before photos, then file name.
const ALICE_C0: usize = 0;
const ALICE_R1: usize = 3;
const ALICE_R5: usize = 5;
const ALICE_R5_FILE: &str = "Real/alice_smith/alice_smith_r_5.jpeg";
const BOB_C1: usize = 6;
const BOB_C2_PNG: usize = 7;
const BOB_R0: usize = 8;
const BOB_R1: usize = 9;
const BOB_R2_CORRUPT: usize = 10;
const CONAN_C1: usize = 11;
const PUTIN_R1: usize = 15;

/// `testing_1.txt`, CRLF: 41 lines, so the reference protocol takes lines 1, 21 and 41.
fn testing_1() -> String {
    let alice =
        "Alice_Smith Caricature/alice_smith\\Alice_Smith_c_0.jpg alice_smith Real/ALICE_SMITH\\alice_smith_r_1.jpg 1";
    let bob = "bob_jones Caricature/bob_jones\\bob_jones_c_1.jpg Bob_Jones Real/Bob_Jones\\Bob_Jones_r_0.jpg 1";
    let mixed = "Alice_Smith Caricature/Alice_Smith\\Alice_Smith_c_0.jpg Vladimir_Putin Real/Vladimir_Putin\\Vladimir_Putin_r_1.jpg 0";
    let filler =
        "Conan_O_Brien Caricature/Conan_O_Brien\\Conan_O_Brien_c_1.jpg bob_jones Real/Bob_Jones\\Bob_Jones_r_1.jpg 0";
    let lines: Vec<&str> = (0..41)
        .map(|i| match i {
            0 => alice,
            20 => bob,
            40 => mixed,
            _ => filler,
        })
        .collect();
    lines.join("\r\n") + "\r\n"
}

const VALIDATION: &str =
    "Alice_Smith Caricature/Alice_Smith\\Alice_Smith_c_1.jpg alice_smith Real/alice_smith\\alice_smith_r_2.jpg 1
Vladimir_Putin Caricature/Vladimir_Putin\\Vladimir_Putin_c_2.jpg bob_jones Real/Bob_Jones\\Bob_Jones_r_2.jpg 0
";

impl Tree {
    fn new(name: &str) -> Tree {
        let root = std::env::temp_dir().join(format!("cari-cavi-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let images = root.join("CaVI_Dataset");
        for (k, file) in IMAGES.iter().enumerate() {
            let path = images.join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            let (w, h) = (6 + k as u32 % 3, 5 + k as u32 % 4);
            let image =
                image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(k * 13) as u8, (x * 40) as u8, (y * 50) as u8]));
            image.save(&path).unwrap();
        }
        fs::write(images.join(CORRUPT), [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', 0x13, 0x37]).unwrap();
        for file in NOT_IMAGES {
            fs::write(images.join(file), b"not an image").unwrap();
        }
        let splits = root.join("train-test-files");
        fs::create_dir_all(&splits).unwrap();
        fs::write(splits.join("testing_1.txt"), testing_1()).unwrap();
        fs::write(splits.join("validation.txt"), VALIDATION).unwrap();
        fs::write(splits.join("complete_identity_list.txt"), "Alice_Smith\r\nbob_jones\r\nVladimir_Putin").unwrap();
        Tree { root }
    }

    fn write_split(&self, file: &str, text: &str) {
        fs::write(self.root.join("train-test-files").join(file), text).unwrap();
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn file_of(cavi: &Cavi, index: usize) -> String {
    cavi.info(index).path.as_ref().unwrap().file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn the_scan_keeps_depth_two_images_and_keys_people_by_upper_cased_folder() {
    let tree = Tree::new("scan");
    let cavi = Cavi::open(&tree.root).unwrap();
    assert_eq!(cavi.identities(), ["Alice_Smith", "bob_jones", "Conan_O_Brien", "Vladimir_Putin"]);
    assert_eq!(cavi.len(), 17, "16 images at depth two and the corrupt one");
    let files: Vec<String> = (0..cavi.len()).map(|i| file_of(&cavi, i)).collect();
    assert!(!files.iter().any(|f| f == "Alice_Smith_r_9.jpg" || f.ends_with(".db") || f.ends_with(".txt")));
    assert_eq!(files[ALICE_C0], "Alice_Smith_c_0.jpg");
    assert_eq!(files[ALICE_R5], "alice_smith_r_5.jpeg");
    assert_eq!(files[BOB_C2_PNG], "bob_jones_c_2.PNG");
    assert_eq!(files[BOB_R2_CORRUPT], "Bob_Jones_r_2.jpg");
    assert_eq!(files[CONAN_C1], "Conan_O_Brien_c_1.jpg");
    assert_eq!(files[PUTIN_R1], "Vladimir_Putin_r_1.jpg");

    let alice: Vec<_> = (0..cavi.len()).filter(|&i| cavi.info(i).identity == 0).collect();
    assert_eq!(alice, (0..6).collect::<Vec<_>>(), "both folder spellings are one person");
    assert_eq!(cavi.info(ALICE_R1).modality, Modality::Photo);
    assert_eq!(cavi.info(ALICE_C0).modality, Modality::Caricature);
    let conan: Vec<_> =
        (0..cavi.len()).filter(|&i| cavi.info(i).identity == 2).map(|i| cavi.info(i).modality).collect();
    assert_eq!(conan, [Modality::Caricature, Modality::Caricature]);
    assert_eq!(cavi.identity_list().unwrap(), ["Alice_Smith", "bob_jones", "Vladimir_Putin"]);
    assert!(cavi.describe().starts_with("cavi:"));
}

#[test]
fn images_decode_to_rgb_and_bad_files_are_named() {
    let tree = Tree::new("decode");
    let cavi = Cavi::open(&tree.root).unwrap();
    let png = cavi.load(BOB_C2_PNG).unwrap();
    assert_eq!((png.width, png.height), (7, 5));
    assert_eq!(&png.pixels[..6], [4 * 13, 0, 0, 4 * 13, 40, 0]);
    let jpeg = cavi.load(ALICE_C0).unwrap();
    assert_eq!((jpeg.width, jpeg.height, jpeg.pixels.len()), (6, 5, 6 * 5 * 3));

    let corrupt = cavi.load(BOB_R2_CORRUPT).unwrap_err().to_string();
    assert!(corrupt.contains("Bob_Jones_r_2.jpg"), "{corrupt}");
    fs::remove_file(tree.root.join("CaVI_Dataset").join(ALICE_R5_FILE)).unwrap();
    let missing = cavi.load(ALICE_R5).unwrap_err().to_string();
    assert!(missing.contains("alice_smith_r_5.jpeg"), "{missing}");
}

#[test]
fn the_clean_protocol_trains_on_every_image_testing_1_does_not_use() {
    let tree = Tree::new("clean");
    let cavi = Cavi::open(&tree.root).unwrap();
    let clean = cavi.protocol(CaviProtocol::Clean).unwrap();
    assert_eq!(clean.name, "cavi-clean");
    assert_eq!(clean.test_pairs.len(), 41);
    assert_eq!(clean.test_pairs[0], Pair { caricature: ALICE_C0, photo: ALICE_R1, same: true });
    assert_eq!(clean.test_pairs[20], Pair { caricature: BOB_C1, photo: BOB_R0, same: true });
    assert_eq!(clean.test_pairs[40], Pair { caricature: ALICE_C0, photo: PUTIN_R1, same: false });
    assert_eq!(clean.test_pairs[1], Pair { caricature: CONAN_C1, photo: BOB_R1, same: false });
    assert_eq!(clean.test, [ALICE_C0, ALICE_R1, BOB_C1, BOB_R0, BOB_R1, CONAN_C1, PUTIN_R1]);
    let train: Vec<usize> = (0..cavi.len()).filter(|i| !clean.test.contains(i)).collect();
    assert_eq!(clean.train, train);
    assert_eq!(clean.validation_pairs.len(), 2);
    assert_eq!(clean.validation_pairs[1].photo, BOB_R2_CORRUPT);
    assert!(!clean.validation_pairs[1].same);
}

#[test]
fn the_reference_protocol_takes_every_20th_pair_and_the_rest_of_those_people() {
    let tree = Tree::new("reference");
    let cavi = Cavi::open(&tree.root).unwrap();
    let reference = cavi.protocol(CaviProtocol::Reference).unwrap();
    assert_eq!(reference.name, "cavi-reference");
    let clean = cavi.protocol(CaviProtocol::Clean).unwrap();
    assert_eq!(reference.test_pairs, [clean.test_pairs[0], clean.test_pairs[20], clean.test_pairs[40]]);
    assert_eq!(reference.test, [ALICE_C0, ALICE_R1, BOB_C1, BOB_R0, PUTIN_R1]);
    let people = [0, 1, 3];
    let train: Vec<usize> =
        (0..cavi.len()).filter(|&i| people.contains(&cavi.info(i).identity) && !reference.test.contains(&i)).collect();
    assert_eq!(reference.train, train);
    assert!(reference.train.contains(&BOB_R1), "a clean-protocol test image trains here");
    assert!(!reference.train.iter().any(|&i| cavi.info(i).identity == 2), "Conan is in no reference pair");
    assert_eq!("reference".parse::<CaviProtocol>().unwrap(), CaviProtocol::Reference);
    assert_eq!("clean".parse::<CaviProtocol>().unwrap(), CaviProtocol::Clean);
    assert!("paper".parse::<CaviProtocol>().unwrap_err().to_string().contains("invalid value for protocol:"));
}

#[test]
fn split_file_errors_name_the_file_and_line() {
    let tree = Tree::new("splits");
    let cavi = Cavi::open(&tree.root).unwrap();
    let good = "Alice_Smith Caricature/Alice_Smith\\Alice_Smith_c_1.jpg alice_smith Real/alice_smith\\alice_smith_r_2.jpg 1\r\n";
    let cases = [
        ("a b c d\r\n", "line 2: expected 5 tokens"),
        ("Alice_Smith Caricature/Alice_Smith\\Alice_Smith_c_2.jpg Alice_Smith Real/alice_smith\\alice_smith_r_1.jpg 1\r\n",
         "line 2: `Caricature/Alice_Smith\\Alice_Smith_c_2.jpg`: no such image"),
        ("Alice_Smith Real/alice_smith\\alice_smith_r_1.jpg Alice_Smith Real/alice_smith\\alice_smith_r_2.jpg 1\r\n",
         "line 2: `Real/alice_smith\\alice_smith_r_1.jpg` is not under Caricature/"),
        ("Alice_Smith Caricature/Alice_Smith_c_1.jpg Alice_Smith Real/alice_smith\\alice_smith_r_2.jpg 1\r\n",
         "line 2: `Caricature/Alice_Smith_c_1.jpg` is not of the form"),
        ("Alice_Smith Caricature/Alice_Smith\\Alice_Smith_c_1.jpg Alice_Smith Real/alice_smith\\alice_smith_r_2.jpg yes\r\n",
         "line 2: `same` must be 0 or 1, found `yes`"),
    ];
    for (line, expected) in cases {
        tree.write_split("validation.txt", &format!("{good}{line}"));
        let err = cavi.protocol(CaviProtocol::Clean).unwrap_err().to_string();
        assert!(err.contains("validation.txt") && err.contains(expected), "{err}\nexpected: {expected}");
    }
    fs::remove_file(tree.root.join("train-test-files/testing_1.txt")).unwrap();
    let err = cavi.protocol(CaviProtocol::Clean).unwrap_err().to_string();
    assert!(err.contains("testing_1.txt"), "{err}");

    let empty = Tree::new("no-images");
    fs::remove_dir_all(empty.root.join("CaVI_Dataset/Caricature")).unwrap();
    let err = Cavi::open(&empty.root).err().unwrap().to_string();
    assert!(err.contains("Caricature"), "{err}");
}

#[test]
fn the_loader_skips_the_corrupt_and_the_vanished_image_and_reports_them() {
    let tree = Tree::new("skip");
    let cavi = Arc::new(Cavi::open(&tree.root).unwrap());
    fs::remove_file(tree.root.join("CaVI_Dataset").join(ALICE_R5_FILE)).unwrap();
    let train = cavi.protocol(CaviProtocol::Clean).unwrap().train;
    assert!(train.contains(&ALICE_R5) && train.contains(&BOB_R2_CORRUPT));
    let preprocess = Preprocess::new(4).unwrap();

    let stop = LoaderOptions { workers: 2, prefetch: 2, on_bad_image: OnBadImage::Stop };
    let sampler = Sampler::new(train.clone(), train.len(), 3).unwrap();
    let err = BatchLoader::new(cavi.clone(), sampler, preprocess, stop).unwrap().next_batch().unwrap_err().to_string();
    assert!(err.contains("alice_smith_r_5.jpeg") || err.contains("Bob_Jones_r_2.jpg"), "{err}");

    let skip = LoaderOptions { on_bad_image: OnBadImage::Skip, ..stop };
    let sampler = Sampler::new(train.clone(), train.len(), 3).unwrap();
    let mut loader = BatchLoader::new(cavi.clone(), sampler, preprocess, skip).unwrap();
    for _ in 0..3 {
        assert_eq!(loader.next_batch().unwrap().len(), train.len() - 2);
    }
    let report = loader.skipped();
    assert_eq!(report.dropped, 6);
    let files: BTreeSet<String> =
        report.images.iter().map(|s| s.path.as_ref().unwrap().file_name().unwrap().to_string_lossy().into()).collect();
    assert_eq!(files, BTreeSet::from(["Bob_Jones_r_2.jpg".to_string(), "alice_smith_r_5.jpeg".to_string()]));
}

/// The real copy, or `None` with the reason printed.
fn real_copy() -> Option<Cavi> {
    let dir = std::env::var_os("CARI_CAVI_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cavi"));
    if !dir.join("CaVI_Dataset").is_dir() {
        println!("skipped: no CaVI copy at {} (set CARI_CAVI_DIR)", dir.display());
        return None;
    }
    Some(Cavi::open(&dir).unwrap())
}

#[test]
fn the_real_copy_matches_the_published_split() {
    let Some(cavi) = real_copy() else { return };
    assert_eq!(cavi.identity_list().unwrap().len(), 205);
    assert_eq!(cavi.identities().len(), 206, "205 listed people and Conan O'Brien, caricatures only");
    let clean = cavi.protocol(CaviProtocol::Clean).unwrap();
    let pairs = &clean.test_pairs;
    assert_eq!(pairs.len(), 13_035);
    assert!(pairs[..6583].iter().all(|p| p.same) && pairs[6583..].iter().all(|p| !p.same));
    for p in pairs {
        let same_person = cavi.info(p.caricature).identity == cavi.info(p.photo).identity;
        assert_eq!(p.same, same_person, "{p:?}");
        assert_eq!(
            (cavi.info(p.caricature).modality, cavi.info(p.photo).modality),
            (Modality::Caricature, Modality::Photo)
        );
    }
    assert_eq!(clean.test.len(), 2207);
    let people: BTreeSet<usize> = clean.test.iter().map(|&i| cavi.info(i).identity).collect();
    assert_eq!(people.len(), 195);
    assert_eq!(clean.validation_pairs.len(), 14_419);
    let test: BTreeSet<usize> = clean.test.iter().copied().collect();
    assert!(clean.train.iter().all(|i| !test.contains(i)), "a clean training image is a test image");
    assert_eq!(clean.train.len() + clean.test.len(), cavi.len());
    assert!(clean.validation_pairs.iter().all(|p| !test.contains(&p.caricature) && !test.contains(&p.photo)));

    let reference = cavi.protocol(CaviProtocol::Reference).unwrap();
    assert_eq!(reference.test_pairs.len(), 652);
    assert_eq!(reference.test.len(), 1014);
    let people: BTreeSet<usize> = reference.test.iter().map(|&i| cavi.info(i).identity).collect();
    assert_eq!(people.len(), 193);
    let leaked = reference.train.iter().filter(|i| test.contains(i)).count();
    assert!((1000..1400).contains(&leaked), "{leaked} testing_1 images train in the reference protocol");

    for &i in &clean.test[..4] {
        let image = cavi.load(i).unwrap();
        assert!(image.width > 0 && image.width.max(image.height) <= 160);
        assert_eq!(image.pixels.len(), image.width * image.height * 3);
    }
}

/// Decode-and-augment throughput at 160 px: `cargo test --release --test data -- cavi::real_copy_loading_throughput --ignored --nocapture`.
#[test]
#[ignore]
fn real_copy_loading_throughput() {
    let Some(cavi) = real_copy() else { return };
    let cavi = Arc::new(cavi);
    let train = cavi.protocol(CaviProtocol::Clean).unwrap().train;
    let preprocess = Preprocess::new(160).unwrap();
    let start = Instant::now();
    let decoded: Vec<_> = train[..256].iter().map(|&i| cavi.load(i).unwrap()).collect();
    println!("decode only, 1 thread: {:.0} images/s", 256.0 / start.elapsed().as_secs_f64());
    let mut out = vec![0.0; preprocess.output_len()];
    let start = Instant::now();
    for image in &decoded {
        preprocess.apply(image, preprocess.centre_crop(), &mut out).unwrap();
    }
    println!("resize, crop and standardise only, 1 thread: {:.0} images/s", 256.0 / start.elapsed().as_secs_f64());
    let workers_max = std::thread::available_parallelism().map_or(1, |n| n.get());
    for workers in [1, 2, 4, 8, 16].into_iter().filter(|&w| w <= workers_max) {
        let options = LoaderOptions { workers, prefetch: 2, on_bad_image: OnBadImage::Stop };
        let sampler = Sampler::new(train.clone(), 64, 0).unwrap();
        let mut loader = BatchLoader::new(cavi.clone(), sampler, preprocess, options).unwrap();
        loader.next_batch().unwrap();
        let (start, batches) = (Instant::now(), 8);
        for _ in 0..batches {
            loader.next_batch().unwrap();
        }
        let rate = (batches * 64) as f64 / start.elapsed().as_secs_f64();
        println!("{workers:>2} workers: {rate:8.0} images/s ({:.0} per worker)", rate / workers as f64);
    }
    let eval = EvalBatches::new(cavi.clone(), train[..512].to_vec(), 64, preprocess, LoaderOptions::default()).unwrap();
    let start = Instant::now();
    let images: usize = eval.map(|b| b.unwrap().len()).sum();
    println!("evaluation, 4 workers: {:.0} images/s", images as f64 / start.elapsed().as_secs_f64());
}
