//! The tape and the variables recorded on it.

use super::Gradients;
use crate::backend::Device;
use crate::error::{Error, Result};
use crate::tensor::{Shape, Tensor};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

type NodeId = usize;

/// Maps the gradient of an op's output to the gradients of its inputs. The flags say
/// which inputs need one; an input whose flag is false may get `None`.
pub type BackwardFn = Box<dyn Fn(&Tensor, &[bool]) -> Result<Vec<Option<Tensor>>>>;

struct Record {
    op: &'static str,
    inputs: Vec<Option<NodeId>>,
    output: NodeId,
    backward: BackwardFn,
}

#[derive(Default)]
struct TapeInner {
    records: Vec<Record>,
    leaves: Vec<(NodeId, String)>,
    nodes: usize,
}

/// A recording of one forward pass. Cloning shares the recording.
#[derive(Clone, Default)]
pub struct Tape(Rc<RefCell<TapeInner>>);

impl Tape {
    pub fn new() -> Tape {
        Tape::default()
    }

    fn new_node(&self) -> NodeId {
        let mut inner = self.0.borrow_mut();
        inner.nodes += 1;
        inner.nodes - 1
    }

    /// A named leaf whose gradient a backward pass can return (a parameter, or an input
    /// a test differentiates).
    pub fn leaf(&self, name: impl Into<String>, value: Tensor) -> Var {
        let node = self.new_node();
        self.0.borrow_mut().leaves.push((node, name.into()));
        Var { value, node: Some((self.clone(), node)) }
    }

    /// Number of recorded ops.
    pub fn len(&self) -> usize {
        self.0.borrow().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn same(&self, other: &Tape) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

/// A tensor, and where it sits on a tape when it was computed from recorded variables.
#[derive(Clone)]
pub struct Var {
    value: Tensor,
    node: Option<(Tape, NodeId)>,
}

impl Var {
    /// A value no gradient flows into.
    pub fn constant(value: Tensor) -> Var {
        Var { value, node: None }
    }

    /// Records `op` with `inputs` and `output`. When no input is on a tape, nothing is
    /// recorded and `backward` is dropped unused.
    pub fn record(
        op: &'static str,
        inputs: &[&Var],
        output: Tensor,
        backward: impl Fn(&Tensor, &[bool]) -> Result<Vec<Option<Tensor>>> + 'static,
    ) -> Result<Var> {
        let Some(tape) = inputs.iter().find_map(|v| v.node.as_ref().map(|(t, _)| t.clone())) else {
            return Ok(Var::constant(output));
        };
        let mut ids = Vec::with_capacity(inputs.len());
        for v in inputs {
            match &v.node {
                Some((t, id)) if t.same(&tape) => ids.push(Some(*id)),
                Some(_) => {
                    return Err(Error::invalid(op, "inputs were recorded on two different tapes"));
                }
                None => ids.push(None),
            }
        }
        let output_id = tape.new_node();
        tape.0.borrow_mut().records.push(Record { op, inputs: ids, output: output_id, backward: Box::new(backward) });
        Ok(Var { value: output, node: Some((tape, output_id)) })
    }

    pub fn value(&self) -> &Tensor {
        &self.value
    }

    pub fn shape(&self) -> &Shape {
        self.value.shape()
    }

    pub fn dims(&self) -> &[usize] {
        self.value.dims()
    }

    pub fn device(&self) -> &Device {
        self.value.device()
    }

    /// Whether gradients can flow from this value to a leaf.
    pub fn is_recorded(&self) -> bool {
        self.node.is_some()
    }

    /// Stop-gradient: the same value, cut from the tape.
    pub fn detach(&self) -> Var {
        Var::constant(self.value.clone())
    }

    /// Gradients of this one-element value with respect to every named leaf.
    pub fn backward(&self) -> Result<Gradients> {
        self.backward_for(|_| true)
    }

    /// Gradients of this one-element value with respect to the named leaves `wanted`
    /// accepts. Only ops on a path from such a leaf run their backward.
    pub fn backward_for(&self, wanted: impl Fn(&str) -> bool) -> Result<Gradients> {
        if self.value.len() != 1 {
            return Err(Error::InvalidShape {
                op: "backward",
                shape: self.shape().clone(),
                reason: "the loss must have exactly one element".into(),
            });
        }
        let Some((tape, loss_id)) = &self.node else {
            return Ok(Gradients::default());
        };
        let inner = tape.0.borrow();
        let mut needs = vec![false; inner.nodes];
        for (id, name) in &inner.leaves {
            needs[*id] = wanted(name);
        }
        for r in &inner.records {
            needs[r.output] = r.inputs.iter().any(|i| i.is_some_and(|i| needs[i]));
        }

        // Each node's gradients from its consumers, in arrival order, added once all have
        // arrived (when the node's own backward runs, or at the end for a leaf).
        let mut grads: HashMap<NodeId, Vec<Tensor>> = HashMap::new();
        grads.insert(*loss_id, vec![Tensor::full(1.0, self.shape().clone(), self.device())?]);
        for r in inner.records.iter().rev() {
            if !needs[r.output] {
                continue;
            }
            let Some(dy) = grads.remove(&r.output) else { continue };
            let dy = sum(dy)?;
            let flags: Vec<bool> = r.inputs.iter().map(|i| i.is_some_and(|i| needs[i])).collect();
            let dxs = (r.backward)(&dy, &flags)?;
            if dxs.len() != r.inputs.len() {
                return Err(Error::Backend {
                    op: r.op,
                    device: dy.device().name(),
                    msg: format!("backward gave {} gradients for {} inputs", dxs.len(), r.inputs.len()),
                });
            }
            for ((input, flag), dx) in r.inputs.iter().zip(&flags).zip(dxs) {
                let (Some(id), true, Some(dx)) = (input, flag, dx) else { continue };
                grads.entry(*id).or_default().push(dx);
            }
        }

        let mut out = Gradients::default();
        for (id, name) in &inner.leaves {
            if needs[*id] {
                if let Some(g) = grads.remove(id) {
                    out.insert(name.clone(), sum(g)?);
                }
            }
        }
        Ok(out)
    }
}

/// The sum of a node's gradients, added left to right in arrival order (one pass).
fn sum(mut parts: Vec<Tensor>) -> Result<Tensor> {
    if parts.len() == 1 {
        return Ok(parts.remove(0));
    }
    let first = &parts[0];
    let storages: Vec<_> = parts.iter().map(Tensor::storage).collect();
    let total = first.device().backend().sum_all(&storages)?;
    Ok(Tensor::from_storage(total, first.shape().clone(), first.device()))
}
