//! The WebCaricature loader and protocol parsers on a small fabricated copy in the published
//! layout: names with spaces and an accent, LF and CRLF files, the tolerated variants
//! (a leading fold-count line, header lines, bare-integer lines, case differences), tiny
//! JPEGs and landmark files in 1e-notation.

use cari::batch::Modality;
use cari::data::{
    parse_landmarks, Dataset, Direction, FaceBox, OnBadLine, Pair, SkippedLine, View, WebCaricature,
    WebCaricatureFolds, WebCaricatureProtocol, WebCaricatureTask,
};
use std::fs;
use std::path::{Path, PathBuf};

/// Sample indices of the scan: people sorted by folder name, caricatures before photos.
const ALAN_C1: usize = 0;
const ALAN_C2: usize = 1;
const ALAN_P1: usize = 2;
const ALAN_P2: usize = 3;
const BETTE_C1: usize = 4;
const BETTE_P1: usize = 5;
const BETTE_P2: usize = 6;
const CHRIS_C1: usize = 7;
const CHRIS_C2: usize = 8;
const CHRIS_P1: usize = 9;
const DIANE_C1: usize = 10;
const DIANE_P1: usize = 11;
const ELODIE_C1: usize = 12;
const ELODIE_P1: usize = 13;

const ALAN: usize = 0;
const BETTE: usize = 1;
const CHRIS: usize = 2;
const DIANE: usize = 3;
const ELODIE: usize = 4;

/// Images under `OriginalImages/`, with their sizes. Diane's photo is smaller and has no
/// landmark file; `X00001.jpg` is neither a caricature nor a photo.
const IMAGES: [(&str, u32, u32); 15] = [
    ("Alan Rickman/C00001.jpg", 40, 30),
    ("Alan Rickman/C00002.jpg", 40, 30),
    ("Alan Rickman/P00001.jpg", 40, 30),
    ("Alan Rickman/P00002.jpg", 40, 30),
    ("Bette Davis/C00001.jpg", 40, 30),
    ("Bette Davis/P00001.jpg", 40, 30),
    ("Bette Davis/P00002.JPG", 40, 30),
    ("Bette Davis/X00001.jpg", 40, 30),
    ("Chris Rock/C00001.jpg", 40, 30),
    ("Chris Rock/C00002.jpg", 40, 30),
    ("Chris Rock/P00001.jpg", 40, 30),
    ("Diane Keaton/C00001.jpg", 40, 30),
    ("Diane Keaton/P00001.jpg", 24, 18),
    ("Élodie Bouchez/C00001.jpg", 40, 30),
    ("Élodie Bouchez/P00001.jpg", 40, 30),
];

/// Alan's first caricature: x spans 10…30, y spans 5…20, in assorted notations, CRLF.
const ALAN_C1_POINTS: &str = "1.0e1 5e0\r\n3.0E+01 2.0e1\r\n2e1 1.0e1\r\n15 12\r\n25 12\r\n14 8\r\n26 8\r\n\
    13 9\r\n17 9\r\n23 9\r\n27 9\r\n20 13\r\n20 16\r\n17 17\r\n20 18\r\n23 17\r\n2.0e+1 1.9e1\r\n";

/// Alan's first photo: x spans 4…24, y spans 10…20 (LF, TAB-separated).
fn alan_p1_points() -> String {
    let mut lines = vec!["4\t10".to_string(), "24\t20".to_string()];
    lines.extend((0..15).map(|k| format!("{}\t{}", 10 + k % 5, 12 + k % 7)));
    lines.join("\n") + "\n"
}

