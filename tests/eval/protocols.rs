//! `cari eval` on every protocol family from the command line: the synthetic faces exported
//! in WebCaricature's layout (restricted and unrestricted verification, C2P and P2C, View 1
//! and View 2), a model trained on one WebCaricature fold, a folder of faces, and protocol
//! lines that are bad.

use crate::common::{cari, cari_stdout, s, TINY_NETWORK};
use std::fs;
use std::path::{Path, PathBuf};

/// `cari train` of a tiny network into `out`.
fn train(out: &Path, extra: &[&str]) -> String {
    cari_stdout(&[&["train", "--out", s(out)][..], TINY_NETWORK, extra].concat())
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// A WebCaricature-layout copy of 20 synthetic people and a tiny model trained on the C2P
/// protocol's fold 2, in a temporary folder removed on drop.
struct Setup {
    dir: PathBuf,
    web: PathBuf,
    model: PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn setup(name: &str) -> Setup {
    let dir = std::env::temp_dir().join(format!("cari-eval-protocols-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let web = dir.join("WebCaricature");
    let export = ["--identities", "20", "--photos", "3", "--caricatures", "3", "--size", "80"];
    cari_stdout(&[&["synth", "--layout", "webcaricature", "--out", s(&web)][..], &export].concat());
    let out = dir.join("model");
    let data = format!("webcaricature:{}", s(&web));
    let trained = train(&out, &["--dataset", &data, "--protocol", "c2p", "--fold", "2", "--steps", "2"]);
    assert!(trained.contains("webcaricature-c2p-view2-fold2") && trained.contains("20 identities"), "{trained}");
    Setup { model: out.join("checkpoint.safetensors"), dir, web }
}

fn eval(t: &Setup, extra: &[&str], report: &str) -> (String, serde_json::Value) {
    eval_model(t, &t.model, extra, report)
}

/// `cari eval` of `model` on the WebCaricature copy, with its JSON report.
fn eval_model(t: &Setup, model: &Path, extra: &[&str], report: &str) -> (String, serde_json::Value) {
    let path = t.dir.join(report);
    let data = format!("webcaricature:{}", s(&t.web));
    let args = [&["eval", "--model", s(model), "--dataset", &data, "--report", s(&path)][..], extra].concat();
    let text = cari_stdout(&args);
    (text, json(&path))
}

#[test]
fn webcaricature_protocols_report_every_fold() {
    let t = setup("folds");
    // Restricted View 2: the published folds, 3 matched and 3 mismatched pairs of 2 people each.
    let (text, r) = eval(&t, &["--protocol", "restricted"], "restricted.json");
    let v = &r["verification"];
    assert_eq!((v["folds"].as_u64(), v["pairs_listed"].as_u64()), (Some(10), Some(120)), "{text}");
    assert_eq!(v["pairs_scored"], v["pairs_listed"]);
    assert!(v["pairs_per_fold"].as_array().unwrap().iter().all(|n| n == 12), "{v}");
    assert_eq!(v["thresholds"].as_array().unwrap().len(), 10);
    assert_eq!(v["val_at_far"][0]["val"]["per_fold"].as_array().unwrap().len(), 10, "{text}");
    assert!(text.contains("Accuracy: ") && text.contains("VAL: ") && text.contains("@ FAR=0.001"), "{text}");
    assert!(text.contains("| fold | pairs | accuracy | threshold |") && text.contains("\n| 10 | 12 |"), "{text}");
    assert!(r["photo_id_accuracy"].is_null() && r["cmc_c2p"].is_null(), "open-set folds: {r}");

    // Unrestricted: every caricature against every photo of the fold's 2 people.
    let (_, r) = eval(&t, &["--protocol", "unrestricted"], "unrestricted.json");
    assert_eq!(r["verification"]["pairs_listed"].as_u64(), Some(10 * 6 * 6));

    // C2P and P2C: ten gallery/probe splits, Rank-k mean ± std over them.
    for (protocol, key) in [("c2p", "cmc_c2p"), ("p2c", "cmc_p2c")] {
        let (text, r) = eval(&t, &["--protocol", protocol], &format!("{protocol}.json"));
        let folds = r[key]["folds"].as_array().unwrap();
        assert_eq!(folds.len(), 10, "{text}");
        assert!(folds.iter().all(|f| f["probes"] == 6 && f["gallery_identities"] == 2), "{r}");
        assert_eq!(r[key]["ranks"].as_array().unwrap().len(), 10);
        assert!(r["verification"].is_null());
        let name = protocol.to_uppercase();
        assert!(text.contains(&format!("{name} by embedding: Rank-1 ")) && text.contains(" ± "), "{text}");
        assert!(text.contains(&format!("| {name} probes | {name} Rank-1 | {name} Rank-10 |")), "{text}");
    }

    // View 1: one development test list, cut into ten folds.
    let (text, r) = eval(&t, &["--protocol", "restricted", "--view", "view1"], "view1.json");
    assert_eq!(r["protocol"], "webcaricature-restricted-view1", "{text}");
    assert_eq!((r["verification"]["folds"].as_u64(), r["verification"]["pairs_listed"].as_u64()), (Some(10), Some(12)));
}

#[test]
fn bad_protocol_lines_stop_naming_file_and_line_or_are_skipped_and_counted() {
    let t = setup("badline");
    let file = t.web.join("EvaluationProtocols/FaceVerification/Restricted/RestrictedView2.txt");
    let text = fs::read_to_string(&file).unwrap();
    let mut lines: Vec<&str> = text.split("\r\n").collect();
    let (index, line) = lines.iter().enumerate().find(|(_, l)| l.split('\t').count() == 3).unwrap();
    let broken = line.replace("\tC0000", "\tC9999");
    lines[index] = &broken;
    fs::write(&file, lines.join("\r\n")).unwrap();

    let data = format!("webcaricature:{}", s(&t.web));
    let o = cari(&["eval", "--model", s(&t.model), "--dataset", &data]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a bad line must stop by default");
    assert!(err.contains("RestrictedView2.txt") && err.contains(&format!("line {}", index + 1)), "{err}");

    let (text, r) = eval(&t, &["--on-bad-line", "skip"], "skipped.json");
    assert_eq!(r["verification"]["pairs_listed"].as_u64(), Some(119), "{text}");
    let skipped = r["skipped_lines"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{r}");
    assert!(skipped[0].as_str().unwrap().contains(&format!("line {}", index + 1)), "{r}");
    assert!(text.contains("1 protocol line(s) skipped"), "{text}");
}

#[test]
fn a_folder_of_faces_is_evaluated_on_balanced_pairs_and_searched_both_ways() {
    let t = setup("folder");
    let report = t.dir.join("folder.json");
    let folder = format!("folder:{}", s(&t.web.join("OriginalImages")));
    let text = cari_stdout(&["eval", "--model", s(&t.model), "--dataset", &folder, "--report", s(&report)]);
    let r = json(&report);
    // 20 people × 3 caricatures × 3 photos same pairs, as many different ones.
    assert_eq!(r["verification"]["pairs_listed"].as_u64(), Some(2 * 20 * 9), "{text}");
    assert_eq!(r["images"].as_u64(), Some(120));
    assert_eq!(r["cmc_c2p"]["folds"][0]["probes"].as_u64(), Some(60));
    assert!(r["photo_id_accuracy"].as_f64().is_some(), "the model's 20 classes are the folder's 20 people: {r}");

    // A model of other people: embeddings are compared, the classifier branches are not.
    let other = t.dir.join("other");
    let synth = ["--identities", "3", "--synth-photos", "8", "--synth-caricatures", "8", "--steps", "1"];
    train(&other, &synth);
    let model = other.join("checkpoint.safetensors");
    let text = cari_stdout(&["eval", "--model", s(&model), "--dataset", &folder, "--report", s(&report)]);
    let r = json(&report);
    assert!(r["photo_id_accuracy"].is_null() && r["verification"]["accuracy"]["mean"].is_f64(), "{r}");
    assert!(text.contains("note: branch identification not scored: the model has 3 classes"), "{text}");
}

#[test]
fn without_dataset_flags_the_models_own_protocol_is_used_and_typed_flags_change_it() {
    let t = setup("stored");
    let protocol_of = |extra: &[&str]| {
        let report = t.dir.join("stored.json");
        cari_stdout(&[&["eval", "--model", s(&t.model), "--report", s(&report)][..], extra].concat());
        json(&report)["protocol"].as_str().unwrap().to_string()
    };
    assert_eq!(protocol_of(&[]), "webcaricature-c2p-view2");
    assert_eq!(protocol_of(&["--view", "view1"]), "webcaricature-c2p-view1");
    assert_eq!(protocol_of(&["--protocol", "restricted"]), "webcaricature-restricted-view2");
}

#[test]
fn one_model_per_fold_is_scored_on_its_own_fold() {
    let t = setup("per-fold");
    let data = format!("webcaricature:{}", s(&t.web));
    let models: Vec<PathBuf> = (1..=10)
        .map(|k| {
            let out = t.dir.join(format!("fold{k}"));
            let fold = k.to_string();
            train(
                &out,
                &["--dataset", &data, "--protocol", "restricted", "--fold", &fold, "--steps", "1", "--seed", &fold],
            );
            out.join("checkpoint.safetensors")
        })
        .collect();
    let mut args = vec!["eval", "--dataset", &data, "--protocol", "restricted"];
    for m in &models {
        args.extend(["--model", s(m)]);
    }
    let report = t.dir.join("per-fold.json");
    let text = cari_stdout(&[&args[..], &["--report", s(&report)]].concat());
    assert!(text.contains("fold 1: ") && text.contains("fold 10: "), "{text}");
    let r = json(&report);
    assert_eq!(r["verification"]["pairs_scored"].as_u64(), Some(120), "{r}");
    let val =
        |r: &serde_json::Value, k: usize| r["verification"]["val_at_far"][1]["val"]["per_fold"][k].as_f64().unwrap();
    // VAL on a fold depends on that fold's pairs alone: fold k's is model k's, scored alone,
    // and not the first model's on every fold.
    let alone: Vec<serde_json::Value> = models
        .iter()
        .enumerate()
        .map(|(k, m)| eval_model(&t, m, &["--protocol", "restricted"], &format!("alone{k}.json")).1)
        .collect();
    assert!((0..10).all(|k| val(&r, k) == val(&alone[k], k)), "{r}");
    assert!((0..10).any(|k| val(&r, k) != val(&alone[0], k)), "{r}");

    // Not one per fold, or folds cut from one list: refused before any image is read.
    let two = ["eval", "--dataset", &data, "--model", s(&models[0]), "--model", s(&models[1])];
    let e = String::from_utf8_lossy(&cari(&two).stderr).into_owned();
    assert!(e.contains("--model") && e.contains("2 models") && e.contains("10 folds"), "{e}");
    let mut view1 = args.clone();
    view1.extend(["--view", "view1"]);
    let e = String::from_utf8_lossy(&cari(&view1).stderr).into_owned();
    assert!(e.contains("--model") && e.contains("cut from one list"), "{e}");
    let mut calibrate = args.clone();
    calibrate.push("--calibrate");
    let e = String::from_utf8_lossy(&cari(&calibrate).stderr).into_owned();
    assert!(e.contains("--calibrate") && e.contains("one --model"), "{e}");
}

#[test]
fn unknown_protocols_and_folds_name_their_flag() {
    let t = setup("flags");
    let data = format!("webcaricature:{}", s(&t.web));
    for (extra, flag) in [
        (&["--protocol", "clean"][..], "--protocol"),
        (&["--view", "view3"][..], "--view"),
        (&["--on-bad-line", "ignore"][..], "--on-bad-line"),
    ] {
        let o = cari(&[&["eval", "--model", s(&t.model), "--dataset", &data][..], extra].concat());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(flag), "{extra:?}: {err}");
    }
    let o = cari(&["train", "--dataset", &data, "--fold", "11", "--steps", "1", "--out", s(&t.dir.join("x"))]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--fold") && err.contains("1 to 10"), "{err}");
}
