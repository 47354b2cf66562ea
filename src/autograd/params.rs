//! Named parameters and buffers, each in one group.

use super::{Tape, Var};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::fmt;

/// Which objective trains a tensor. The paper trains the network θ on the weighted task
/// loss and the weight module ψ on its own objective; buffers (batch-norm moving
/// averages, class centers) are updated by rule, never by gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ParamGroup {
    Network,
    WeightModule,
    Buffers,
}

impl ParamGroup {
    pub fn is_trainable(self) -> bool {
        self != ParamGroup::Buffers
    }
}

impl fmt::Display for ParamGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParamGroup::Network => "network",
            ParamGroup::WeightModule => "weight-module",
            ParamGroup::Buffers => "buffers",
        })
    }
}

#[derive(Clone)]
struct Entry {
    value: Tensor,
    group: ParamGroup,
}

/// Every named tensor of a model, in name order.
#[derive(Clone, Default)]
pub struct ParamStore {
    entries: BTreeMap<String, Entry>,
}

impl ParamStore {
    pub fn new() -> ParamStore {
        ParamStore::default()
    }

    pub fn insert(&mut self, name: impl Into<String>, value: Tensor, group: ParamGroup) -> Result<()> {
        let name = name.into();
        if self.entries.contains_key(&name) {
            return Err(Error::Parameter { name, reason: "defined twice".into() });
        }
        self.entries.insert(name, Entry { value, group });
        Ok(())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.entries.get(name).map(|e| &e.value).ok_or_else(|| Error::UnknownParameter { name: name.into() })
    }

    pub fn group(&self, name: &str) -> Result<ParamGroup> {
        self.entries.get(name).map(|e| e.group).ok_or_else(|| Error::UnknownParameter { name: name.into() })
    }

    /// The tensor itself, for an in-place update.
    pub fn get_mut(&mut self, name: &str) -> Result<&mut Tensor> {
        self.entries.get_mut(name).map(|e| &mut e.value).ok_or_else(|| Error::UnknownParameter { name: name.into() })
    }

    /// The tensors of `names` (in name order, as a `Gradients` lists them) at once, for a
    /// group's in-place update.
    pub fn get_many_mut(&mut self, names: &[&str]) -> Result<Vec<&mut Tensor>> {
        let mut wanted = names.iter().peekable();
        let mut found = Vec::with_capacity(names.len());
        for (name, e) in self.entries.iter_mut() {
            if wanted.peek().is_some_and(|w| **w == name.as_str()) {
                wanted.next();
                found.push(&mut e.value);
            }
        }
        match wanted.next() {
            Some(missing) => Err(Error::UnknownParameter { name: missing.to_string() }),
            None => Ok(found),
        }
    }

    /// Replaces a tensor's value; the shape must not change.
    pub fn set(&mut self, name: &str, value: Tensor) -> Result<()> {
        let entry = self.entries.get_mut(name).ok_or_else(|| Error::UnknownParameter { name: name.into() })?;
        if entry.value.shape() != value.shape() {
            return Err(Error::Parameter {
                name: name.into(),
                reason: format!("shape {} cannot be replaced by {}", entry.value.shape(), value.shape()),
            });
        }
        entry.value = value;
        Ok(())
    }

    /// The tensor as a variable: a named leaf on `tape` when it is trainable and a tape is
    /// given, a constant otherwise.
    pub fn var(&self, tape: Option<&Tape>, name: &str) -> Result<Var> {
        let entry = self.entries.get(name).ok_or_else(|| Error::UnknownParameter { name: name.into() })?;
        Ok(match tape {
            Some(t) if entry.group.is_trainable() => t.leaf(name, entry.value.clone()),
            _ => Var::constant(entry.value.clone()),
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor, ParamGroup)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), &e.value, e.group))
    }

    /// A filter for [`Var::backward_for`]: the names of this store in `group`.
    pub fn in_group(&self, group: ParamGroup) -> impl Fn(&str) -> bool + '_ {
        move |name| self.entries.get(name).is_some_and(|e| e.group == group)
    }

    pub fn names_in(&self, group: ParamGroup) -> Vec<String> {
        self.iter().filter(|(_, _, g)| *g == group).map(|(n, _, _)| n.to_string()).collect()
    }

    /// Number of scalars in the group.
    pub fn count(&self, group: ParamGroup) -> usize {
        self.iter().filter(|(_, _, g)| *g == group).map(|(_, t, _)| t.len()).sum()
    }

    /// Number of scalars in every trainable group together.
    pub fn trainable_count(&self) -> usize {
        self.iter().filter(|(_, _, g)| g.is_trainable()).map(|(_, t, _)| t.len()).sum()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
