//! The folder dataset on a fabricated tree: the three modality rules, ignored files, empty
//! folders and the errors.

use cari::batch::Modality;
use cari::data::{Dataset, FolderDataset, ModalityRule};
use std::fs;
use std::path::PathBuf;

/// Images of the tree. `Bob/` is empty, `Carl/` has modality subfolders and a loose image,
/// `stray.jpg` sits in the root.
const IMAGES: [&str; 12] = [
    "Zed/a.jpg",
    "Zed/b.PNG",
    "alice/x_c_1.jpg",
    "alice/x_r_1.JPEG",
    "alice/C00002.jpg",
    "alice/Charlie.jpg",
    "Carl/loose.jpg",
    "Carl/photo/p1.jpg",
    "Carl/Caricature/k1.png",
    "Carl/other/z.jpg",
    "stray.jpg",
    "alice/deeper/nested.jpg",
];
const NOT_IMAGES: [&str; 4] = ["Zed/notes.txt", "Zed/Thumbs.db", "readme.md", "Carl/photo/Thumbs.db"];

/// A fabricated tree in a fresh temporary directory, removed on drop.
struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new(name: &str) -> Tree {
        let root = std::env::temp_dir().join(format!("cari-folder-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for (k, file) in IMAGES.iter().enumerate() {
            let path = root.join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            let image = image::RgbImage::from_fn(5 + k as u32, 4, |x, y| image::Rgb([k as u8 * 20, x as u8, y as u8]));
            let format =
                if file.to_lowercase().ends_with("png") { image::ImageFormat::Png } else { image::ImageFormat::Jpeg };
            image.save_with_format(&path, format).unwrap();
        }
        for file in NOT_IMAGES {
            fs::write(root.join(file), b"not an image").unwrap();
        }
        fs::create_dir_all(root.join("Bob")).unwrap();
        Tree { root }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Each sample as (identity name, path under the root, modality).
fn listing(dataset: &FolderDataset, tree: &Tree) -> Vec<(String, String, Modality)> {
    (0..dataset.len())
        .map(|i| {
            let info = dataset.info(i);
            let path = info.path.as_ref().unwrap().strip_prefix(&tree.root).unwrap();
            (dataset.identities()[info.identity].clone(), path.to_string_lossy().into_owned(), info.modality)
        })
        .collect()
}

fn sample(identity: &str, path: &str, modality: Modality) -> (String, String, Modality) {
    (identity.to_string(), path.to_string(), modality)
}

#[test]
fn by_default_every_image_of_an_identity_folder_is_a_photo() {
    let tree = Tree::new("default");
    let dataset = FolderDataset::open(&tree.root, ModalityRule::default()).unwrap();
    assert_eq!(dataset.identities(), ["Carl", "Zed", "alice"], "sorted by name; Bob is empty");
    use Modality::Photo;
    assert_eq!(
        listing(&dataset, &tree),
        [
            sample("Carl", "Carl/loose.jpg", Photo),
            sample("Zed", "Zed/a.jpg", Photo),
            sample("Zed", "Zed/b.PNG", Photo),
            sample("alice", "alice/C00002.jpg", Photo),
            sample("alice", "alice/Charlie.jpg", Photo),
            sample("alice", "alice/x_c_1.jpg", Photo),
            sample("alice", "alice/x_r_1.JPEG", Photo),
        ],
        "subfolders, non-images and the root's own files are not samples"
    );
    assert_eq!(dataset.ignored(), [tree.path("stray.jpg")]);
    assert_eq!(dataset.empty_folders(), [tree.path("Bob")]);
    assert!(dataset.describe().ends_with(":all-photos"), "{}", dataset.describe());

    let png = dataset.load(2).unwrap();
    assert_eq!((png.width, png.height), (6, 4));
    assert_eq!(&png.pixels[..6], [20, 0, 0, 20, 1, 0]);
    let jpeg = dataset.load(0).unwrap();
    assert_eq!((jpeg.width, jpeg.height, jpeg.pixels.len()), (11, 4, 11 * 4 * 3));
}

#[test]
fn the_file_name_rule_marks_c_numbers_and_c_infixes_as_caricatures() {
    let tree = Tree::new("file-name");
    let dataset = FolderDataset::open(&tree.root, ModalityRule::FileName).unwrap();
    let alice: Vec<_> = listing(&dataset, &tree).into_iter().filter(|s| s.0 == "alice").collect();
    use Modality::{Caricature, Photo};
    assert_eq!(
        alice,
        [
            sample("alice", "alice/C00002.jpg", Caricature),
            sample("alice", "alice/Charlie.jpg", Photo),
            sample("alice", "alice/x_c_1.jpg", Caricature),
            sample("alice", "alice/x_r_1.JPEG", Photo),
        ]
    );
    assert!(dataset.describe().ends_with(":file-name"));
}

#[test]
fn the_subfolder_rule_reads_photo_and_caricature_folders_only() {
    let tree = Tree::new("subfolders");
    let dataset = FolderDataset::open(&tree.root, ModalityRule::Subfolders).unwrap();
    assert_eq!(dataset.identities(), ["Carl"]);
    assert_eq!(
        listing(&dataset, &tree),
        [
            sample("Carl", "Carl/Caricature/k1.png", Modality::Caricature),
            sample("Carl", "Carl/photo/p1.jpg", Modality::Photo)
        ]
    );
    let mut ignored = dataset.ignored().to_vec();
    ignored.sort();
    let mut expected: Vec<PathBuf> =
        ["Carl/loose.jpg", "Zed/a.jpg", "Zed/b.PNG", "alice/C00002.jpg", "alice/Charlie.jpg"]
            .iter()
            .chain(&["alice/x_c_1.jpg", "alice/x_r_1.JPEG", "stray.jpg"])
            .map(|f| tree.path(f))
            .collect();
    expected.sort();
    assert_eq!(ignored, expected, "images outside photo/ and caricature/");
    assert_eq!(dataset.empty_folders(), [tree.path("Bob"), tree.path("Zed"), tree.path("alice")]);
}

#[test]
fn empty_missing_and_corrupt_inputs_are_named() {
    let tree = Tree::new("errors");
    let err = FolderDataset::open(tree.path("Bob"), ModalityRule::default()).err().unwrap().to_string();
    assert!(err.contains("Bob") && err.contains("no .jpg, .jpeg or .png image in <identity>/"), "{err}");
    let err = FolderDataset::open(tree.path("Carl"), ModalityRule::Subfolders).err().unwrap().to_string();
    assert!(err.contains("Carl") && err.contains("<identity>/photo/ or <identity>/caricature/"), "{err}");
    let err = FolderDataset::open(tree.path("nowhere"), ModalityRule::default()).err().unwrap().to_string();
    assert!(err.contains("nowhere"), "{err}");

    let dataset = FolderDataset::open(&tree.root, ModalityRule::default()).unwrap();
    fs::write(tree.path("Zed/a.jpg"), [0xFF, 0xD8, 0xFF, 0x00]).unwrap();
    let err = dataset.load(1).unwrap_err().to_string();
    assert!(err.contains("a.jpg"), "{err}");
    fs::remove_file(tree.path("Zed/b.PNG")).unwrap();
    let err = dataset.load(2).unwrap_err().to_string();
    assert!(err.contains("b.PNG"), "{err}");

    assert_eq!("subfolders".parse::<ModalityRule>().unwrap(), ModalityRule::Subfolders);
    assert_eq!("file-name".parse::<ModalityRule>().unwrap(), ModalityRule::FileName);
    assert_eq!("all-photos".parse::<ModalityRule>().unwrap(), ModalityRule::AllPhotos);
    assert!("photos".parse::<ModalityRule>().unwrap_err().to_string().contains("invalid value for modality_rule:"));
}
