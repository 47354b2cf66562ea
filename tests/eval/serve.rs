//! Using a trained model from the command line: embeddings to safetensors and .npy, a
//! gallery extended without recomputing it, verification and identification output.

use crate::common::{cari, cari_ok, s};
use cari::infer::Embeddings;
use std::path::PathBuf;

struct Setup {
    dir: PathBuf,
    model: PathBuf,
    real: PathBuf,
    caricatures: PathBuf,
}

fn setup(name: &str) -> Setup {
    let dir = std::env::temp_dir().join(format!("cari-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let tiny = ["--identities", "3", "--synth-photos", "8", "--synth-caricatures", "8", "--image-size", "75"];
    let mut args = vec!["train", "--out", s(&dir), "--width-divisor", "16", "--batch", "4", "--steps", "2", "--quiet"];
    args.extend(tiny);
    cari_ok(&args);
    let faces = dir.join("faces");
    cari_ok(&["synth", "--out", s(&faces), "--identities", "3", "--photos", "4", "--caricatures", "4", "--size", "80"]);
    Setup {
        model: dir.join("checkpoint.safetensors"),
        real: faces.join("CaVI_Dataset/Real"),
        caricatures: faces.join("CaVI_Dataset/Caricature"),
        dir,
    }
}

#[test]
fn embed_append_verify_identify() {
    let t = setup("all");
    let gallery = t.dir.join("gallery.safetensors");
    let first_identity = std::fs::read_dir(&t.real).unwrap().map(|e| e.unwrap().path()).min().unwrap();
    cari_ok(&["embed", "--model", s(&t.model), s(&first_identity), "--out", s(&gallery)]);
    let before = Embeddings::load(&gallery).unwrap();
    assert_eq!(before.len(), 4);
    assert!(before.labels.iter().all(|l| first_identity.ends_with(l)), "{:?}", before.labels);
    for i in 0..before.len() {
        let norm: f32 = before.row(i).iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4, "row {i} has norm² {norm}");
    }

    // Adding the whole photo folder keeps the first rows as they were and appends the rest.
    cari_ok(&["embed", "--model", s(&t.model), s(&t.real), "--out", s(&gallery), "--append"]);
    let after = Embeddings::load(&gallery).unwrap();
    assert_eq!(after.len(), 4 + 12);
    assert_eq!(after.values[..before.values.len()], before.values[..]);
    // The same images embedded again give the same rows.
    assert_eq!(after.values[4 * after.dim..8 * after.dim], before.values[..]);

    let npy = t.dir.join("photos.npy");
    cari_ok(&["embed", "--model", s(&t.model), s(&t.real), "--out", s(&npy)]);
    let bytes = std::fs::read(&npy).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains(&format!("'shape': (12, {})", after.dim)) && (10 + header_len) % 64 == 0, "{header}");
    assert_eq!(bytes.len(), 10 + header_len + 12 * after.dim * 4);
    let labels = std::fs::read_to_string(t.dir.join("photos.labels.txt")).unwrap();
    assert_eq!(labels.lines().count(), 12);

    let photo = first_identity.read_dir().unwrap().map(|e| e.unwrap().path()).min().unwrap();
    let o = cari_ok(&["verify", "--model", s(&t.model), s(&photo), s(&photo), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["distance"].as_f64().unwrap() < 1e-6 && v["same"] == true, "{v}");

    assert_eq!(v["metric"], "squared-euclidean", "{v}");

    // CSV quotes a field holding a comma.
    let awkward = t.dir.join("Smith, Jo.jpg");
    std::fs::copy(&photo, &awkward).unwrap();
    let o = cari_ok(&["verify", "--model", s(&t.model), s(&awkward), s(&photo), "--format", "csv"]);
    let csv = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "a,b,metric,distance,threshold,threshold_source,same");
    assert!(lines[1].starts_with(&format!("\"{}\",{},squared-euclidean,", s(&awkward), s(&photo))), "{csv}");
    assert!(lines[1].ends_with(",true"), "{csv}");

    // Uncalibrated, verify says so; after `eval --calibrate` it uses the fitted threshold.
    let o =
        cari_ok(&["verify", "--model", s(&t.model), s(&photo), s(&photo), "--format", "json", "--threshold", "0.5"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((v["threshold"]["value"].as_f64(), v["threshold"]["source"].as_str()), (Some(0.5), Some("--threshold")));
    let o = cari_ok(&["verify", "--model", s(&t.model), s(&photo), s(&photo), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["threshold"]["source"].as_str().unwrap().starts_with("uncalibrated"), "{v}");
    let report = t.dir.join("report.json");
    let plots = t.dir.join("curves");
    let o = cari_ok(&["eval", "--model", s(&t.model), "--report", s(&report), "--calibrate", "--plot", s(&plots)]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("Accuracy: ") && text.contains("calibrated photo-caricature at FAR 0.001"), "{text}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["verification"]["pairs_listed"], r["verification"]["pairs_scored"], "{r}");
    assert_eq!(r["verification"]["thresholds"].as_array().unwrap().len(), 10, "{r}");
    assert_eq!(r["cmc_c2p"]["ranks"].as_array().unwrap().len(), 10, "{r}");
    assert!(r["verification"]["roc"]["auc"].as_f64().is_some(), "{r}");
    for file in ["curves_roc.png", "curves_roc.svg", "curves_cmc.png", "curves_cmc.svg"] {
        assert!(t.dir.join(file).is_file(), "{file} missing");
    }
    let o = cari_ok(&["verify", "--model", s(&t.model), s(&photo), s(&photo), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["threshold"]["source"].as_str().unwrap().starts_with("calibrated at FAR 0.001"), "{v}");

    let o = cari_ok(&["identify", "--model", s(&t.model), "--gallery", s(&gallery), s(&t.caricatures), "--top", "2"]);
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(out.lines().count(), 12);
    for line in out.lines() {
        assert_eq!(line.split(',').count(), 1 + 2 * 2, "{line}");
    }

    // A gallery another model made (another embedding size) is refused, naming the file.
    let foreign = t.dir.join("foreign.safetensors");
    let dim = after.dim + 1;
    Embeddings::new(dim, vec![0.5; dim], vec!["ann".into()], vec!["a.jpg".into()]).unwrap().save(&foreign).unwrap();
    let o = cari(&["identify", "--model", s(&t.model), "--gallery", s(&foreign), s(&t.caricatures)]);
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        !o.status.success() && err.contains(s(&foreign)) && err.contains(&format!("embeddings of {dim} values")),
        "{err}"
    );
    std::fs::remove_dir_all(&t.dir).unwrap();
}

#[test]
fn embeddings_on_a_cuda_device_replay_a_graph_per_full_batch_and_match_the_cpu() {
    // 12 photos in batches of 5: two full batches replay the graph captured on the first,
    // the last 2 images run as usual; every row as the CPU computes it, to rounding.
    let t = setup("graph");
    let on = |device: &str| {
        let out = t.dir.join(format!("{device}.safetensors"));
        cari_ok(&["embed", "--model", s(&t.model), s(&t.real), "--out", s(&out), "--batch", "5", "--device", device]);
        Embeddings::load(&out).unwrap()
    };
    let (cpu, emu) = (on("cpu"), on("cuda-emu"));
    assert_eq!((emu.len(), emu.labels.clone(), emu.paths.clone()), (12, cpu.labels.clone(), cpu.paths.clone()));
    let worst = cpu.values.iter().zip(&emu.values).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "cuda-emu embeddings differ from the CPU's by {worst}");
}
