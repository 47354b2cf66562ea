//! Warm starts (DESIGN.md §2, pretraining / fine-tuning): the paper pretrains the trunk
//! and branch 1 on a large photo dataset, then starts branches 2 and 3 from branch 1.
//! Two steps, each reporting what it did: [`load_matching`] loads any subset of a weights
//! file by name pattern into a [`ParamStore`]; [`copy_branch`] copies one branch's
//! weights into another.
//!
//! Names follow the reference's TF scopes. Branch 1's blocks share the trunk's prefix
//! (`InceptionResnetV1/Repeat_2/block8_1/…`, `InceptionResnetV1/Block8/…`), so
//! `InceptionResnetV1/*` selects trunk + branch 1 without its FC (`Logits_verif/*`).

use super::{Branch, MultiTaskNet};
use crate::autograd::ParamStore;
use crate::batch::Task;
use crate::error::{Error, Result};
use crate::io::WeightsFile;
use crate::tensor::Shape;
use std::collections::BTreeMap;
use std::fmt;

/// Whether `name` matches `pattern`, where `*` stands for any run of characters
/// (slashes included) and every other character for itself.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // The last `*` seen and the name position it has consumed up to, to backtrack to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// What to do with a selected tensor whose shape in the file differs from the model's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnShapeMismatch {
    /// Refuse the whole load, naming the tensor and both shapes.
    Fail,
    /// Keep the model's value and report the tensor in [`LoadReport::skipped`].
    Skip,
}

/// The tensor that kept its value because its shape differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedTensor {
    pub name: String,
    pub file: Shape,
    pub model: Shape,
}

/// What [`load_matching`] did; every list is sorted.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Model tensors now holding the file's values.
    pub loaded: Vec<String>,
    /// Selected model tensors the file lacks (kept as they were).
    pub missing: Vec<String>,
    /// Selected tensors whose shapes differ (kept as they were).
    pub skipped: Vec<SkippedTensor>,
    /// Selected file tensors the model lacks (not loaded).
    pub unused: Vec<String>,
    /// Model tensors no pattern selects (kept as they were).
    pub unselected: Vec<String>,
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "loaded {} tensors; {} left unselected", self.loaded.len(), self.unselected.len())?;
        for s in &self.skipped {
            write!(f, "\n  skipped `{}`: shape {} in the file, {} in the model", s.name, s.file, s.model)?;
        }
        for n in &self.missing {
            write!(f, "\n  missing from the file: `{n}`")?;
        }
        for n in &self.unused {
            write!(f, "\n  not in the model: `{n}`")?;
        }
        Ok(())
    }
}

/// Loads every tensor of `store` whose name matches one of `patterns` from the tensor of
/// that name in `file`, onto the device the store's tensor lives on (a view of the file
/// map on the CPU). A pattern that matches no tensor of the file is an error (a typo would
/// otherwise load nothing), as is a shape mismatch unless `on_mismatch` skips them. Nothing
/// changes unless the whole load succeeds.
pub fn load_matching<P: AsRef<str>>(
    store: &mut ParamStore,
    file: &WeightsFile,
    patterns: &[P],
    on_mismatch: OnShapeMismatch,
) -> Result<LoadReport> {
    let patterns: Vec<&str> = patterns.iter().map(AsRef::as_ref).collect();
    if patterns.is_empty() {
        return Err(Error::invalid("weight patterns", "none given"));
    }
    let file_names = file.names();
    if let Some(p) = patterns.iter().find(|p| !file_names.iter().any(|n| name_matches(p, n))) {
        return Err(Error::format(file.path(), format!("pattern `{p}` matches no tensor of the file")));
    }
    let selected = |name: &str| patterns.iter().any(|p| name_matches(p, name));

    let mut report = LoadReport::default();
    let mut values = Vec::new();
    for (name, current, _) in store.iter() {
        if !selected(name) {
            report.unselected.push(name.to_string());
        } else if !file.contains(name) {
            report.missing.push(name.to_string());
        } else {
            let stored = file.shape(name)?;
            if stored == *current.shape() {
                values.push((name.to_string(), file.tensor(name, current.device())?));
            } else if on_mismatch == OnShapeMismatch::Skip {
                report.skipped.push(SkippedTensor {
                    name: name.to_string(),
                    file: stored,
                    model: current.shape().clone(),
                });
            } else {
                return Err(Error::format(
                    file.path(),
                    format!("tensor `{name}` has shape {stored} in the file but {} in the model", current.shape()),
                ));
            }
        }
    }
    report.unused = file_names.into_iter().filter(|n| selected(n) && !store.contains(n)).map(String::from).collect();
    for (name, value) in values {
        store.set(&name, value)?;
        report.loaded.push(name);
    }
    Ok(report)
}

/// What [`copy_branch`] did.
#[derive(Clone, Debug)]
pub struct BranchCopy {
    pub from: Task,
    pub to: Task,
    /// `(source, destination)` of every block tensor copied (weights, biases, batch-norm
    /// shifts and moving averages).
    pub blocks: Vec<(String, String)>,
    /// The FC: copied, or kept because its shape differs.
    pub fc: FcCopy,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FcCopy {
    /// `(source, destination)` of each FC tensor.
    Copied(Vec<(String, String)>),
    /// The first FC tensor whose shapes differ; the destination FC kept its values.
    ShapeMismatch { from: String, from_shape: Shape, to: String, to_shape: Shape },
}

impl fmt::Display for BranchCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "branch {} → {}: {} block tensors copied", self.from.name(), self.to.name(), self.blocks.len())?;
        match &self.fc {
            FcCopy::Copied(t) => write!(f, ", FC copied ({} tensors)", t.len()),
            FcCopy::ShapeMismatch { from, from_shape, to, to_shape } => {
                write!(f, ", FC kept (`{from}` is {from_shape}, `{to}` is {to_shape})")
            }
        }
    }
}

