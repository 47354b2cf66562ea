//! Gradients of one backward pass, by leaf name.

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::BTreeMap;

#[derive(Default, Clone, Debug)]
pub struct Gradients {
    by_name: BTreeMap<String, Tensor>,
}

impl Gradients {
    pub fn insert(&mut self, name: String, grad: Tensor) {
        self.by_name.insert(name, grad);
    }

    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.by_name.get(name)
    }

    /// The gradient of `name`, or an error naming it when the loss does not depend on it.
    pub fn require(&self, name: &str) -> Result<&Tensor> {
        self.get(name)
            .ok_or_else(|| Error::Parameter { name: name.into(), reason: "no gradient reached this leaf".into() })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.by_name.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}