/// A fabricated WebCaricature tree in a fresh temporary directory, removed on drop.
struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new(name: &str) -> Tree {
        let root = std::env::temp_dir().join(format!("cari-webcari-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let tree = Tree { root };
        for (k, (file, w, h)) in IMAGES.iter().enumerate() {
            let path = tree.root.join("OriginalImages").join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            let image =
                image::RgbImage::from_fn(*w, *h, |x, y| image::Rgb([(k * 15) as u8, (x * 6) as u8, (y * 8) as u8]));
            image.save_with_format(&path, image::ImageFormat::Jpeg).unwrap();
        }
        tree.write("OriginalImages/Bette Davis/Thumbs.db", "not an image");
        tree.write("OriginalImages/Empty Folder/readme.txt", "no images here");
        tree.write("FacialPoints/Alan Rickman/C00001.txt", ALAN_C1_POINTS);
        tree.write("FacialPoints/Alan Rickman/P00001.txt", &alan_p1_points());
        for stem in ["C00002", "P00002"] {
            tree.write(&format!("FacialPoints/Alan Rickman/{stem}.txt"), &face_points());
        }
        for file in
            ["Bette Davis/C00001.txt", "Bette Davis/P00001.txt", "Bette Davis/P00002.txt", "chris rock/C00001.txt"]
        {
            tree.write(&format!("FacialPoints/{file}"), &face_points());
        }
        tree.write_protocols();
        tree
    }

    fn write(&self, relative: &str, text: &str) {
        self.write_bytes(relative, text.as_bytes());
    }

    fn write_bytes(&self, relative: &str, bytes: &[u8]) {
        let path = self.root.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    fn write_protocols(&self) {
        self.write(RESTRICTED_DEV_TRAIN, "2\nAlan Rickman\tC00001\tP00001\nChris Rock\tC00002\tP00001\nAlan Rickman\tC00002\tBette Davis\tP00001\nChris Rock\tC00001\tDiane Keaton\tP00001\n");
        self.write(
            RESTRICTED_DEV_TEST,
            "1\r\nBette Davis\tC00001\tP00002 \r\n\r\nDiane Keaton\tC00001\tÉlodie Bouchez\tP00001\r\n",
        );
        self.write(RESTRICTED_VIEW2, &restricted_view2());
        self.write(UNRESTRICTED_DEV_TRAIN, "2\nAlan Rickman\t2\t2\nchris rock\t2\t1\n");
        self.write(UNRESTRICTED_DEV_TEST, "2\r\nBette Davis\t1\t2\r\nDiane Keaton\t1\t1\r\n");
        self.write(UNRESTRICTED_VIEW2, &unrestricted_view2());
        self.write(FR_TRAIN_DEV, "Alan Rickman\t2\t2\nBette Davis\t1\t2\n");
        self.write(C2P_GALLERY_DEV, "Name\tImage\r\nChris Rock\tP00001\r\nDiane Keaton\tp00001\r\n");
        self.write(C2P_PROBE_DEV, "3\nChris Rock\tC00001\nChris Rock\tC00002\n2\nDiane Keaton\tC00001.jpg\n");
        self.write(P2C_GALLERY_DEV, "2\nChris Rock\tC00002\nDiane Keaton\tC00001\n");
        self.write(P2C_PROBE_DEV, "1\nChris Rock\tP00001\n");
        for k in 1..=10 {
            let train = if k == 10 {
                "3\nAlan Rickman\t2\t2\nBette Davis\t1\t2\nChris Rock\t2\t1\n"
            } else {
                "2\nAlan Rickman\t2\t2\nBette Davis\t1\t2\n"
            };
            self.write(&format!("{FR}/FR_Train{k}.txt"), train);
            self.write(
                &format!("{FR}/C2P/FR_Gallery_C2P{k}.txt"),
                "3\r\nChris Rock\tP00001\r\nDiane Keaton\tP00001\r\nÉlodie Bouchez\tP00001\r\n",
            );
            self.write(&format!("{FR}/C2P/FR_Probe_C2P{k}.txt"), "2\nÉlodie Bouchez\tC00001\nChris Rock\tC00002\n");
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// 17 valid points for a 40×30 image (the box spans its width).
fn face_points() -> String {
    (0..17).map(|k| format!("{} {}\n", 5 + k * 2, 3 + k)).collect()
}

const VERIFICATION: &str = "EvaluationProtocols/FaceVerification";
const RESTRICTED_DEV_TRAIN: &str = "EvaluationProtocols/FaceVerification/Restricted/RestrictedView1_DevTrain.txt";
const RESTRICTED_DEV_TEST: &str = "EvaluationProtocols/FaceVerification/Restricted/RestrictedView1_DevTest.txt";
const RESTRICTED_VIEW2: &str = "EvaluationProtocols/FaceVerification/Restricted/RestrictedView2.txt";
/// The folder is spelt `Unrestricted` here, `UnRestricted` in the published copy: protocol
/// paths are resolved case-insensitively.
const UNRESTRICTED_DEV_TRAIN: &str = "EvaluationProtocols/FaceVerification/Unrestricted/UnRestrictedView1_DevTrain.txt";
const UNRESTRICTED_DEV_TEST: &str = "EvaluationProtocols/FaceVerification/Unrestricted/UnRestrictedView1_DevTest.txt";
const UNRESTRICTED_VIEW2: &str = "EvaluationProtocols/FaceVerification/Unrestricted/UnRestrictedView2.txt";
const FR: &str = "EvaluationProtocols/FaceIdentification";
const FR_TRAIN_DEV: &str = "EvaluationProtocols/FaceIdentification/FR_Train_dev.txt";
const C2P_GALLERY_DEV: &str = "EvaluationProtocols/FaceIdentification/C2P/FR_Gallery_C2P_dev.txt";
const C2P_PROBE_DEV: &str = "EvaluationProtocols/FaceIdentification/C2P/FR_Probe_C2P_dev.txt";
const P2C_GALLERY_DEV: &str = "EvaluationProtocols/FaceIdentification/P2C/FR_Gallery_P2C_dev.txt";
const P2C_PROBE_DEV: &str = "EvaluationProtocols/FaceIdentification/P2C/FR_Probe_P2C_dev.txt";

/// Ten folds, CRLF: fold 1 one pair of each kind, fold 2 two (one mismatched line photo
/// first), folds 3–10 the same single pairs.
fn restricted_view2() -> String {
    let mut lines = vec![
        "1",
        "Alan Rickman\tC00001\tP00002",
        "Alan Rickman\tC00002\tChris Rock\tP00001",
        "2",
        "Bette Davis\tC00001\tP00001",
        "Élodie Bouchez\tC00001\tP00001",
        "Bette Davis\tC00001\tDiane Keaton\tP00001",
        "Diane Keaton\tP00001\tChris Rock\tC00001",
    ];
    for _ in 2..10 {
        lines.extend(["1", "Diane Keaton\tC00001\tP00001", "Chris Rock\tC00002\tAlan Rickman\tP00001"]);
    }
    lines.join("\r\n") + "\r\n"
}

/// A leading `10`, then ten blocks (LF): Alan; Bette and Élodie; Chris; Diane seven times.
fn unrestricted_view2() -> String {
    let mut text =
        "10\n1\nAlan Rickman\t2\t2\n2\nBette Davis\t1\t2\nÉlodie Bouchez\t1\t1\n1\nChris Rock\t2\t1\n".to_string();
    for _ in 3..10 {
        text.push_str("1\nDiane Keaton\t1\t1\n");
    }
    text
}

fn open(tree: &Tree) -> WebCaricature {
    WebCaricature::open(&tree.root).unwrap()
}

fn pair(caricature: usize, photo: usize, same: bool) -> Pair {
    Pair { caricature, photo, same }
}

/// The error's text, asserted to name `file` and to contain `expected`.
fn assert_error(err: cari::Error, file: &str, expected: &str) {
    let text = err.to_string();
    assert!(text.contains(file) && text.contains(expected), "{text}\nexpected {file}: …{expected}…");
}

#[test]
fn the_scan_orders_people_then_caricatures_then_photos() {
    let tree = Tree::new("scan");
    let web = open(&tree);
    assert_eq!(web.identities(), ["Alan Rickman", "Bette Davis", "Chris Rock", "Diane Keaton", "Élodie Bouchez"]);
    assert_eq!(web.len(), 14, "X00001.jpg, Thumbs.db and the image-less folder are not samples");
    let stems: Vec<&str> = (0..web.len()).map(|i| web.stem(i)).collect();
    assert_eq!(
        stems,
        [
            "C00001", "C00002", "P00001", "P00002", "C00001", "P00001", "P00002", "C00001", "C00002", "P00001",
            "C00001", "P00001", "C00001", "P00001"
        ]
    );
    let modalities: Vec<Modality> = (0..web.len()).map(|i| web.info(i).modality).collect();
    assert_eq!(modalities[ALAN_C2], Modality::Caricature);
    assert_eq!(modalities[ALAN_P1], Modality::Photo);
    assert_eq!(modalities.iter().filter(|&&m| m == Modality::Caricature).count(), 7);
    assert_eq!(web.info(ELODIE_P1).identity, ELODIE);
    assert_eq!(web.caricatures_of(CHRIS), [CHRIS_C1, CHRIS_C2]);
    assert_eq!(web.photos_of(BETTE), [BETTE_P1, BETTE_P2]);
    assert_eq!(web.unrecognised_images(), [tree.path("OriginalImages/Bette Davis/X00001.jpg")]);

    assert_eq!(web.identity_index("Chris Rock"), Some(CHRIS));
    assert_eq!(web.identity_index("chris ROCK"), Some(CHRIS));
    assert_eq!(web.identity_index("Chris"), None);
    assert_eq!(web.image_index(BETTE, "P00002"), Some(BETTE_P2), "the .JPG extension");
    assert_eq!(web.image_index(BETTE, "p00002.jpg"), Some(BETTE_P2));
    assert_eq!(web.image_index(BETTE, "C00002"), None);
    assert_eq!(web.without_landmarks(), [CHRIS_C2, CHRIS_P1, DIANE_C1, DIANE_P1, ELODIE_C1, ELODIE_P1]);
    let chris = web.landmark_file(CHRIS_C1).unwrap();
    assert_eq!(chris, tree.path("FacialPoints/chris rock/C00001.txt"), "the folder matched in another case");
    assert_eq!(web.landmark_file(ALAN_P1), Some(tree.path("FacialPoints/Alan Rickman/P00001.txt").as_path()));
    assert!(web.describe().starts_with("webcaricature:"));

    fs::remove_dir_all(tree.path("OriginalImages")).unwrap();
    fs::create_dir_all(tree.path("OriginalImages/Nobody")).unwrap();
    assert_error(WebCaricature::open(&tree.root).err().unwrap(), "OriginalImages", "no C*.jpg or P*.jpg image");
}

#[test]
fn the_face_box_widens_the_landmark_box_about_its_centre_and_clips_it() {
    // x 10…30: centre 20, width 20 × 1.5 = 30 → 5…35. y 5…20: centre 12.5, height
    // 15 × 1.2 = 18 → 3.5…21.5, widened to whole pixels 3…22.
    let points = parse_landmarks(Path::new("hand.txt"), ALAN_C1_POINTS).unwrap();
    assert_eq!(points.len(), 17);
    assert_eq!((points[0], points[1], points[16]), ([10.0, 5.0], [30.0, 20.0], [20.0, 19.0]));
    assert_eq!(FaceBox::around(&points, 40, 30), Some(FaceBox { x: 5, y: 3, width: 30, height: 19 }));
    // x 4…24: centre 14, half-width 15 → −1…29, clipped to 0…29. y 10…20: 9…21.
    let points = parse_landmarks(Path::new("hand.txt"), &alan_p1_points()).unwrap();
    assert_eq!(FaceBox::around(&points, 40, 30), Some(FaceBox { x: 0, y: 9, width: 29, height: 12 }));
    assert_eq!(FaceBox::around(&points, 20, 15), Some(FaceBox { x: 0, y: 9, width: 20, height: 6 }));
    assert_eq!(FaceBox::around(&points, 40, 8), None, "below the image");
    assert_eq!(FaceBox::around(&[[3.0, 4.0]; 17], 40, 30), None, "no area");
}

#[test]
fn images_load_cut_to_the_face_box_or_whole_without_landmarks() {
    let tree = Tree::new("load");
    let web = open(&tree);
    let whole = |file: &str| {
        let image = image::open(tree.path(&format!("OriginalImages/{file}"))).unwrap().into_rgb8();
        (image.width() as usize, image.into_raw())
    };
    let check_cut = |index: usize, file: &str, (x, y, w, h): (usize, usize, usize, usize)| {
        let face = web.load(index).unwrap();
        assert_eq!((face.width, face.height), (w, h), "{file}");
        let (width, pixels) = whole(file);
        for row in 0..h {
            let start = ((y + row) * width + x) * 3;
            assert_eq!(face.pixels[row * w * 3..][..w * 3], pixels[start..start + w * 3], "{file} row {row}");
        }
    };
    check_cut(ALAN_C1, "Alan Rickman/C00001.jpg", (5, 3, 30, 19));
    check_cut(ALAN_P1, "Alan Rickman/P00001.jpg", (0, 9, 29, 12));
    let diane = web.load(DIANE_P1).unwrap();
    assert_eq!((diane.width, diane.height), (24, 18), "no landmark file: the whole image");
    assert_eq!(diane.pixels, whole("Diane Keaton/P00001.jpg").1);

    tree.write_bytes("OriginalImages/Chris Rock/C00002.jpg", &[0xFF, 0xD8, 0xFF, 0xE0, 0x13]);
    assert_error(web.load(CHRIS_C2).unwrap_err(), "Chris Rock/C00002.jpg", "");
    fs::remove_file(tree.path("FacialPoints/Bette Davis/P00001.txt")).unwrap();
    assert_error(web.load(BETTE_P1).unwrap_err(), "Bette Davis/P00001.txt", "");
}

#[test]
fn malformed_landmark_files_are_named_with_the_line() {
    let tree = Tree::new("landmarks");
    let web = open(&tree);
    let file = "FacialPoints/Alan Rickman/C00001.txt";
    let good: Vec<String> = face_points().lines().map(String::from).collect();
    let with_line = |k: usize, line: &str| {
        let mut lines = good.clone();
        lines[k] = line.to_string();
        lines.join("\n")
    };
    let cases = [
        (with_line(2, "1.0 abc"), "line 3: `abc` is not a finite number"),
        (with_line(1, "1 2 3"), "line 2: expected two numbers `x y`, found `1 2 3`"),
        (with_line(16, "NaN 4"), "line 17: `NaN` is not a finite number"),
        (good[..16].join("\n"), "after line 16: expected 17 points, found 16"),
        (good.join("\n") + "\n\n1 1\n", "line 19: more than 17 points"),
        ((0..17).map(|k| format!("{} {}\n", 100 + k, 3 + k)).collect(), "leaves no pixel of the 40×30 image"),
    ];
    for (text, expected) in cases {
        tree.write(file, &text);
        assert_error(web.load(ALAN_C1).unwrap_err(), "Alan Rickman/C00001.txt", expected);
    }
    tree.write(file, &good.join(",\n").replace(' ', ", "));
    assert!(web.load(ALAN_C1).is_ok(), "comma-separated coordinates");
}

#[test]
fn restricted_view1_pairs_come_from_the_development_files() {
    let tree = Tree::new("restricted1");
    let web = open(&tree);
    let protocol = web.restricted(View::Development, OnBadLine::Stop).unwrap();
    assert_eq!(protocol.name, "webcaricature-restricted-view1");
    assert!(protocol.skipped.is_empty());
    let [fold] = &protocol.folds[..] else { panic!("{} folds", protocol.folds.len()) };
    assert_eq!(fold.pairs, [pair(BETTE_C1, BETTE_P2, true), pair(DIANE_C1, ELODIE_P1, false)]);
    assert_eq!(fold.test, [BETTE_C1, BETTE_P2, DIANE_C1, ELODIE_P1]);
    assert_eq!(fold.train, [ALAN_C1, ALAN_C2, ALAN_P1, BETTE_P1, CHRIS_C1, CHRIS_C2, CHRIS_P1, DIANE_P1]);
    assert_eq!(fold.shared_identities, [BETTE, DIANE]);
    let as_protocol = protocol.fold_protocol(0);
    assert_eq!(as_protocol.name, "webcaricature-restricted-view1");
    assert_eq!((as_protocol.test_pairs, as_protocol.train), (fold.pairs.clone(), fold.train.clone()));
    assert!(as_protocol.validation_pairs.is_empty());
}

#[test]
fn restricted_view2_has_ten_folds_each_training_on_the_other_nine() {
    let tree = Tree::new("restricted2");
    let web = open(&tree);
    let protocol = web.restricted(View::Evaluation, OnBadLine::Stop).unwrap();
    assert_eq!(protocol.name, "webcaricature-restricted-view2");
    assert_eq!(protocol.folds.len(), 10);
    let [first, second] = &protocol.folds[..2] else { unreachable!() };
    assert_eq!(first.pairs, [pair(ALAN_C1, ALAN_P2, true), pair(ALAN_C2, CHRIS_P1, false)]);
    assert_eq!(first.test, [ALAN_C1, ALAN_C2, ALAN_P2, CHRIS_P1]);
    assert_eq!(
        first.train,
        [ALAN_P1, BETTE_C1, BETTE_P1, CHRIS_C1, CHRIS_C2, DIANE_C1, DIANE_P1, ELODIE_C1, ELODIE_P1]
    );
    assert_eq!(first.shared_identities, [ALAN, CHRIS]);
    assert_eq!(
        second.pairs,
        [
            pair(BETTE_C1, BETTE_P1, true),
            pair(ELODIE_C1, ELODIE_P1, true),
            pair(BETTE_C1, DIANE_P1, false),
            pair(CHRIS_C1, DIANE_P1, false),
        ],
        "the photo-first mismatched line reads caricature first"
    );
    assert_eq!(second.train, [ALAN_C1, ALAN_C2, ALAN_P1, ALAN_P2, CHRIS_C2, CHRIS_P1, DIANE_C1]);
    for fold in &protocol.folds[2..] {
        assert_eq!(fold.pairs, [pair(DIANE_C1, DIANE_P1, true), pair(CHRIS_C2, ALAN_P1, false)]);
    }
    assert_eq!(protocol.fold_protocol(3).name, "webcaricature-restricted-view2-fold4");

    tree.write(RESTRICTED_VIEW2, &format!("10\r\n{}", restricted_view2()));
    assert_eq!(web.restricted(View::Evaluation, OnBadLine::Stop).unwrap(), protocol, "a leading fold count");
}

#[test]
fn unrestricted_folds_pair_every_caricature_with_every_photo_of_their_people() {
    let tree = Tree::new("unrestricted");
    let web = open(&tree);
    let dev = web.unrestricted(View::Development, OnBadLine::Stop).unwrap();
    assert_eq!(dev.name, "webcaricature-unrestricted-view1");
    let [fold] = &dev.folds[..] else { panic!("{} folds", dev.folds.len()) };
    assert_eq!(
        fold.pairs,
        [
            pair(BETTE_C1, BETTE_P1, true),
            pair(BETTE_C1, BETTE_P2, true),
            pair(BETTE_C1, DIANE_P1, false),
            pair(DIANE_C1, BETTE_P1, false),
            pair(DIANE_C1, BETTE_P2, false),
            pair(DIANE_C1, DIANE_P1, true),
        ]
    );
    assert_eq!(fold.test, [BETTE_C1, BETTE_P1, BETTE_P2, DIANE_C1, DIANE_P1]);
    assert_eq!(fold.train, [ALAN_C1, ALAN_C2, ALAN_P1, ALAN_P2, CHRIS_C1, CHRIS_C2, CHRIS_P1]);
    assert!(fold.shared_identities.is_empty());

    let view2 = web.unrestricted(View::Evaluation, OnBadLine::Stop).unwrap();
    assert_eq!(view2.name, "webcaricature-unrestricted-view2");
    assert_eq!(view2.folds.len(), 10, "the leading 10 is a fold count, not a block");
    let first = &view2.folds[0];
    assert_eq!(
        first.pairs,
        [
            pair(ALAN_C1, ALAN_P1, true),
            pair(ALAN_C1, ALAN_P2, true),
            pair(ALAN_C2, ALAN_P1, true),
            pair(ALAN_C2, ALAN_P2, true)
        ]
    );
    assert_eq!(first.train, (BETTE_C1..web.len()).collect::<Vec<_>>());
    assert!(first.shared_identities.is_empty());
    let second = &view2.folds[1];
    assert_eq!(second.pairs.len(), 2 * 3);
    assert_eq!(second.pairs.iter().filter(|p| p.same).count(), 3);
    assert_eq!(second.pairs[2], pair(BETTE_C1, ELODIE_P1, false));
    assert_eq!(view2.folds[3].pairs, [pair(DIANE_C1, DIANE_P1, true)]);
    // Diane is in folds 4 to 10: her images are test images there, so never train.
    assert!(view2.folds[3].train.iter().all(|&i| web.info(i).identity != DIANE));
    assert!(view2.folds[3].shared_identities.is_empty());

    tree.write(UNRESTRICTED_VIEW2, unrestricted_view2().trim_start_matches("10\n"));
    assert_eq!(web.unrestricted(View::Evaluation, OnBadLine::Stop).unwrap(), view2, "without the leading 10");
}

#[test]
fn identification_folds_list_train_people_gallery_and_probes() {
    let tree = Tree::new("identification");
    let web = open(&tree);
    let dev = web.identification(Direction::CaricatureToPhoto, View::Development, OnBadLine::Stop).unwrap();
    assert_eq!((dev.name.as_str(), dev.direction), ("webcaricature-c2p-view1", Direction::CaricatureToPhoto));
    let [fold] = &dev.folds[..] else { panic!("{} folds", dev.folds.len()) };
    assert_eq!(fold.train_identities, [ALAN, BETTE]);
    assert_eq!(fold.train, [ALAN_C1, ALAN_C2, ALAN_P1, ALAN_P2, BETTE_C1, BETTE_P1, BETTE_P2]);
    assert_eq!(fold.gallery, [CHRIS_P1, DIANE_P1], "the `Name⇥Image` header is skipped");
    assert_eq!(fold.probes, [CHRIS_C1, CHRIS_C2, DIANE_C1], "the bare integers are skipped");
    assert!(fold.shared_identities.is_empty());

    let p2c = web.identification(Direction::PhotoToCaricature, View::Development, OnBadLine::Stop).unwrap();
    assert_eq!(p2c.name, "webcaricature-p2c-view1");
    assert_eq!(
        (p2c.folds[0].gallery.as_slice(), p2c.folds[0].probes.as_slice()),
        ([CHRIS_C2, DIANE_C1].as_slice(), [CHRIS_P1].as_slice())
    );

    let view2 = web.identification(Direction::CaricatureToPhoto, View::Evaluation, OnBadLine::Stop).unwrap();
    assert_eq!(view2.folds.len(), 10);
    for fold in &view2.folds[..9] {
        assert_eq!(fold.gallery, [CHRIS_P1, DIANE_P1, ELODIE_P1]);
        assert_eq!(fold.probes, [ELODIE_C1, CHRIS_C2]);
        assert_eq!(fold.train_identities, [ALAN, BETTE]);
        assert!(fold.shared_identities.is_empty());
    }
    assert_eq!(view2.folds[9].train_identities, [ALAN, BETTE, CHRIS]);
    assert_eq!(view2.folds[9].shared_identities, [CHRIS], "fold 10 trains on a tested person");

    assert_eq!("C2P".parse::<Direction>().unwrap(), Direction::CaricatureToPhoto);
    assert_eq!("p2c".parse::<Direction>().unwrap(), Direction::PhotoToCaricature);
    assert!("c2c".parse::<Direction>().unwrap_err().to_string().contains("invalid value for direction:"));
    assert_eq!("view1".parse::<View>().unwrap(), View::Development);
    assert_eq!("2".parse::<View>().unwrap(), View::Evaluation);
    assert!("3".parse::<View>().unwrap_err().to_string().contains("invalid value for view:"));
    assert_eq!("skip".parse::<OnBadLine>().unwrap(), OnBadLine::Skip);
    assert!("drop".parse::<OnBadLine>().unwrap_err().to_string().contains("invalid value for on_bad_line:"));
}

#[test]
fn a_training_run_takes_the_chosen_folds_training_part() {
    let tree = Tree::new("training");
    let web = open(&tree);
    let choose = |task, view, fold| WebCaricatureProtocol { task, view, fold, on_bad_line: OnBadLine::Stop };

    let c2p = web.training_protocol(&choose(WebCaricatureTask::C2p, View::Development, 1)).unwrap();
    assert_eq!(c2p.name, "webcaricature-c2p-view1");
    assert_eq!(c2p.train, [ALAN_C1, ALAN_C2, ALAN_P1, ALAN_P2, BETTE_C1, BETTE_P1, BETTE_P2]);
    assert_eq!(c2p.test, [CHRIS_C1, CHRIS_C2, CHRIS_P1, DIANE_C1, DIANE_P1], "gallery and probes, sorted");
    assert!(c2p.test_pairs.is_empty());

    let restricted = web.restricted(View::Evaluation, OnBadLine::Stop).unwrap();
    let third = web.training_protocol(&choose(WebCaricatureTask::Restricted, View::Evaluation, 3)).unwrap();
    assert_eq!(third, restricted.fold_protocol(2));
    assert_eq!(third.name, "webcaricature-restricted-view2-fold3");

    for (view, fold, range) in
        [(View::Evaluation, 0, "1 to 10"), (View::Evaluation, 11, "1 to 10"), (View::Development, 2, "1 to 1")]
    {
        let e = web.training_protocol(&choose(WebCaricatureTask::Unrestricted, view, fold)).unwrap_err().to_string();
        assert!(e.contains("invalid value for fold:") && e.contains(range), "{e}");
    }
    match web.folds(&choose(WebCaricatureTask::P2c, View::Development, 1)).unwrap() {
        WebCaricatureFolds::Identification(p) => assert_eq!(p.direction, Direction::PhotoToCaricature),
        WebCaricatureFolds::Verification(p) => panic!("{} is not P2C", p.name),
    }
}

#[test]
fn verification_errors_name_the_file_and_line() {
    let tree = Tree::new("verification-errors");
    let web = open(&tree);
    let restricted = |text: &str| {
        tree.write(RESTRICTED_DEV_TRAIN, text);
        web.restricted(View::Development, OnBadLine::Stop).unwrap_err()
    };
    let matched = "Alan Rickman\tC00001\tP00001";
    let mismatched = "Alan Rickman\tC00002\tBette Davis\tP00001";
    let file = "RestrictedView1_DevTrain.txt";
    let cases = [
        (format!("one\n{matched}\n{mismatched}\n"), "line 1: expected the number of pairs, found `one`"),
        (format!("1\nAlan Rickman\tC00001\tChris Rock\tP00001\n{mismatched}\n"), "line 2: expected a matched pair"),
        (format!("1\r\n{matched}\r\nAlan Rickman\tP00001\r\n"), "line 3: expected a mismatched pair"),
        (
            format!("1\n\nAlan Rickmann\tC00001\tP00001\n{mismatched}\n"),
            "line 3: no person `Alan Rickmann` under OriginalImages/",
        ),
        (format!("1\nChris Rock\tC00009\tP00001\n{mismatched}\n"), "line 2: no image `C00009` of `Chris Rock`"),
        (
            format!("1\n{matched}\nAlan Rickman\tC00002\talan rickman\tP00001\n"),
            "line 3: a mismatched pair of one person",
        ),
        (
            format!("1\nAlan Rickman\tC00001\tC00002\n{mismatched}\n"),
            "line 2: a pair needs a caricature and a photo, found `C00001` and `C00002`",
        ),
        (
            format!("2\n{matched}\n{matched}\n{mismatched}\n"),
            "after line 4: the file ends where a mismatched pair should be",
        ),
        (format!("2\n{matched}\n1\n{mismatched}\n"), "line 3: a count where a matched pair should be"),
        (format!("1\n{matched}\n{mismatched}\n{mismatched}\n"), "line 4: unexpected line after the block"),
    ];
    for (text, expected) in &cases {
        assert_error(restricted(text), file, expected);
    }

    let view2 = restricted_view2();
    tree.write(RESTRICTED_VIEW2, &format!("9\n{view2}"));
    assert_error(
        web.restricted(View::Evaluation, OnBadLine::Stop).unwrap_err(),
        "RestrictedView2.txt",
        "line 1: the file announces 9 folds",
    );
    let nine_folds: Vec<&str> = view2.lines().collect();
    tree.write(RESTRICTED_VIEW2, &nine_folds[..nine_folds.len() - 3].join("\n"));
    assert_error(
        web.restricted(View::Evaluation, OnBadLine::Stop).unwrap_err(),
        "RestrictedView2.txt",
        "after line 29: the file ends where the number of pairs should be",
    );

    let unrestricted = |text: &str| {
        tree.write(UNRESTRICTED_DEV_TEST, text);
        web.unrestricted(View::Development, OnBadLine::Stop).unwrap_err()
    };
    let file = "UnRestrictedView1_DevTest.txt";
    assert_error(
        unrestricted("1\nAlan Rickman\t3\t2\n"),
        file,
        "line 2: `Alan Rickman` has 2 caricatures and 2 photos under OriginalImages/, the line says 3 and 2",
    );
    assert_error(unrestricted("1\nAlan Rickman\tx\t2\n"), file, "line 2: `x` is not a count");
    assert_error(
        unrestricted("1\nAlan Rickman 2 2\n"),
        file,
        "line 2: expected `Name⇥caricatures⇥photos` (3 TAB-separated fields), found 1",
    );
    assert_error(
        unrestricted("2\nAlan Rickman\t2\t2\nALAN RICKMAN\t2\t2\n"),
        file,
        "line 3: `ALAN RICKMAN` is listed twice",
    );
    assert_error(unrestricted("3\nAlan Rickman\t2\t2\n"), file, "after line 2: the file ends where a person");
    tree.write_bytes(UNRESTRICTED_DEV_TEST, b"1\nAlan Rickman\t2\t2\nRen\xE9e\t1\t1\n");
    assert_error(web.unrestricted(View::Development, OnBadLine::Stop).unwrap_err(), file, "line 3: not UTF-8 text");
    fs::remove_file(tree.path(UNRESTRICTED_DEV_TEST)).unwrap();
    assert_error(web.unrestricted(View::Development, OnBadLine::Stop).unwrap_err(), file, "");
}

#[test]
fn identification_errors_name_the_file_and_line() {
    let tree = Tree::new("identification-errors");
    let web = open(&tree);
    let c2p_dev = || web.identification(Direction::CaricatureToPhoto, View::Development, OnBadLine::Stop).unwrap_err();
    let gallery = "FR_Gallery_C2P_dev.txt";
    let cases = [
        ("Name\tImage\nChris Rock\tC00001\n", "line 2: `Chris Rock⇥C00001` is not a photo"),
        ("Chris Rock\tP00002\n", "line 1: no image `P00002` of `Chris Rock`"),
        ("2\nChris Rock\tP00001\nchris rock\tP00001\n", "line 3: `chris rock⇥P00001` is listed twice"),
        ("2\nChris Rock\tP00001\tP00002\n", "line 2: expected `Name⇥Stem` (2 TAB-separated fields), found 3"),
        ("2\nChris Rock\tP00001\nJohn Doe\tP00001\n", "line 3: no person `John Doe`"),
    ];
    for (text, expected) in cases {
        tree.write(C2P_GALLERY_DEV, text);
        assert_error(c2p_dev(), gallery, expected);
    }
    tree.write(C2P_GALLERY_DEV, "Chris Rock\tP00001\n");
    tree.write(C2P_PROBE_DEV, "Chris Rock\tP00001\n");
    assert_error(c2p_dev(), "FR_Probe_C2P_dev.txt", "line 1: `Chris Rock⇥P00001` is not a caricature");
    tree.write(FR_TRAIN_DEV, "2\nAlan Rickman\t2\t2\nBette Davis\t2\t2\n");
    assert_error(c2p_dev(), "FR_Train_dev.txt", "line 3: `Bette Davis` has 1 caricatures and 2 photos");
    fs::remove_file(tree.path(&format!("{FR}/C2P/FR_Probe_C2P7.txt"))).unwrap();
    let err = web.identification(Direction::CaricatureToPhoto, View::Evaluation, OnBadLine::Stop).unwrap_err();
    assert_error(err, "FR_Probe_C2P7.txt", "");
}

#[test]
fn skipped_entries_are_counted_with_file_line_and_reason() {
    let tree = Tree::new("skip");
    let web = open(&tree);
    tree.write(
        RESTRICTED_DEV_TRAIN,
        "2\nAlan Rickman\tC00001\tP00001\nAlan Rickman\tC00007\tP00001\nAlan Rickman\tC00002\tBette Davis\tP00001\nNobody\tC00001\tDiane Keaton\tP00001\n",
    );
    let stop = web.restricted(View::Development, OnBadLine::Stop).unwrap_err().to_string();
    assert!(stop.contains("line 3: no image `C00007`"), "{stop}");
    let protocol = web.restricted(View::Development, OnBadLine::Skip).unwrap();
    let path = tree.path(RESTRICTED_DEV_TRAIN);
    assert_eq!(
        protocol.skipped,
        [
            SkippedLine {
                file: path.clone(),
                line: 3,
                reason: "no image `C00007` of `Alan Rickman` under OriginalImages/".into()
            },
            SkippedLine { file: path.clone(), line: 5, reason: "no person `Nobody` under OriginalImages/".into() },
        ]
    );
    assert_eq!(
        protocol.skipped[1].to_string(),
        format!("{}: line 5: no person `Nobody` under OriginalImages/", path.display())
    );
    assert_eq!(protocol.folds[0].train, [ALAN_C1, ALAN_C2, ALAN_P1, BETTE_P1], "only the good pairs' images");

    tree.write(RESTRICTED_DEV_TRAIN, "2\nAlan Rickman\tC00001\tP00001\n1\n");
    let err = web.restricted(View::Development, OnBadLine::Skip).unwrap_err();
    assert_error(err, "RestrictedView1_DevTrain.txt", "line 3: a count where a matched pair should be");

    tree.write(C2P_GALLERY_DEV, "Name\tImage\nChris Rock\tP00001\nChris Rock\tC00001\nDiane Keaton\tP00001\n");
    tree.write(UNRESTRICTED_DEV_TEST, "2\nBette Davis\t1\t1\nDiane Keaton\t1\t1\n");
    let c2p = web.identification(Direction::CaricatureToPhoto, View::Development, OnBadLine::Skip).unwrap();
    assert_eq!(c2p.folds[0].gallery, [CHRIS_P1, DIANE_P1]);
    assert_eq!(c2p.skipped.len(), 1);
    assert_eq!((c2p.skipped[0].line, c2p.skipped[0].file.ends_with("FR_Gallery_C2P_dev.txt")), (3, true));
    let unrestricted = web.unrestricted(View::Development, OnBadLine::Skip).unwrap();
    assert_eq!(unrestricted.folds[0].pairs, [pair(DIANE_C1, DIANE_P1, true)]);
    assert_eq!(unrestricted.skipped.len(), 1);
    assert!(unrestricted.skipped[0].reason.contains("the line says 1 and 1"));
    assert!(unrestricted.skipped[0].file.starts_with(tree.path(VERIFICATION)));
}