/// A branch's tensor names, each keyed by what follows its scope.
struct BranchTensors {
    /// Block tensors, keyed by the name after the block prefix.
    blocks: BTreeMap<String, String>,
    /// FC tensors, keyed by the name after the logits scope.
    fc: BTreeMap<String, String>,
}

fn branch_tensors(net: &MultiTaskNet, task: Task) -> Result<BranchTensors> {
    let (prefix, logits) = Branch::scopes(task);
    let mut specs = Vec::new();
    net.branches[task.index()].declare(&mut specs);
    let mut out = BranchTensors { blocks: BTreeMap::new(), fc: BTreeMap::new() };
    for s in specs {
        if let Some(rest) = s.name.strip_prefix(logits).and_then(|r| r.strip_prefix('/')) {
            out.fc.insert(rest.to_string(), s.name.clone());
        } else if let Some(rest) = s.name.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) {
            out.blocks.insert(rest.to_string(), s.name.clone());
        } else {
            return Err(Error::Parameter {
                name: s.name,
                reason: format!("outside the scopes of branch {}", task.name()),
            });
        }
    }
    Ok(out)
}

/// Pairs every tensor of the destination with the source tensor under the same relative
/// name, as `(source, destination)`; a tensor without a counterpart is an error.
fn pair(from: &BTreeMap<String, String>, to: &BTreeMap<String, String>) -> Result<Vec<(String, String)>> {
    if let Some(name) = from.iter().find(|(r, _)| !to.contains_key(*r)).map(|(_, n)| n) {
        return Err(Error::Parameter { name: name.clone(), reason: "no counterpart in the destination branch".into() });
    }
    to.iter()
        .map(|(rest, dst)| match from.get(rest) {
            Some(src) => Ok((src.clone(), dst.clone())),
            None => Err(Error::Parameter { name: dst.clone(), reason: "no counterpart in the source branch".into() }),
        })
        .collect()
}

/// The first pair whose tensors differ in shape, with both shapes.
fn first_mismatch(store: &ParamStore, pairs: &[(String, String)]) -> Result<Option<(String, Shape, String, Shape)>> {
    for (src, dst) in pairs {
        let (a, b) = (store.get(src)?.shape(), store.get(dst)?.shape());
        if a != b {
            return Ok(Some((src.clone(), a.clone(), dst.clone(), b.clone())));
        }
    }
    Ok(None)
}

/// Copies branch `from`'s weights into branch `to`: every tensor of its blocks (their
/// shapes must match) and the FC when its shapes match (reported either way). The copies
/// share storage with the source until the optimizer's first in-place update copies them.
pub fn copy_branch(net: &MultiTaskNet, store: &mut ParamStore, from: Task, to: Task) -> Result<BranchCopy> {
    if from == to {
        return Err(Error::invalid("branch copy", format!("source and destination are both {}", from.name())));
    }
    let (source, destination) = (branch_tensors(net, from)?, branch_tensors(net, to)?);
    let blocks = pair(&source.blocks, &destination.blocks)?;
    let fc = pair(&source.fc, &destination.fc)?;
    if let Some((src, a, dst, b)) = first_mismatch(store, &blocks)? {
        return Err(Error::Parameter { name: dst, reason: format!("shape {b} cannot take `{src}` of shape {a}") });
    }
    let fc = match first_mismatch(store, &fc)? {
        Some((from, from_shape, to, to_shape)) => FcCopy::ShapeMismatch { from, from_shape, to, to_shape },
        None => FcCopy::Copied(fc),
    };
    let copied = match &fc {
        FcCopy::Copied(pairs) => blocks.iter().chain(pairs).collect::<Vec<_>>(),
        FcCopy::ShapeMismatch { .. } => blocks.iter().collect(),
    };
    for (src, dst) in copied {
        let value = store.get(src)?.clone();
        store.set(dst, value)?;
    }
    Ok(BranchCopy { from, to, blocks, fc })
}

/// The paper's warm start of the identification branches: branches 2 (photo) and 3
/// (caricature) start from branch 1 (verification).
pub fn init_id_branches_from_verification(net: &MultiTaskNet, store: &mut ParamStore) -> Result<[BranchCopy; 2]> {
    Ok([
        copy_branch(net, store, Task::Verification, Task::PhotoId)?,
        copy_branch(net, store, Task::Verification, Task::CaricatureId)?,
    ])
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn wildcards_match_any_run_of_characters() {
        assert!(name_matches("InceptionResnetV1/*", "InceptionResnetV1/Conv2d_1a_3x3/weights"));
        assert!(!name_matches("InceptionResnetV1/*", "InceptionResnetV1_photo/Block8/Conv2d_1x1/weights"));
        assert!(name_matches("*/BatchNorm/*", "InceptionResnetV1/Conv2d_1a_3x3/BatchNorm/beta"));
        assert!(name_matches("Logits_*/weights", "Logits_photo/weights"));
        assert!(!name_matches("Logits_*/weights", "Logits_photo/biases"));
        assert!(name_matches("a*b*c", "aXbYbZc"));
        assert!(!name_matches("a*b*c", "aXbYcZ"));
        assert!(name_matches("exact", "exact"));
        assert!(!name_matches("exact", "exact/more"));
        assert!(name_matches("*", ""));
        assert!(!name_matches("", "x"));
    }
}
