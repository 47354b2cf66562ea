//! Weights and checkpoint files: zero-copy loading, exact round trips, integrity checks,
//! restoring into a parameter store, atomic writes.

use crate::common::{cpu, random};
use cari::autograd::{ParamGroup, ParamStore, Tape};
use cari::io::{
    checksum, open_weights, save_checkpoint, save_safetensors, write_atomically, Checkpoint, WeightsFile,
    CHECKSUMS_KEY, FORMAT, FORMAT_KEY,
};
use cari::optim::{Optimizer, OptimizerConfig, Rule};
use cari::tensor::{CpuStorage, Storage};
use cari::{ops, Device, Error, Tensor};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A fresh, empty folder for one test.
fn folder(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cari-checkpoint-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

/// Tensors of awkward sizes (odd element counts, a scalar) in an order unlike the file's.
fn tensors() -> Vec<(String, Tensor)> {
    vec![
        ("b/odd".to_string(), random([3], 1)),
        ("a/matrix".to_string(), random([5, 7], 2)),
        ("optimizer/network/velocity/a/matrix".to_string(), random([5, 7], 3)),
        ("c/scalar".to_string(), Tensor::scalar(2.5, &cpu()).unwrap()),
    ]
}

fn metadata() -> BTreeMap<String, String> {
    BTreeMap::from([("step".to_string(), "1234".to_string()), ("config".to_string(), r#"{"lr":0.1}"#.to_string())])
}

/// The byte range of a tensor's data within the file, read with the safetensors crate.
fn data_range(bytes: &[u8], name: &str) -> std::ops::Range<usize> {
    let (header_len, meta) = SafeTensors::read_metadata(bytes).unwrap();
    let (begin, end) = meta.info(name).unwrap().data_offsets;
    8 + header_len + begin..8 + header_len + end
}

fn message(r: Result<impl Sized, Error>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_loaded_f32_tensor_is_a_view_of_the_file_map() {
    let dir = folder("view");
    let path = dir.join("w.safetensors");
    save_safetensors(&path, &tensors(), HashMap::new()).unwrap();
    let file = WeightsFile::open(&path).unwrap();
    for name in file.names() {
        let t = file.tensor(name, &cpu()).unwrap();
        let Storage::Cpu(CpuStorage::Mapped(view)) = t.storage() else {
            panic!("`{name}` was copied: {:?}", t.storage())
        };
        assert_eq!(view.as_slice().as_ptr() as *const u8, file.data(name).unwrap().as_ptr(), "`{name}`");
    }
    // Computing with mapped tensors gives the values written.
    let m = file.tensor("a/matrix", &cpu()).unwrap();
    let sum =
        ops::add(&cari::autograd::Var::constant(m.clone()), &cari::autograd::Var::constant(random([5, 7], 9))).unwrap();
    let expected: Vec<f32> = random([5, 7], 2)
        .to_vec()
        .unwrap()
        .iter()
        .zip(random([5, 7], 9).to_vec().unwrap())
        .map(|(a, b)| a + b)
        .collect();
    assert_eq!(sum.value().to_vec().unwrap(), expected);
    assert_eq!(m.to_dtype(cari::DType::BF16).unwrap().to_dtype(cari::DType::F32).unwrap().dims(), &[5, 7]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_optimizer_step_on_a_mapped_parameter_leaves_the_file_unchanged() {
    let dir = folder("write");
    let path = dir.join("w.safetensors");
    save_safetensors(&path, &tensors(), HashMap::new()).unwrap();
    let before = std::fs::read(&path).unwrap();
    let file = WeightsFile::open(&path).unwrap();
    let original = file.tensor("a/matrix", &cpu()).unwrap();
    let mut store = ParamStore::new();
    store.insert("a/matrix", original.clone(), ParamGroup::Network).unwrap();

    // loss = Σ w², so one plain SGD step at lr 0.1 gives w ← 0.8·w.
    let tape = Tape::new();
    let w = store.var(Some(&tape), "a/matrix").unwrap();
    let grads = ops::sum(&ops::mul(&w, &w).unwrap()).unwrap().backward_for(|_| true).unwrap();
    drop((w, tape));
    let sgd = OptimizerConfig { rule: Rule::Sgd { momentum: 0.0 }, max_grad_norm: None, weight_decay: 0.0 };
    Optimizer::new(sgd).step(&mut store, &grads, 0.1).unwrap();

    let stepped = store.get("a/matrix").unwrap();
    assert!(!stepped.storage().is_mapped(), "the step must have copied the view");
    let want: Vec<f32> = random([5, 7], 2).to_vec().unwrap().iter().map(|v| v - 0.1 * 2.0 * v).collect();
    assert_eq!(stepped.to_vec().unwrap(), want);
    assert!(original.storage().is_mapped());
    assert_eq!(original.to_vec().unwrap(), random([5, 7], 2).to_vec().unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_unique_mapped_tensor_is_copied_before_its_first_write() {
    let dir = folder("unique");
    let path = dir.join("w.safetensors");
    save_safetensors(&path, &tensors(), HashMap::new()).unwrap();
    let mut t = WeightsFile::open(&path).unwrap().tensor("b/odd", &cpu()).unwrap();
    assert!(t.storage().is_mapped());
    let storage = t.storage_mut().unwrap();
    let Storage::Cpu(CpuStorage::F32(v)) = storage else { panic!("not owned after storage_mut: {storage:?}") };
    v[0] = 42.0;
    assert_eq!(t.to_vec().unwrap()[0], 42.0);
    assert_eq!(WeightsFile::open(&path).unwrap().f32_values("b/odd").unwrap()[0], random([3], 1).to_vec().unwrap()[0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn half_precision_and_other_devices_get_copies() {
    let dir = folder("copies");
    let path = dir.join("half.safetensors");
    let values = [1.5f32, -2.25, 0.125];
    let halves: Vec<half::bf16> = values.iter().map(|&v| half::bf16::from_f32(v)).collect();
    let view = TensorView::new(Dtype::BF16, vec![3], bytemuck::cast_slice(&halves)).unwrap();
    std::fs::write(&path, safetensors::serialize([("h", view)], None).unwrap()).unwrap();
    let t = WeightsFile::open(&path).unwrap().tensor("h", &cpu()).unwrap();
    assert!(matches!(t.storage(), Storage::Cpu(CpuStorage::F32(_))));
    assert_eq!(t.to_vec().unwrap(), values);

    if let Ok(emu) = Device::parse("cuda-emu") {
        let f32_path = dir.join("f32.safetensors");
        save_safetensors(&f32_path, &tensors(), HashMap::new()).unwrap();
        let on_emu = WeightsFile::open(&f32_path).unwrap().tensor("a/matrix", &emu).unwrap();
        assert!(matches!(on_emu.storage(), Storage::Cuda(_)));
        assert_eq!(on_emu.to_vec().unwrap(), random([5, 7], 2).to_vec().unwrap());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_checkpoint_round_trips_exact_bits_and_metadata() {
    let dir = folder("round-trip");
    let path = dir.join("ckpt.safetensors");
    let specials =
        [f32::from_bits(0x7fc0_1234), -0.0, f32::MIN_POSITIVE / 3.0, f32::INFINITY, f32::NEG_INFINITY, 1e-45];
    let mut all = tensors();
    all.push(("specials".to_string(), Tensor::from_slice(&specials, [6], &cpu()).unwrap()));
    save_checkpoint(&path, &all, &metadata()).unwrap();

    let ckpt = Checkpoint::open(&path).unwrap();
    assert_eq!(ckpt.metadata(), &metadata());
    assert_eq!(ckpt.require("step").unwrap(), "1234");
    assert!(message(ckpt.require("epoch")).contains("`epoch`"));
    let mut names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    assert_eq!(ckpt.names(), names);
    for (name, t) in &all {
        let back = ckpt.tensor(name, &cpu()).unwrap();
        assert_eq!(back.dims(), t.dims(), "`{name}`");
        let bits = |v: Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        assert_eq!(bits(back.to_vec().unwrap()), bits(t.to_vec().unwrap()), "`{name}`");
    }
    // Writing the same contents again gives the same bytes.
    let again = dir.join("again.safetensors");
    save_checkpoint(&again, &all, &metadata()).unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&path).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_safetensors_crate_reads_our_checkpoint() {
    let dir = folder("crate");
    let path = dir.join("ckpt.safetensors");
    save_checkpoint(&path, &tensors(), &metadata()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!((8 + header_len) % 8, 0, "data must start 8-byte aligned");
    let st = SafeTensors::deserialize(&bytes).unwrap();
    for (name, t) in tensors() {
        let view = st.tensor(&name).unwrap();
        assert_eq!(view.dtype(), Dtype::F32);
        assert_eq!(view.shape(), t.dims());
        assert_eq!(view.data(), bytemuck::cast_slice::<f32, u8>(&t.to_vec().unwrap()));
    }
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta[FORMAT_KEY], FORMAT);
    assert_eq!(meta["step"], "1234");
    let sums: BTreeMap<String, String> = serde_json::from_str(&meta[CHECKSUMS_KEY]).unwrap();
    let b = st.tensor("b/odd").unwrap();
    assert_eq!(sums["b/odd"], format!("{:016x}", checksum(b.data())));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_flipped_byte_is_refused_naming_the_tensor() {
    let dir = folder("flip");
    let path = dir.join("ckpt.safetensors");
    save_checkpoint(&path, &tensors(), &metadata()).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let range = data_range(&bytes, "optimizer/network/velocity/a/matrix");
    bytes[range.start + 17] ^= 0x04;
    let bad = dir.join("flipped.safetensors");
    std::fs::write(&bad, &bytes).unwrap();
    let msg = message(Checkpoint::open(&bad));
    assert!(msg.contains("flipped.safetensors") && msg.contains("`optimizer/network/velocity/a/matrix`"), "{msg}");
    assert!(msg.contains("corrupt"), "{msg}");
    // Weight loading by name verifies a checkpoint too.
    assert!(message(open_weights(&bad)).contains("corrupt"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncated_and_foreign_files_are_refused_naming_the_file() {
    let dir = folder("truncated");
    let path = dir.join("ckpt.safetensors");
    save_checkpoint(&path, &tensors(), &metadata()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for (label, cut) in [("data", bytes.len() - 3), ("header", 40), ("length", 5)] {
        let short = dir.join(format!("short-{label}.safetensors"));
        std::fs::write(&short, &bytes[..cut]).unwrap();
        let msg = message(Checkpoint::open(&short));
        assert!(msg.contains(&format!("short-{label}.safetensors")), "{label}: {msg}");
    }
    let msg = message(Checkpoint::open(dir.join("short-data.safetensors")));
    assert!(msg.contains("truncated"), "{msg}");

    let text = dir.join("notes.txt");
    std::fs::write(&text, "definitely not a safetensors file, just some words").unwrap();
    let msg = message(Checkpoint::open(&text));
    assert!(msg.contains("notes.txt") && msg.contains("not a valid safetensors file"), "{msg}");

    let plain = dir.join("plain.safetensors");
    save_safetensors(&plain, &tensors(), HashMap::new()).unwrap();
    let msg = message(Checkpoint::open(&plain));
    assert!(msg.contains("plain.safetensors") && msg.contains("not a cari checkpoint"), "{msg}");
    assert!(open_weights(&plain).is_ok(), "plain weights load by name without checksums");

    let missing = dir.join("missing.safetensors");
    assert!(message(Checkpoint::open(&missing)).contains("missing.safetensors"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_checkpoint_holding_another_dtype_is_refused_naming_the_tensor() {
    let dir = folder("dtype");
    let path = dir.join("half.safetensors");
    let halves = [half::bf16::from_f32(1.0); 4];
    let bytes: &[u8] = bytemuck::cast_slice(&halves);
    let sums = format!(r#"{{"h":"{:016x}"}}"#, checksum(bytes));
    let meta = HashMap::from([(FORMAT_KEY.to_string(), FORMAT.to_string()), (CHECKSUMS_KEY.to_string(), sums)]);
    let view = TensorView::new(Dtype::BF16, vec![4], bytes).unwrap();
    std::fs::write(&path, safetensors::serialize([("h", view)], Some(meta)).unwrap()).unwrap();
    let msg = message(Checkpoint::open(&path));
    assert!(msg.contains("half.safetensors") && msg.contains("`h`") && msg.contains("f32 only"), "{msg}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn model_store(seed: u64) -> ParamStore {
    let mut store = ParamStore::new();
    store.insert("a/matrix", random([5, 7], seed), ParamGroup::Network).unwrap();
    store.insert("b/odd", random([3], seed + 1), ParamGroup::WeightModule).unwrap();
    store.insert("c/scalar", Tensor::scalar(0.0, &cpu()).unwrap(), ParamGroup::Buffers).unwrap();
    store
}

fn values(store: &ParamStore) -> Vec<Vec<f32>> {
    store.iter().map(|(_, t, _)| t.to_vec().unwrap()).collect()
}

#[test]
fn restore_fills_the_selected_tensors() {
    let dir = folder("restore");
    let path = dir.join("ckpt.safetensors");
    save_checkpoint(&path, &tensors(), &metadata()).unwrap();
    let ckpt = Checkpoint::open(&path).unwrap();
    let mut store = model_store(10);
    let model = |n: &str| !n.starts_with("optimizer/");
    let restored = ckpt.restore(&mut store, model, true).unwrap();
    assert_eq!(restored, ["a/matrix", "b/odd", "c/scalar"]);
    for (name, t) in tensors().iter().filter(|(n, _)| model(n)) {
        assert_eq!(store.get(name).unwrap().to_vec().unwrap(), t.to_vec().unwrap(), "`{name}`");
    }
    assert_eq!(store.group("b/odd").unwrap(), ParamGroup::WeightModule);

    // Only what `select` accepts is touched.
    let mut store = model_store(10);
    ckpt.restore(&mut store, |n| n == "b/odd", true).unwrap();
    assert_eq!(store.get("a/matrix").unwrap().to_vec().unwrap(), random([5, 7], 10).to_vec().unwrap());
    assert_eq!(store.get("b/odd").unwrap().to_vec().unwrap(), random([3], 1).to_vec().unwrap());

    // Optimizer state of a known shape.
    let velocity = ckpt.tensor_shaped("optimizer/network/velocity/a/matrix", &[5, 7].into(), &cpu()).unwrap();
    assert_eq!(velocity.to_vec().unwrap(), random([5, 7], 3).to_vec().unwrap());
    let msg = message(ckpt.tensor_shaped("optimizer/network/velocity/a/matrix", &[7, 5].into(), &cpu()));
    assert!(msg.contains("[5, 7]") && msg.contains("[7, 5]"), "{msg}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn restore_errors_name_the_tensor_and_change_nothing() {
    let dir = folder("restore-errors");
    let path = dir.join("ckpt.safetensors");
    save_checkpoint(&path, &tensors(), &metadata()).unwrap();
    let ckpt = Checkpoint::open(&path).unwrap();
    let model = |n: &str| !n.starts_with("optimizer/");

    let mut store = model_store(10);
    store.insert("z/bigger", random([4, 4], 5), ParamGroup::Network).unwrap();
    let before = values(&store);
    let msg = message(ckpt.restore(&mut store, model, false));
    assert!(msg.contains("ckpt.safetensors") && msg.contains("`z/bigger`"), "{msg}");
    assert_eq!(values(&store), before, "a failed restore must change nothing");

    let mut store = ParamStore::new();
    store.insert("a/matrix", random([7, 5], 4), ParamGroup::Network).unwrap();
    store.insert("b/odd", random([3], 4), ParamGroup::Network).unwrap();
    let before = values(&store);
    let msg = message(ckpt.restore(&mut store, model, false));
    assert!(msg.contains("`a/matrix`") && msg.contains("[5, 7]") && msg.contains("[7, 5]"), "{msg}");
    assert_eq!(values(&store), before);

    // Strict: a model tensor in the file that the store lacks is refused; lenient: ignored.
    let mut partial = ParamStore::new();
    partial.insert("b/odd", random([3], 4), ParamGroup::Network).unwrap();
    let msg = message(ckpt.restore(&mut partial, model, true));
    assert!(msg.contains("`a/matrix`") && msg.contains("not a tensor of the model"), "{msg}");
    assert_eq!(ckpt.restore(&mut partial, model, false).unwrap(), ["b/odd"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reserved_metadata_keys_are_refused() {
    let dir = folder("reserved");
    let meta = BTreeMap::from([(FORMAT_KEY.to_string(), "mine".to_string())]);
    let msg = message(save_checkpoint(dir.join("x.safetensors"), &tensors(), &meta));
    assert!(msg.contains(FORMAT_KEY), "{msg}");
    assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_write_leaves_neither_a_temporary_file_nor_a_changed_target() {
    let dir = folder("atomic");
    let path = dir.join("ckpt.safetensors");
    save_checkpoint(&path, &tensors(), &metadata()).unwrap();
    let before = std::fs::read(&path).unwrap();

    // An error halfway through writing.
    let msg = message(write_atomically(&path, |w| {
        std::io::Write::write_all(w, b"half a checkpoint").unwrap();
        Err(Error::invalid("test writer", "stops halfway"))
    }));
    assert!(msg.contains("stops halfway"), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(entries(&dir), ["ckpt.safetensors"]);

    // The rename fails: the target is a folder.
    std::fs::create_dir(dir.join("taken.safetensors")).unwrap();
    let msg = message(save_checkpoint(dir.join("taken.safetensors"), &tensors(), &metadata()));
    assert!(msg.contains("taken.safetensors"), "{msg}");
    assert_eq!(entries(&dir), ["ckpt.safetensors", "taken.safetensors"]);

    // The folder does not exist.
    let msg = message(save_checkpoint(dir.join("no-such-folder/ckpt.safetensors"), &tensors(), &metadata()));
    assert!(msg.contains("no-such-folder"), "{msg}");
    assert_eq!(entries(&dir), ["ckpt.safetensors", "taken.safetensors"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn overwriting_a_checkpoint_keeps_mapped_tensors_of_the_old_one_intact() {
    let dir = folder("overwrite");
    let path = dir.join("ckpt.safetensors");
    save_checkpoint(&path, &tensors(), &metadata()).unwrap();
    let old = Checkpoint::open(&path).unwrap().tensor("a/matrix", &cpu()).unwrap();
    let newer = vec![("a/matrix".to_string(), random([5, 7], 77))];
    save_checkpoint(&path, &newer, &metadata()).unwrap();
    assert_eq!(old.to_vec().unwrap(), random([5, 7], 2).to_vec().unwrap());
    let reopened = Checkpoint::open(&path).unwrap();
    assert_eq!(reopened.tensor("a/matrix", &cpu()).unwrap().to_vec().unwrap(), random([5, 7], 77).to_vec().unwrap());
    assert_eq!(entries(&dir), ["ckpt.safetensors"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_name_given_twice_is_refused() {
    let dir = folder("twice");
    let mut twice = tensors();
    twice.push(("b/odd".to_string(), random([3], 5)));
    let msg = message(save_checkpoint(dir.join("x.safetensors"), &twice, &metadata()));
    assert!(msg.contains("`b/odd` given twice"), "{msg}");
    assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}
