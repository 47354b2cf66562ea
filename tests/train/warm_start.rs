//! Warm starts: loading a subset of weights by name pattern, copying branch 1 into the
//! identification branches.

use cari::autograd::ParamStore;
use cari::batch::Task;
use cari::io::{save_checkpoint, save_safetensors, Checkpoint, WeightsFile};
use cari::model::{
    copy_branch, init_id_branches_from_verification, load_matching, name_matches, Branch, FcCopy, MultiTaskNet,
    NetworkConfig, OnShapeMismatch,
};
use cari::{Device, Error, Tensor};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

fn config(num_classes: usize) -> NetworkConfig {
    NetworkConfig { image_size: 75, num_classes, width_divisor: 16, ..Default::default() }
}

fn net(num_classes: usize) -> MultiTaskNet {
    MultiTaskNet::new(config(num_classes)).unwrap()
}

fn folder(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cari-warm-start-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn all_tensors(store: &ParamStore) -> Vec<(String, Tensor)> {
    store.iter().map(|(n, t, _)| (n.to_string(), t.clone())).collect()
}

fn snapshot(store: &ParamStore) -> BTreeMap<String, Vec<f32>> {
    store.iter().map(|(n, t, _)| (n.to_string(), t.to_vec().unwrap())).collect()
}

fn message(r: Result<impl Sized, Error>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// A pretrained model's file (seed 1) and a fresh model (seed 2) of the same shape.
fn pretrained(dir: &std::path::Path, net: &MultiTaskNet) -> (WeightsFile, ParamStore) {
    let path = dir.join("pretrained.safetensors");
    let source = net.init_params(1, &Device::cpu()).unwrap();
    save_checkpoint(&path, &all_tensors(&source), &BTreeMap::new()).unwrap();
    (Checkpoint::open(&path).unwrap().into_file(), net.init_params(2, &Device::cpu()).unwrap())
}

#[test]
fn patterns_load_exactly_the_matching_tensors() {
    let dir = folder("patterns");
    let net = net(5);
    let (file, mut store) = pretrained(&dir, &net);
    let before = snapshot(&store);
    let weights = "InceptionResnetV1/Conv2d_1a_3x3/weights";
    assert_ne!(before[weights], file.f32_values(weights).unwrap().as_ref(), "the two seeds must differ");
    let patterns = ["InceptionResnetV1/*", "Logits_verif/*"];
    let report = load_matching(&mut store, &file, &patterns, OnShapeMismatch::Fail).unwrap();

    let selected = |n: &str| n.starts_with("InceptionResnetV1/") || n.starts_with("Logits_verif/");
    let expected: Vec<&str> = before.keys().map(String::as_str).filter(|n| selected(n)).collect();
    assert_eq!(report.loaded, expected);
    assert!(report.loaded.iter().any(|n| n.starts_with("InceptionResnetV1/Block8/")), "branch 1's blocks load too");
    assert!(report.missing.is_empty() && report.skipped.is_empty() && report.unused.is_empty(), "{report}");
    assert_eq!(report.unselected.len() + report.loaded.len(), before.len());
    for (name, old) in &before {
        let now = store.get(name).unwrap().to_vec().unwrap();
        if selected(name) {
            assert_eq!(now, file.f32_values(name).unwrap().as_ref(), "`{name}` must come from the file");
        } else {
            assert_eq!(&now, old, "`{name}` must be untouched");
            assert!(report.unselected.contains(name), "`{name}`");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_and_unused_tensors_are_reported() {
    let dir = folder("report");
    let net = net(5);
    let source = net.init_params(1, &Device::cpu()).unwrap();
    let mut partial: Vec<(String, Tensor)> =
        all_tensors(&source).into_iter().filter(|(n, _)| n.starts_with("Logits_")).collect();
    let dropped = partial.iter().position(|(n, _)| n == "Logits_photo/biases").unwrap();
    partial.remove(dropped);
    partial.push(("Logits_extra/weights".to_string(), Tensor::zeros([2, 2], &Device::cpu()).unwrap()));
    let path = dir.join("partial.safetensors");
    save_safetensors(&path, &partial, HashMap::new()).unwrap();
    let file = WeightsFile::open(&path).unwrap();

    let mut store = net.init_params(2, &Device::cpu()).unwrap();
    let report = load_matching(&mut store, &file, &["Logits_*"], OnShapeMismatch::Fail).unwrap();
    assert_eq!(report.missing, ["Logits_photo/biases"]);
    assert_eq!(report.unused, ["Logits_extra/weights"]);
    // `Logits_*` also selects the weight module's `Logits_lossweights`.
    let loaded: Vec<&str> = partial.iter().map(|(n, _)| n.as_str()).filter(|n| *n != "Logits_extra/weights").collect();
    assert_eq!(report.loaded, loaded);
    assert!(loaded.contains(&"Logits_lossweights/weights") && loaded.contains(&"Logits_verif/biases"));
    let text = report.to_string();
    assert!(text.contains("Logits_photo/biases") && text.contains("Logits_extra/weights"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_shape_mismatch_fails_or_is_skipped_as_asked() {
    let dir = folder("mismatch");
    // Pretrained on 7 identities, fine-tuned on 5: the FCs differ, the rest matches.
    let (file, _) = pretrained(&dir, &net(7));
    let net = net(5);
    let mut store = net.init_params(2, &Device::cpu()).unwrap();
    let before = snapshot(&store);

    let msg =
        message(load_matching(&mut store, &file, &["InceptionResnetV1/*", "Logits_verif/*"], OnShapeMismatch::Fail));
    assert!(msg.contains("pretrained.safetensors") && msg.contains("`Logits_verif/"), "{msg}");
    assert!(msg.contains("`Logits_verif/biases` has shape [7] in the file but [5] in the model"), "{msg}");
    assert_eq!(snapshot(&store), before, "a failed load must change nothing");

    let report =
        load_matching(&mut store, &file, &["InceptionResnetV1/*", "Logits_verif/*"], OnShapeMismatch::Skip).unwrap();
    let skipped: Vec<&str> = report.skipped.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(skipped, ["Logits_verif/biases", "Logits_verif/weights"]);
    assert_eq!(report.skipped[0].file.dims(), &[7]);
    assert_eq!(report.skipped[0].model.dims(), &[5]);
    assert!(report.loaded.iter().all(|n| n.starts_with("InceptionResnetV1/")));
    assert_eq!(store.get("Logits_verif/weights").unwrap().to_vec().unwrap(), before["Logits_verif/weights"]);
    assert!(report.to_string().contains("skipped `Logits_verif/weights`"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_pattern_matching_nothing_is_an_error_naming_it() {
    let dir = folder("typo");
    let net = net(5);
    let (file, mut store) = pretrained(&dir, &net);
    let msg = message(load_matching(&mut store, &file, &["InceptionResnetV1/*", "Trunk/*"], OnShapeMismatch::Fail));
    assert!(msg.contains("`Trunk/*`") && msg.contains("pretrained.safetensors"), "{msg}");
    let empty: [&str; 0] = [];
    assert!(message(load_matching(&mut store, &file, &empty, OnShapeMismatch::Fail)).contains("patterns"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The tensors of a branch, keyed by their name after the branch's scope.
fn branch_values(store: &ParamStore, task: Task) -> BTreeMap<String, Vec<f32>> {
    let (prefix, logits) = Branch::scopes(task);
    let mut specs = Vec::new();
    net(5).branches[task.index()].declare(&mut specs);
    specs
        .iter()
        .map(|s| {
            let rest = s.name.strip_prefix(prefix).or_else(|| s.name.strip_prefix(logits)).unwrap();
            (rest.to_string(), store.get(&s.name).unwrap().to_vec().unwrap())
        })
        .collect()
}

#[test]
fn branches_two_and_three_start_from_branch_one() {
    let net = net(5);
    let mut store = net.init_params(3, &Device::cpu()).unwrap();
    let before = snapshot(&store);
    let verification = branch_values(&store, Task::Verification);
    assert_ne!(branch_values(&store, Task::PhotoId), verification, "seeded init differs per branch");

    let copies = init_id_branches_from_verification(&net, &mut store).unwrap();
    assert_eq!(branch_values(&store, Task::PhotoId), verification);
    assert_eq!(branch_values(&store, Task::CaricatureId), verification);

    let mut specs = Vec::new();
    net.branches[Task::PhotoId.index()].declare(&mut specs);
    for copy in &copies {
        assert_eq!(copy.from, Task::Verification);
        let FcCopy::Copied(fc) = &copy.fc else { panic!("FC not copied: {copy}") };
        assert_eq!(fc.len(), 2);
        assert_eq!(copy.blocks.len() + fc.len(), specs.len());
        assert!(copy
            .blocks
            .iter()
            .any(|(from, to)| from.contains("BatchNorm/moving_mean") && to.contains("BatchNorm")));
    }
    for (name, old) in &before {
        let in_copy = name.starts_with("InceptionResnetV1_photo/")
            || name.starts_with("InceptionResnetV1_caricature/")
            || name.starts_with("Logits_photo/")
            || name.starts_with("Logits_caricature/");
        if !in_copy {
            assert_eq!(&store.get(name).unwrap().to_vec().unwrap(), old, "`{name}` must be untouched");
        }
    }
}

#[test]
fn an_fc_of_another_shape_is_kept_and_reported() {
    let net = net(5);
    let fresh = net.init_params(3, &Device::cpu()).unwrap();
    // A store whose photo FC has 9 outputs.
    let mut store = ParamStore::new();
    for (name, t, group) in fresh.iter() {
        let value = match name {
            "Logits_photo/weights" => Tensor::zeros([t.dims()[0], 9], &Device::cpu()).unwrap(),
            "Logits_photo/biases" => Tensor::zeros([9], &Device::cpu()).unwrap(),
            _ => t.clone(),
        };
        store.insert(name, value, group).unwrap();
    }
    let copy = copy_branch(&net, &mut store, Task::Verification, Task::PhotoId).unwrap();
    let FcCopy::ShapeMismatch { to, to_shape, from_shape, .. } = &copy.fc else { panic!("FC copied: {copy}") };
    assert!(to.starts_with("Logits_photo/"));
    assert_eq!(to_shape.last(), 9);
    assert_eq!(from_shape.last(), 5);
    assert!(copy.to_string().contains("FC kept"), "{copy}");
    assert!(store.get("Logits_photo/weights").unwrap().to_vec().unwrap().iter().all(|&v| v == 0.0));
    let blocks = branch_values(&store, Task::PhotoId);
    let source = branch_values(&store, Task::Verification);
    let fc = ["/weights", "/biases"];
    assert!(blocks.iter().filter(|(k, _)| !fc.contains(&k.as_str())).all(|(k, v)| source[k] == *v));
}

#[test]
fn branch_copy_errors_name_the_tensor() {
    let net = net(5);
    let mut store = net.init_params(3, &Device::cpu()).unwrap();
    let msg = message(copy_branch(&net, &mut store, Task::PhotoId, Task::PhotoId));
    assert!(msg.contains("photo-id"), "{msg}");

    // A store of a narrower model lacks nothing but differs in shape.
    let wide = MultiTaskNet::new(NetworkConfig { width_divisor: 8, ..config(5) }).unwrap();
    let mut mixed = ParamStore::new();
    let wide_params = wide.init_params(4, &Device::cpu()).unwrap();
    for (name, t, group) in store.iter() {
        let value = if name.starts_with("InceptionResnetV1_caricature/") {
            wide_params.get(name).unwrap().clone()
        } else {
            t.clone()
        };
        mixed.insert(name, value, group).unwrap();
    }
    let msg = message(copy_branch(&net, &mut mixed, Task::Verification, Task::CaricatureId));
    assert!(msg.contains("InceptionResnetV1_caricature/") && msg.contains("InceptionResnetV1/"), "{msg}");

    let mut empty = ParamStore::new();
    let msg = message(copy_branch(&net, &mut empty, Task::Verification, Task::PhotoId));
    assert!(msg.contains("InceptionResnetV1/"), "{msg}");
}

#[test]
fn name_patterns_are_plain_wildcards() {
    assert!(name_matches("InceptionResnetV1/*", "InceptionResnetV1/Repeat_2/block8_1/Conv2d_1x1/weights"));
    assert!(!name_matches("InceptionResnetV1/*", "InceptionResnetV1_photo/Block8/Conv2d_1x1/weights"));
    assert!(name_matches("*/moving_*", "InceptionResnetV1/Conv2d_1a_3x3/BatchNorm/moving_mean"));
}
