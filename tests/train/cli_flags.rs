//! How the command line reads its flags: the common spellings are accepted, an unknown
//! value is refused naming the flag and listing the accepted values, and an error the
//! library raises about a setting names the flag that sets it.

use crate::common::{cari, TINY_NETWORK};
use std::path::PathBuf;
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cari-cli-flags-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn common_spellings_are_aliases() {
    let dir = scratch("aliases");
    let tiny_data = ["--identities", "3", "--synth-photos", "4", "--synth-caricatures", "4", "--num-workers", "1"];
    // TINY_NETWORK spells the batch `--batch 4`; here it is `--batch-size 3`.
    let network: Vec<&str> = TINY_NETWORK.iter().copied().filter(|a| !["--batch", "4"].contains(a)).collect();
    let aliases =
        ["--output", dir.to_str().unwrap(), "--batch-size", "3", "--learning-rate", "0.02", "--iterations", "1"];
    let o = cari(&[&["train"][..], &tiny_data, &network, &aliases].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("training to step 1 ") && stdout.contains("batch 3"), "{stdout}");
    let log = std::fs::read_to_string(dir.join("train.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert!((record["lr"].as_f64().unwrap() - 0.02).abs() < 1e-6, "{record}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_values_name_the_flag_and_list_the_accepted_ones() {
    let out = scratch("unknown");
    let out = out.to_str().unwrap();
    for (flag, value, accepted) in [
        ("--on-bad-image", "ignore", &["stop", "skip"][..]),
        ("--view", "view3", &["view1", "view2"]),
        ("--on-bad-line", "drop", &["stop", "skip"]),
        ("--modality-rule", "tags", &["all-photos", "file-name", "subfolders"]),
        ("--optimizer", "lion", &["rmsprop", "sgd", "adam"]),
        ("--strategy", "sideways", &["dynamic", "naive", "fixed", "single", "uncertainty"]),
    ] {
        let o = cari(&["train", "--out", out, flag, value]);
        assert!(!o.status.success(), "{flag} {value} was accepted");
        let err = stderr(&o);
        assert!(err.contains(flag) && err.contains(value), "{flag}: {err}");
        for name in accepted {
            assert!(err.contains(name), "{flag}: `{name}` is not listed: {err}");
        }
    }
    let o = cari(&["verify", "--model", "m.safetensors", "a.png", "b.png", "--format", "xml"]);
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("--format") && err.contains("text, csv, json"), "{err}");
    let o = cari(&["synth", "--out", out, "--layout", "lfw"]);
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("--layout") && err.contains("cavi, webcaricature"), "{err}");
}

#[test]
fn a_bad_device_names_the_flag() {
    for command in [&["train", "--out", "unused"][..], &["eval", "--model", "m.safetensors"]] {
        let o = cari(&[command, &["--device", "tpu"]].concat());
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(err.contains("--device") && err.contains("tpu") && err.contains("cuda:N"), "{err}");
    }
}

#[test]
fn settings_the_library_refuses_are_named_by_their_flags() {
    let out = scratch("library");
    let out = out.to_str().unwrap();
    let o = cari(&["train", "--out", out, "--dataset", "imagenet"]);
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("--dataset") && err.contains("imagenet"), "{err}");
    let o = cari(&["train", "--out", out, "--protocol", "clean"]);
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("--protocol") && err.contains("no protocols"), "{err}");
    let o = cari(&["train", "--out", out, "--synth-photos", "1"]);
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("--synth-photos") && err.contains("at least 2"), "{err}");
    let o = cari(&["synth", "--out", out, "--photos", "1"]);
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("--photos") && err.contains("at least 2"), "{err}");
    let o = cari(&["train", "--out", out, "--max-grad-norm=-1"]);
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("--max-grad-norm") && err.contains("non-negative"), "{err}");
    let _ = std::fs::remove_dir_all(out);
}
